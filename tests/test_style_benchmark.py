"""The style benchmark's summary: by mode and split, bounds counted per pair, each training's CPU
time counted once however many pairs it served (the benchmark itself takes hours: not run here)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import style_benchmark
import style_pairs
import torch


def row(mode, split, gram_ratio, structure, trained_as, train_cpu_s, gram_photo=1.0):
    return {"mode": mode, "split": split, "gram": gram_ratio * gram_photo, "gram_ratio": gram_ratio, "structure": structure, "colour": 0.1, "colour_photo": 0.2,
            "trained_as": trained_as, "train_cpu_s": train_cpu_s, "apply_cpu_s": 3.0}  # fmt: skip


def test_summary_counts_bounds_per_pair_and_each_training_once():
    rows = [
        row("fast_neural", "tuned", 0.3, 0.9, "fast_neural:cells", 100.0),
        row("fast_neural", "tuned", 0.6, 0.9, "fast_neural:cells", 100.0),  # the same model, another photo
        row("fast_neural", "tuned", 0.2, 0.3, "fast_neural:grass_ink", 50.0),  # texture, but structure lost
        row("fast_neural", "held_out", 0.4, 0.8, "fast_neural:mosaic", 70.0),
    ]
    summary = {(s["mode"], s["split"]): s for s in style_benchmark.summarise(rows)}
    tuned, held_out = summary["fast_neural", "tuned"], summary["fast_neural", "held_out"]
    assert (tuned["pairs"], tuned["meets_bounds"], tuned["train_cpu_s"]) == (3, 1, 150.0)
    assert tuned["gram_ratio"] == 0.3 and tuned["identity_l1"] is None
    assert (held_out["pairs"], held_out["meets_bounds"], held_out["train_cpu_s"]) == (1, 1, 70.0)


def test_a_pair_whose_photo_is_far_from_the_style_is_not_textured_by_the_ratio_alone():
    # Photo at 4x a flat image's distance: 0.4x the photo's is 1.6, farther than a flat grey image.
    rows = [row("single", "held_out", 0.4, 0.9, "single:a", 1.0, gram_photo=4.0), row("single", "held_out", 0.2, 0.9, "single:b", 1.0, gram_photo=4.0)]
    (summary,) = style_benchmark.summarise(rows)
    assert (summary["meets_bounds"], summary["meets_bounds_below_flat"]) == (2, 1)
    assert "| 2/2 (1) |" in style_benchmark.summary_table([summary])


def test_a_candidate_setting_reaches_every_training_after_the_presets_own(tmp_path, monkeypatch):
    commands = []
    monkeypatch.setattr(style_benchmark, "run_child", lambda command, threads, log: commands.append(command) or 1.0)
    args = style_benchmark.argparse.Namespace(train_fraction=0.5, fit_args="--model.init_args.generator.residual false", threads=1)
    style_benchmark.train("fast_neural", tmp_path, tmp_path / "style.png", None, args, "cells")
    command = commands[0]
    assert command[command.index("--data.init_args.crops_per_epoch") + 1] == "200"
    assert command[-2:] == ["--model.init_args.generator.residual", "false"]  # last: it overrides the config


def test_remeasure_adds_a_new_measure_to_an_earlier_record_from_its_outputs(tmp_path, monkeypatch):
    from gan_lightning.common.images import save_image_grid

    monkeypatch.setattr(style_benchmark.harness, "write_json", lambda path, data, indent=None: path.write_text(style_benchmark.json.dumps(data)))
    photo = style_benchmark.square_photo("coins", 64)
    blob = style_benchmark.TF.gaussian_blur(photo, 17, 4.0)  # the light and dark areas kept, the outlines gone
    for name, output in (("kept", photo), ("blob", blob)):
        folder = tmp_path / "work" / "outputs" / name / "coins__hatch"
        folder.mkdir(parents=True)
        save_image_grid(output, folder / "photo.png", nrow=1)
    rows = [row(name, "held_out", 1.0, 0.5, f"{name}:x", 10.0) | {"photo": "coins", "style": "hatch"} for name in ("kept", "blob")]
    settings = {"work": str(tmp_path / "work"), "size": 64, "style_size": 64, "train_fraction": 1.0, "optimize_steps": 1, "threads": 1, "fit_args": "", "tag": "t"}
    record = tmp_path / "style_benchmark_t.json"
    record.write_text(style_benchmark.json.dumps({"command": "earlier", "settings": settings, "pairs": rows}))
    style_benchmark.remeasure(record)
    kept, blob = style_benchmark.json.loads(record.read_text())["pairs"]
    assert kept["outlines"] > 0.99 and blob["outlines"] < 0.5 < blob["structure"]  # structure alone would keep the blob
    assert kept["train_cpu_s"] == 10.0 and "outlines (median)" in (tmp_path / "style_benchmark_t.md").read_text()


def test_the_grey_training_photos_are_no_benchmark_photo_and_no_styles_source():
    """They may join a preset's content only because no benchmark pair, held-out or tuned, shows them."""
    import numpy as np

    from gan_lightning.data.example_photos import _STYLES, GREY_PHOTOS, example_photo

    sources = {source for source, _, _ in _STYLES.values()}
    assert not set(GREY_PHOTOS) & (set(style_pairs.PHOTOS) | set(style_pairs._PHOTOS.values()) | sources)
    thumb = lambda image: np.asarray(image.convert("L").resize((32, 32)), np.float32)  # noqa: E731
    benchmark = [thumb(style_pairs.photo(name)) for name in style_pairs.PHOTOS]
    for name in GREY_PHOTOS:  # not the same picture under another name either
        assert min(np.abs(thumb(example_photo(name)) - other).mean() for other in benchmark) > 10, name


def test_the_recolour_baseline_takes_the_styles_channel_statistics_and_keeps_every_shape():
    photo = style_benchmark.square_photo("coins", 64) * 0.5  # inside the range after the move: no clipping
    style = torch.rand(1, 3, 40, 56) * 0.4 + 0.1
    out = style_benchmark.recolour(photo, style)
    torch.testing.assert_close(out.mean((2, 3)), style.mean((2, 3)))
    torch.testing.assert_close(out.std((2, 3)), style.std((2, 3)))
    assert style_benchmark.measure(out, photo, style)["structure"] > 0.999  # light and dark where they were


def test_pairs_are_named_from_every_split_the_fresh_one_included():
    import argparse

    args = argparse.Namespace(pairs="hopper__stipple,astronaut__cells,camera__mosaic", split="tuned", limit=0)
    assert [(p.name, p.split) for p in style_benchmark.chosen_pairs(args)] == [
        ("hopper__stipple", "fresh"), ("astronaut__cells", "tuned"), ("camera__mosaic", "held_out"),
    ]  # fmt: skip
