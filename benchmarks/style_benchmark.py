"""The style benchmark: each style-transfer mode as shipped, on the pairs of ``style_pairs.py``,
measured against the style and the photo, tuned and held-out pairs reported apart.

    python benchmarks/style_benchmark.py --split all --tag full                          # the full run
    python benchmarks/style_benchmark.py --split fresh --tag fresh                       # a chosen candidate, confirmed
    python benchmarks/style_benchmark.py --pairs astronaut__cells,camera__mosaic --modes optimize,single \\
        --size 128 --train-fraction 0.1 --optimize-steps 50 --tag small                 # a small check

Modes, each run through the CLI in a child process (so its CPU time is the child's user + system):
- ``single``: ``configs/style_transfer_single.yaml`` trained on the pair (the photo and the style).
- ``fast_neural``: ``configs/style_transfer_fast_neural.yaml`` trained once per style on its shipped
  photos (astronaut, chelsea, rocket), applied to every photo of that style.
- ``adain``: ``configs/style_transfer_adain.yaml`` trained once on its shipped photos and styles, then
  ``stylize --style`` with each pair's style (held-out styles are never seen in its training).
- ``optimize``: ``stylize --method optimize`` (Gatys et al. 2016), no training.
- ``recolour``: a baseline with no texture at all, computed here: each channel of the photo moved to
  the style's mean and standard deviation (Reinhard et al. 2001, in RGB), clipped to the range. What a
  mode scores above it, it owes to more than the style's colours.
CUT itself (``configs/style_transfer.yaml``) learns a style from a set of style images; on one pair
it is the single-image preset, so it has no row of its own.

Pictures: the photo is centre-cropped square at ``--size`` (the presets' output scale, 256 px) and
stylized at that size; the style image is resized to ``--style-size`` on its short side (the scale
the presets train the style at). ``--train-fraction`` shortens every training by the same factor
(fewer crops per epoch, the epochs and learning-rate schedule as shipped).

Per pair: ``gram`` distance to the style and the photo's own (``gram_photo``; ``gram_ratio`` =
gram / gram_photo), measured in ``evaluation/texture.py``'s network (random filters, seed 12345,
width 16: independent of the presets' random_wide seed 0 and of VGG; a flat colour excites its
filters, so a recolouring moves it); ``texture`` and ``texture_ratio``, the same in a network that
sees no flat colour (``texture_gram_distance``: texture only); ``structure``, the blurred-grey
correlation with the photo, and its SSIM; ``outlines``, the edge correlation with the photo (soft
blobs that keep the light and dark areas score high on ``structure`` and low here; a photo with
faint outlines, as retina's, scores low here whatever the output); ``colour`` distance to the style (and the photo's);
for the one-style trained modes ``identity_l1``, the style image through the generator against
itself (large when training collapsed); CPU seconds of training and of applying. Writes
benchmarks/results/style_benchmark_TAG.json (every pair and the summary), style_benchmark_TAG.md
(the summary table) and a picture grid docs/style_benchmark_TAG.png (rows: pairs; columns: photo,
style, each mode).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import harness
import style_pairs
import torch
import yaml
from torchvision.transforms.v2 import functional as TF

from gan_lightning.cli.config_files import included_configs
from gan_lightning.common.images import load_image, pil_to_tensor, save_image_grid
from gan_lightning.evaluation.texture import blurred_grey_correlation, blurred_grey_ssim, colour_distance, edge_correlation, gram_distance, texture_gram_distance

MODES: tuple[str, ...] = ("single", "fast_neural", "adain", "optimize", "recolour")
CONFIGS = {
    "single": "configs/style_transfer_single.yaml",
    "fast_neural": "configs/style_transfer_fast_neural.yaml",
    "adain": "configs/style_transfer_adain.yaml",
}
STRUCTURE_BOUND = 0.5  # blurred-grey correlation a result must keep: the photo's layout still reads
GRAM_RATIO_BOUND = 0.5  # the bar: Gram distance to the style at most half the photo's
# The distance of an image without features: the measure's filters are zero-mean, so any flat grey
# image scores exactly 1 (benchmarks/style_brightness_probe.py; a flat colour excites them). Where the
# photo's own distance is above 2, a flat grey image meets the ratio bar; a pair counts as textured
# only below this.
FLAT_IMAGE_GRAM = 1.0


def run_child(command: list[str], threads: int, log: Path) -> float:
    """Runs ``python -m gan_lightning COMMAND``; its CPU seconds (user + system). Stops on failure,
    naming the log."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    env = harness.child_environment(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), WANDB_MODE="offline")
    with log.open("w") as out:
        done = subprocess.run([sys.executable, "-m", "gan_lightning", *command], stdout=out, stderr=subprocess.STDOUT, env=env, cwd=harness.REPO, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command[:3])} failed (exit {done.returncode}); see {log}")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def shipped_value(mode: str, section: str, key: str) -> object:
    """``section.init_args.KEY`` of ``mode``'s preset as shipped (its config and the files it includes,
    the later overriding); a dotted KEY reaches into a group (``generator.width``)."""
    value = None
    for path, _ in included_configs(harness.REPO / CONFIGS[mode]):
        found = ((yaml.safe_load(path.read_text()) or {}).get(section) or {}).get("init_args") or {}
        for part in key.split("."):
            found = found.get(part) if isinstance(found, dict) else None
        value = value if found is None else found
    if value is None:
        raise SystemExit(f"{CONFIGS[mode]} sets no {section}.init_args.{key}")
    return value


