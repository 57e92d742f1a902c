"""The collapse detector's structure measure on the validation crops that trainings actually saw.

For every run under the given folders (``FOLDER/runs/RUN/`` with ``version_0/config.yaml``, its
TensorBoard events and ``checkpoints/last.ckpt``, as ``benchmarks/style_benchmark.py`` writes them),
rebuilds the run's fixed validation crops from its saved data options (the data modules seed them
themselves) and computes on them, with the run's final generator, the structure measures: the
per-crop mean edge correlation (the detector's measure before crops were weighted), the detector's
weighted one (``evaluation/texture.py``: ``weighted_edge_correlation`` with ``MIN_EDGE_STD``), the
other candidates compared, and each crop's correlation and content edge standard deviation.
``logged_matches`` says which measure equals the last ``val/structure`` the run logged (the check
that the crops and the generator are the training's).

    OMP_NUM_THREADS=1 python benchmarks/style_collapse_crops.py /work/runs/single_retina /work/runs/fn_full_held --tag NAME

``--reproduce DIR`` first trains, into ``DIR/runs/``, the collapses the slow tests reproduce
(``tests/training/test_style_collapse_reproduction.py``, ``tests/training/test_fast_neural_collapse.py``:
the same data, options and seed) with their fixed counterparts, so that they are measured the same way.
Writes benchmarks/results/style_collapse_crops_TAG.json (its table: style_collapse_crops.md).
"""

from __future__ import annotations

import argparse
import importlib
import json
from pathlib import Path

import harness
import torch
import yaml
from lightning.pytorch import Trainer, seed_everything
from lightning.pytorch.loggers import TensorBoardLogger
from style_benchmark import input_folder, output_folder
from torchvision.transforms.v2 import functional as TF

from gan_lightning.common.images import from_uint8, load_image
from gan_lightning.evaluation.texture import (
    blurred_grey_correlation,
    edge_correlation,
    weighted_edge_correlation,
)
from gan_lightning.training.callbacks.style_collapse import (
    MIN_EDGE_STD,
    STRUCTURE_BOUND,
)
from gan_lightning.training.models.style_transfer import StyleTransfer

# The collapses reproduced by the slow tests (tests/training/test_style_collapse_reproduction.py,
# tests/training/test_fast_neural_collapse.py) and by benchmarks/style_collapse.py (results/style_collapse.md),
# with their fixed counterparts: (run name, data module, data options, presets, model overrides).
SINGLE = {"example_photo": "astronaut", "example_style": "cells", "resolution": 64, "load_size": 128, "max_zoom": 1.5, "crops_per_epoch": 400, "batch_size": 4}
CHELSEA = {**SINGLE, "example_photo": "chelsea", "example_style": "grass_ink"}
FAST = {"example_photos": ["astronaut", "chelsea", "rocket"], "example_styles": ["gravel_rust"], "resolution": 64, "load_size": 128, "crops_per_epoch": 400, "batch_size": 4}
SINGLE_PRESETS = ("style_transfer.yaml", "style_transfer_single_cut.yaml")  # the single-image preset of that time
FAST_PRESETS = ("style_transfer_fast_neural.yaml",)
REPRODUCTIONS = [
    ("single_astronaut__cells_style10", "SingleImagePairDataModule", SINGLE, SINGLE_PRESETS, {"lambda_style": 10.0}),
    ("single_astronaut__cells_shipped", "SingleImagePairDataModule", SINGLE, SINGLE_PRESETS, {}),
    ("fast_neural_gravel_rust_not_residual", "PhotoStyleDataModule", FAST, FAST_PRESETS, {"generator": {"residual": False}}),
    ("fast_neural_gravel_rust_shipped", "PhotoStyleDataModule", FAST, FAST_PRESETS, {}),
    ("single_chelsea__grass_ink_style10", "SingleImagePairDataModule", CHELSEA, SINGLE_PRESETS, {"lambda_style": 10.0}),
    ("single_chelsea__grass_ink_shipped", "SingleImagePairDataModule", CHELSEA, SINGLE_PRESETS, {}),
    ("single_astronaut__cells_style10_nogan", "SingleImagePairDataModule", SINGLE, SINGLE_PRESETS, {"lambda_style": 10.0, "lambda_gan": 0.0}),
    ("single_astronaut__cells_style10_lr2e-4", "SingleImagePairDataModule", SINGLE, SINGLE_PRESETS, {"lambda_style": 10.0, "lr": 2e-4}),
    ("single_astronaut__cells_style10_absolute", "SingleImagePairDataModule", SINGLE, SINGLE_PRESETS, {"lambda_style": 10.0, "perceptual_normalisation": "absolute"}),
    ("single_astronaut__cells_nostyle", "SingleImagePairDataModule", SINGLE, SINGLE_PRESETS, {"lambda_style": 0.0}),
]