def shipped_data_value(mode: str, key: str) -> int:
    """A data option of ``mode``'s preset as shipped."""
    return int(shipped_value(mode, "data", key))


def run_folder(work: Path, mode: str, trained_on: str) -> Path:
    """Where a run trains ``mode`` (its checkpoints under ``checkpoints/``): ``trained_on`` is the pair's
    name for the single-image mode, the style's for fast neural style, "shipped" for AdaIN."""
    return work / "runs" / f"{mode}_{trained_on}"


def train(mode: str, work: Path, style_file: Path | None, photo_file: Path | None, args: argparse.Namespace, name: str) -> tuple[Path, float]:
    """(checkpoint, CPU seconds) of ``mode``'s preset as shipped, on the given style (and photo)."""
    root = run_folder(work, mode, name)
    crops = max(shipped_data_value(mode, "batch_size"), round(shipped_data_value(mode, "crops_per_epoch") * args.train_fraction))
    command = ["fit", "--config", CONFIGS[mode], "--trainer.default_root_dir", str(root), "--trainer.enable_progress_bar", "false",
               "--data.init_args.crops_per_epoch", str(crops)]  # fmt: skip
    if mode == "single":
        command += ["--data.init_args.example_photo", "null", "--data.init_args.example_style", "null",
                    "--data.init_args.content", str(photo_file), "--data.init_args.style", str(style_file)]  # fmt: skip
    elif mode == "fast_neural":
        command += ["--data.init_args.style", str(style_file)]
    command += shlex.split(args.fit_args)  # a candidate setting to compare with the preset as shipped
    seconds = run_child(command, args.threads, work / "logs" / f"fit_{mode}_{name}.log")
    return root / "checkpoints" / "last.ckpt", seconds


def input_folder(work: Path, pair_name: str) -> Path:
    """Where a run keeps a pair's inputs: ``photo.png`` and, for one-style generators, ``style.png``."""
    return work / "inputs" / pair_name


def output_folder(work: Path, mode: str, pair_name: str) -> Path:
    """Where a run keeps ``mode``'s stylized inputs of a pair (``photo.png``, ``style.png``)."""
    return work / "outputs" / mode / pair_name