def reproduce(folder: Path) -> None:
    """Trains the reproductions as the slow tests do, with a TensorBoard logger and a saved config."""
    for name, data_class, data_options, presets, overrides in REPRODUCTIONS:
        run = folder / "runs" / name
        if (run / "checkpoints" / "last.ckpt").is_file():
            continue
        options: dict = {}
        for preset in presets:
            options.update(yaml.safe_load((harness.REPO / "configs" / preset).read_text())["model"]["init_args"])
        options.pop("fid_features")
        options.update(fid_features="shapes", fid_num_samples=4, lr_constant_epochs=1, lr_decay_epochs=0)
        options.update({k: {**options[k], **v} if isinstance(v, dict) else v for k, v in overrides.items()})
        seed_everything(0)
        data = getattr(importlib.import_module("gan_lightning.data"), data_class)(**data_options, num_workers=0)
        model = StyleTransfer(resolution=64, **options)
        logger = TensorBoardLogger(run, name="", version=0)
        trainer = Trainer(
            accelerator="cpu", logger=logger, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
            max_epochs=1, limit_val_batches=1, num_sanity_val_steps=0, default_root_dir=run,
        )
        trainer.fit(model, data)
        trainer.save_checkpoint(run / "checkpoints" / "last.ckpt")
        config = {"data": {"class_path": f"gan_lightning.data.{data_class}", "init_args": {**data_options, "num_workers": 0}}}
        (run / "version_0" / "config.yaml").write_text(yaml.safe_dump(config))


def logged_structure(run: Path) -> tuple[int, float] | None:
    """(step, value) of the last ``val/structure`` in the run's TensorBoard events."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = sorted((run / "version_0").glob("events.out.tfevents.*"))
    if not events:
        return None
    accumulator = EventAccumulator(str(events[-1]))
    accumulator.Reload()
    if "val/structure" not in accumulator.Tags()["scalars"]:
        return None
    last = accumulator.Scalars("val/structure")[-1]
    return last.step, last.value


def validation_crops(config: dict, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``count`` validation (content, style) crops of the run's data module (the model's logged set)."""
    module_path, _, class_name = config["data"]["class_path"].rpartition(".")
    options = {**config["data"]["init_args"], "num_workers": 0, "persistent_workers": False}
    data = getattr(importlib.import_module(module_path), class_name)(**options)
    data.setup("fit")
    items = [data.val_set[i] for i in range(count)]
    return torch.stack([c for c, _ in items]), torch.stack([s for _, s in items])


def crop_statistics(images: torch.Tensor, content: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per crop, of the luminances' Sobel magnitudes (output a, content b): covariance and variances."""
    from kornia.filters import sobel

    weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    a, b = (sobel((t * weights).sum(1, keepdim=True)).flatten(1) for t in (images, content))
    a, b = a - a.mean(1, keepdim=True), b - b.mean(1, keepdim=True)
    return {"cov": (a * b).mean(1), "var_a": a.square().mean(1), "var_b": b.square().mean(1), "a": a, "b": b}


def candidates(stats: dict[str, torch.Tensor]) -> dict[str, float]:
    """The measures compared: the correlation per crop averaged with weights (content edge variance,
    its square root), crops below a tenth of the batch's mean edge variance left out, one correlation
    over all crops' pixels, and the edge gain (regression slope of output on content edge
    magnitudes, pooled over crops: Σcov / Σvar_b), which added texture independent of the content
    leaves unchanged in expectation."""
    r = stats["cov"] / (stats["var_a"] * stats["var_b"]).sqrt().clamp(min=1e-12)
    var_b = stats["var_b"]
    kept = var_b >= 0.1 * var_b.mean()
    a, b = stats["a"].flatten(), stats["b"].flatten()
    return {
        "var_weighted": round(float((var_b * r).sum() / var_b.sum()), 4),
        "std_weighted": round(float((var_b.sqrt() * r).sum() / var_b.sqrt().sum()), 4),
        "excluded_below_0.1": round(float(r[kept].mean()), 4),
        "pooled": round(float(torch.corrcoef(torch.stack([a, b]))[0, 1]), 4),
        "edge_gain": round(float(stats["cov"].sum() / var_b.sum()), 4),
    }


def final_checkpoint(run: Path) -> Path | None:
    """``last.ckpt``, else the newest checkpoint (a run whose last one was removed; the logged final
    ``val/structure`` tells whether it is the final model)."""
    files = sorted((run / "checkpoints").glob("*.ckpt"), key=lambda f: (f.name == "last.ckpt", f.stat().st_mtime))
    return files[-1] if files else None


def whole_image(run: Path) -> dict[str, float]:
    """For a single-image run of ``style_benchmark.py``: edge and blurred-grey correlation of the
    benchmark's stylized photo (``outputs/single/PAIR/photo.png``) with its input photo."""
    pair = run.name.removeprefix("single_")
    output, photo = output_folder(run.parents[1], "single", pair) / "photo.png", input_folder(run.parents[1], pair) / "photo.png"
    if not output.is_file() or not photo.is_file():
        return {}
    out, ref = (from_uint8(TF.pil_to_tensor(load_image(str(f), 3)))[None] for f in (output, photo))
    ref = TF.resize(ref, list(out.shape[-2:]), antialias=True)
    return {"whole_image_edges": round(edge_correlation(out, ref), 4), "whole_image_blurred_grey": round(blurred_grey_correlation(out, ref), 4)}


def measure_run(run: Path) -> dict:
    config = yaml.safe_load((run / "version_0" / "config.yaml").read_text())
    model = StyleTransfer.load_from_checkpoint(final_checkpoint(run), map_location="cpu")
    content, _ = validation_crops(config, model.hparams.num_logged_images)
    model.eval()
    with torch.no_grad():
        stylized = model.generator(content)
    logged = logged_structure(run)
    stats = crop_statistics(stylized, content)
    weighted = weighted_edge_correlation(stylized, content, MIN_EDGE_STD)
    row = {
        "run": f"{run.parents[1].name}/{run.name}",
        "checkpoint": final_checkpoint(run).name,
        "logged_step": None if logged is None else logged[0] + 1,
        "logged_structure": None if logged is None else round(logged[1], 4),
        "mean_structure": round(edge_correlation(stylized, content), 4),
        "weighted_structure": None if weighted is None else round(weighted, 4),
        "per_crop": [round(edge_correlation(stylized[i : i + 1], content[i : i + 1]), 3) for i in range(len(content))],
        "content_edge_std": [round(float(v.sqrt()), 4) for v in stats["var_b"]],
        "candidates": candidates(stats),
        **whole_image(run),
    }
    if logged is not None:
        row["logged_matches"] = [k for k in ("mean_structure", "weighted_structure") if row[k] is not None and abs(row[k] - logged[1]) < 1e-3]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="+", type=Path, help="benchmark work folders, each with runs/RUN/ inside")
    parser.add_argument("--reproduce", type=Path, default=None, help="train the slow tests' reproductions into this folder first (and measure them)")
    parser.add_argument("--tag", required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    folders = list(args.folders)
    if args.reproduce is not None:
        reproduce(args.reproduce)
        folders.append(args.reproduce)
    rows = []
    for folder in folders:
        for run in sorted((folder / "runs").iterdir()):
            if final_checkpoint(run) is None or not (run / "version_0" / "config.yaml").is_file():
                print(f"skipped {run}: no checkpoint or no version_0/config.yaml")
                continue
            try:
                row = measure_run(run)
            except (TypeError, ValueError) as error:  # a run with an option this checkout lacks
                print(f"skipped {run}: its checkpoint does not load here ({str(error).splitlines()[-1][:200]})")
                continue
            print(json.dumps(row), flush=True)
            rows.append(row)
    record = {"command": harness.command_line(), "structure_bound": STRUCTURE_BOUND, "min_edge_std": MIN_EDGE_STD, "runs": rows}
    harness.write_json(harness.RESULTS / f"style_collapse_crops_{args.tag}.json", record)


if __name__ == "__main__":
    main()