def recolour(photo: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """The photo with each channel's mean and standard deviation moved to the style's: its colours, no texture."""
    mean, std = photo.mean((2, 3), keepdim=True), photo.std((2, 3), keepdim=True).clamp_min(1e-6)
    return ((photo - mean) / std * style.std((2, 3), keepdim=True) + style.mean((2, 3), keepdim=True)).clamp(-1, 1)


def apply(mode: str, work: Path, pair: style_pairs.Pair, checkpoint: Path | None, args: argparse.Namespace) -> tuple[Path, float]:
    """(folder of outputs, CPU seconds): the pair's photo (and, for one-style generators, the style
    image itself for the identity check) stylized by ``mode``."""
    inputs = input_folder(work, pair.name)
    out = output_folder(work, mode, pair.name)
    if mode == "recolour":  # in this process: no child, no training
        started = time.process_time()
        photo = pil_to_tensor(load_image(inputs / "photo.png"))[None]
        out.mkdir(parents=True, exist_ok=True)
        save_image_grid(recolour(photo, pil_to_tensor(load_image(work / "styles" / f"{pair.style}.png"))[None]), out / "photo.png", nrow=1)
        return out, time.process_time() - started
    if mode not in ("single", "fast_neural"):
        inputs = inputs / "photo.png"  # the identity check is for one-style generators only
    style = str(work / "styles" / f"{pair.style}.png")
    command = ["stylize", "--input", str(inputs), "--out", str(out), "--overwrite", "--device", "cpu"]
    if mode == "optimize":
        command += ["--method", "optimize", "--style", style, "--style-size", str(args.style_size), "--size", str(args.size),
                    "--steps", str(args.optimize_steps), "--features", args.features]  # fmt: skip
    else:
        command += ["--ckpt", str(checkpoint)]
        if mode == "adain":
            command += ["--style", style, "--style-size", str(args.style_size)]
    seconds = run_child(command, args.threads, work / "logs" / f"stylize_{mode}_{pair.name}.log")
    return out, seconds


def square_photo(name: str, size: int) -> torch.Tensor:
    image = pil_to_tensor(style_pairs.photo(name))[None]
    return TF.center_crop(TF.resize(image, size, antialias=True), size)


def style_tensor(name: str, size: int) -> torch.Tensor:
    return TF.resize(pil_to_tensor(style_pairs.style(name))[None], size, antialias=True)


def measure(output: torch.Tensor, photo: torch.Tensor, style: torch.Tensor) -> dict[str, float]:
    measured = {
        "gram": gram_distance(output, style),
        "gram_photo": gram_distance(photo, style),
        "texture": texture_gram_distance(output, style),
        "texture_photo": texture_gram_distance(photo, style),
        "structure": blurred_grey_correlation(output, photo),
        "ssim": blurred_grey_ssim(output, photo),
        "outlines": edge_correlation(output, photo),
        "colour": colour_distance(output, style),
        "colour_photo": colour_distance(photo, style),
    }
    return measured | {"gram_ratio": measured["gram"] / measured["gram_photo"], "texture_ratio": measured["texture"] / measured["texture_photo"]}


def recorded_image(work: Path, row: dict, which: str) -> torch.Tensor:
    """One image of a record's pair from its work folder, (1, 3, H, W) in [-1, 1]: ``which`` is
    "photo" or "style" (as that run stylized them) or "output" (the mode's stylized photo)."""
    name = style_pairs.pair_name(row["photo"], row["style"])
    path = output_folder(work, row["mode"], name) / "photo.png" if which == "output" else input_folder(work, name) / f"{which}.png"
    return pil_to_tensor(load_image(path))[None]


def remeasure(record_path: Path) -> None:
    """Measures each pair of an earlier record again from the outputs in its work folder (the photo
    and style as that run stylized them), keeping its CPU times, and rewrites the record's json and md."""
    record = json.loads(record_path.read_text())
    work = Path(record["settings"]["work"])
    size, style_size = record["settings"]["size"], record["settings"]["style_size"]
    for row in record["pairs"]:
        output = recorded_image(work, row, "output")
        row.update(measure(output, square_photo(row["photo"], size), style_tensor(row["style"], style_size)))
    record["summary"] = summarise(record["pairs"])
    record["remeasured"] = f"python benchmarks/style_benchmark.py --remeasure {record_path}"
    harness.write_json(record_path, record, indent=1)
    args = argparse.Namespace(**{"fit_args": ""} | record["settings"])  # records from before --fit-args lack it
    table = markdown(record["summary"], args, record["command"])
    record_path.with_suffix(".md").write_text(table)
    print(table)


def meets_bounds(row: dict) -> bool:
    """Whether a measured pair meets both bounds: Gram distance at most GRAM_RATIO_BOUND of the photo's, structure kept."""
    return row["gram_ratio"] <= GRAM_RATIO_BOUND and row["structure"] >= STRUCTURE_BOUND


def summarise(rows: list[dict]) -> list[dict]:
    """Per mode and split: medians of the measures, how many pairs meet the bounds, CPU seconds."""
    summary = []
    for mode in dict.fromkeys(r["mode"] for r in rows):
        for split in ("tuned", "held_out", "fresh"):
            group = [r for r in rows if r["mode"] == mode and r["split"] == split]
            if not group:
                continue
            def median(key: str, group: list[dict] = group) -> float:
                return statistics.median(r[key] for r in group)

            meets = [r for r in group if meets_bounds(r)]
            summary.append({
                "mode": mode, "split": split, "pairs": len(group), "gram_ratio": median("gram_ratio"), "structure": median("structure"),
                "outlines": median("outlines") if all("outlines" in r for r in group) else None,  # records from before it lack it
                "texture_ratio": median("texture_ratio") if all("texture_ratio" in r for r in group) else None,
                "colour": median("colour"), "colour_photo": median("colour_photo"), "meets_bounds": len(meets),
                "meets_bounds_below_flat": sum(r["gram"] < FLAT_IMAGE_GRAM for r in meets),
                "identity_l1": statistics.median(r["identity_l1"] for r in group) if "identity_l1" in group[0] else None,
                "train_cpu_s": sum({r["trained_as"]: r["train_cpu_s"] for r in group}.values()),  # each training once
                "apply_cpu_s": median("apply_cpu_s"),
            })  # fmt: skip
    return summary


def summary_table(summary: list[dict]) -> str:
    head = ("| mode | split | pairs | Gram / photo's (median) | texture Gram / photo's, colour-blind (median) | structure (median) | outlines (median) | colour: output (photo) | "
            f"pairs meeting both bounds (and nearer the style than a flat image) | identity L1 | training CPU s (all its trainings) | apply CPU s per pair |\n|{'---|' * 12}\n")  # fmt: skip
    lines = []
    for s in summary:
        identity = "-" if s["identity_l1"] is None else f"{s['identity_l1']:.3f}"
        outlines = "-" if s.get("outlines") is None else f"{s['outlines']:.2f}"
        texture = "-" if s.get("texture_ratio") is None else f"{s['texture_ratio']:.2f}"
        lines.append(f"| {s['mode']} | {s['split']} | {s['pairs']} | {s['gram_ratio']:.2f} | {texture} | {s['structure']:.2f} | {outlines} | "
                     f"{s['colour']:.3f} ({s['colour_photo']:.3f}) | {s['meets_bounds']}/{s['pairs']} ({s['meets_bounds_below_flat']}) | {identity} | "
                     f"{s['train_cpu_s']:.0f} | {s['apply_cpu_s']:.0f} |")  # fmt: skip
    return head + "\n".join(lines) + "\n"


def markdown(summary: list[dict], args: argparse.Namespace, command: str) -> str:
    return (f"# Style benchmark ({args.tag})\n\n`{command}`\n\n{args.size} px outputs, styles at {args.style_size} px short side, "
            f"trainings at {args.train_fraction:g} of the shipped length, optimisation {args.optimize_steps} steps, "
            f"{args.threads} thread(s) per child{f'; fit options {args.fit_args!r}' if args.fit_args else ''}. Bounds: Gram distance <= {GRAM_RATIO_BOUND} x the photo's, "
            f"structure >= {STRUCTURE_BOUND}.\n\n" + summary_table(summary))  # fmt: skip


def chosen_pairs(args: argparse.Namespace) -> list[style_pairs.Pair]:
    if args.pairs:
        by_name = {p.name: p for split in style_pairs.SPLITS.values() for p in split}  # the fresh pairs too
        unknown = [n for n in args.pairs.split(",") if n not in by_name]
        if unknown:
            raise SystemExit(f"unknown pair(s) {', '.join(unknown)}; allowed: PHOTO__STYLE of benchmarks/style_pairs.py, e.g. {style_pairs.PAIRS[0].name}")
        return [by_name[n] for n in args.pairs.split(",")]
    pairs = list(style_pairs.SPLITS[args.split])
    return pairs[: args.limit] if args.limit else pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--modes", default=",".join(MODES), help=f"comma-separated, of {', '.join(MODES)}")
    parser.add_argument("--split", choices=tuple(style_pairs.SPLITS), default="all", help="which pairs (default all)")
    parser.add_argument("--pairs", default=None, help="comma-separated PHOTO__STYLE names instead of --split")
    parser.add_argument("--limit", type=int, default=0, help="first N pairs of the split only (0: all)")
    parser.add_argument("--size", type=int, default=256, help="side of the square photos and outputs (default 256, the presets' output scale)")
    parser.add_argument("--style-size", type=int, default=256, help="short side of the style images (default 256, the presets' training scale)")
    parser.add_argument("--train-fraction", type=float, default=1.0, help="length of each training relative to the shipped preset (default 1)")
    parser.add_argument("--optimize-steps", type=int, default=300, help="steps of --method optimize (default 300, its default)")
    parser.add_argument("--features", default="auto", help="feature network of --method optimize (default auto, as stylize)")
    parser.add_argument("--fit-args", default="", help="extra fit options for every training, e.g. '--model.init_args.lambda_content 1' (a candidate against the preset as shipped; default none)")
    parser.add_argument("--summarise", nargs="+", type=Path, default=None, metavar="RECORD",
                        help="print the summary table of earlier records (style_benchmark_TAG.json files, their pairs together) and run nothing")
    parser.add_argument("--remeasure", nargs="+", type=Path, default=None, metavar="RECORD",
                        help="measure earlier records' outputs again from their work folders (a measure added since) and rewrite the records; run nothing")
    parser.add_argument("--threads", type=int, default=2, help="OMP threads of each child run")
    parser.add_argument("--tag", default="run", help="names the results: benchmarks/results/style_benchmark_TAG.json/.md, docs/style_benchmark_TAG.png")
    parser.add_argument("--work", type=Path, default=None, help="folder for the runs and outputs (default: a temporary one)")
    args = parser.parse_args()
    if args.summarise:
        print(summary_table(summarise([row for record in args.summarise for row in json.loads(record.read_text())["pairs"]])), end="")
        return
    if args.remeasure:
        for record in args.remeasure:
            remeasure(record)
        return
    modes = args.modes.split(",")
    if any(m not in MODES for m in modes):
        raise SystemExit(f"--modes {args.modes!r} invalid; allowed: {', '.join(MODES)}")
    pairs = chosen_pairs(args)
    work = args.work or Path(tempfile.mkdtemp(prefix="style_benchmark_"))
    for folder in ("styles", "styles_native", "photos_native", "logs"):
        (work / folder).mkdir(parents=True, exist_ok=True)
    photos = {name: square_photo(name, args.size) for name in dict.fromkeys(p.photo for p in pairs)}
    styles = {name: style_tensor(name, args.style_size) for name in dict.fromkeys(p.style for p in pairs)}
    for name in styles:
        style_pairs.style(name).save(work / "styles_native" / f"{name}.png")  # what training reads, at its own size
        save_image_grid(styles[name], work / "styles" / f"{name}.png", nrow=1)
    for name in photos:
        style_pairs.photo(name).save(work / "photos_native" / f"{name}.png")
    for pair in pairs:  # the stylize input: the photo, and the style at the output size for the identity check
        inputs = input_folder(work, pair.name)
        inputs.mkdir(parents=True, exist_ok=True)
        save_image_grid(photos[pair.photo], inputs / "photo.png", nrow=1)
        save_image_grid(TF.center_crop(TF.resize(styles[pair.style], args.size, antialias=True), args.size), inputs / "style.png", nrow=1)

    started = time.time()
    rows: list[dict] = []
    trained: dict[tuple[str, str], tuple[Path, float]] = {}
    for mode in modes:
        for pair in pairs:
            key = {"single": pair.name, "fast_neural": pair.style, "adain": "shipped", "optimize": "", "recolour": ""}[mode]
            if mode in CONFIGS and (mode, key) not in trained:
                print(f"[{time.time() - started:.0f}s] training {mode} ({key})", flush=True)
                trained[mode, key] = train(mode, work, work / "styles_native" / f"{pair.style}.png", work / "photos_native" / f"{pair.photo}.png", args, key)
            checkpoint, train_seconds = trained.get((mode, key), (None, 0.0))
            print(f"[{time.time() - started:.0f}s] applying {mode} to {pair.name}", flush=True)
            out, apply_seconds = apply(mode, work, pair, checkpoint, args)
            output = pil_to_tensor(load_image(out / "photo.png"))[None]
            row = {"mode": mode, "photo": pair.photo, "style": pair.style, "split": pair.split, "trained_as": f"{mode}:{key}",
                   **measure(output, photos[pair.photo], styles[pair.style]), "train_cpu_s": train_seconds, "apply_cpu_s": apply_seconds}  # fmt: skip
            if mode in ("single", "fast_neural"):
                identity = pil_to_tensor(load_image(out / "style.png"))[None]
                reference = pil_to_tensor(load_image(input_folder(work, pair.name) / "style.png"))[None]
                row["identity_l1"] = float((identity - reference).abs().mean() / 2)  # in [0, 1] units
            rows.append(row)
            print(f"    gram {row['gram']:.3f} (photo {row['gram_photo']:.3f}), structure {row['structure']:.2f}, texture {row['texture_ratio']:.2f}x, outlines {row['outlines']:.2f}, colour {row['colour']:.3f}, "
                  f"cpu train {train_seconds:.0f}s apply {apply_seconds:.0f}s", flush=True)  # fmt: skip
            rows[-1]["_picture"] = output

    summary = summarise(rows)
    command = "python benchmarks/style_benchmark.py " + " ".join(sys.argv[1:])
    pictures = []
    for pair in pairs:
        pictures += [photos[pair.photo], TF.center_crop(TF.resize(styles[pair.style], args.size, antialias=True), args.size)]
        pictures += [next(r["_picture"] for r in rows if r["mode"] == m and r["photo"] == pair.photo and r["style"] == pair.style) for m in modes]
    grid = harness.REPO / "docs" / f"style_benchmark_{args.tag}.png"
    save_image_grid(torch.cat([TF.resize(p, 128, antialias=True) for p in pictures]), grid, nrow=2 + len(modes))
    for row in rows:
        del row["_picture"]
    record = {"command": command, "machine": f"{harness.cpu_name()}, {os.cpu_count()} cores, load {harness.load_average()} at the end", "settings": vars(args) | {"work": str(work)}, "columns": ["photo", "style", *modes],
              "grid": str(grid.relative_to(harness.REPO)), "pairs": rows, "summary": summary, "wall_s": time.time() - started}  # fmt: skip
    harness.write_json(harness.RESULTS / f"style_benchmark_{args.tag}.json", json.loads(json.dumps(record, default=str)), indent=1)
    table = markdown(summary, args, command)
    (harness.RESULTS / f"style_benchmark_{args.tag}.md").write_text(table)
    print(table)
    print(f"grid: {grid}; records: benchmarks/results/style_benchmark_{args.tag}.json; work folder: {work}")


if __name__ == "__main__":
    os.environ.setdefault("WANDB_MODE", "offline")
    main()
