"""The one-style generators of earlier style benchmark records (fast neural style, single-image) on
grey versions of their pairs' photos: the photo's luminance in every channel, stylized by the same
checkpoint through ``stylize`` and measured as the benchmark measures (against the grey photo).

Two of the four held-out photos are grey (camera, coins) and every tuned photo is in colour, so the
tuned pairs alone cannot show how a candidate does on grey photos; this shows it on the tuned pairs.

    python benchmarks/style_grey_photos.py benchmarks/results/style_benchmark_tuned_fn_len2_a.json --tag tuned_fn_len2_a

Reads each record's work folder (its inputs and checkpoints), so it runs where the records were made.
Writes benchmarks/results/style_grey_photos_TAG.json: per pair, the record's row for the colour photo
and the measures on the grey one.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import harness
import style_pairs
import torch
from style_benchmark import FLAT_IMAGE_GRAM, measure, meets_bounds, recorded_image, run_child, run_folder, style_tensor
from torchvision.transforms.v2 import functional as TF

from gan_lightning.common.images import load_image, pil_to_tensor, save_image_grid

ONE_STYLE_MODES = ("single", "fast_neural")


def grey_row(work: Path, row: dict, style_size: int, threads: int) -> dict:
    """The measures of ``row``'s checkpoint on the grey version of its photo."""
    name = style_pairs.pair_name(row["photo"], row["style"])
    photo = recorded_image(work, row, "photo")
    grey = TF.rgb_to_grayscale(photo, num_output_channels=3)  # the weights RandomGrayscale trains with
    inputs, out = work / "grey_inputs" / name, work / "grey_outputs" / row["mode"] / name
    inputs.mkdir(parents=True, exist_ok=True)
    save_image_grid(grey, inputs / "photo.png", nrow=1)
    mode, trained_on = row["trained_as"].split(":", 1)
    checkpoint = run_folder(work, mode, trained_on) / "checkpoints" / "last.ckpt"
    command = ["stylize", "--input", str(inputs / "photo.png"), "--out", str(out), "--overwrite", "--device", "cpu", "--ckpt", str(checkpoint)]
    seconds = run_child(command, threads, work / "logs" / f"stylize_grey_{mode}_{name}.log")
    grey_input = pil_to_tensor(load_image(inputs / "photo.png"))[None]  # as stylize read it: 8-bit
    output = pil_to_tensor(load_image(out / "photo.png"))[None]
    measured = measure(output, grey_input, style_tensor(row["style"], style_size))
    return measured | {"apply_cpu_s": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("records", nargs="+", type=Path, help="style_benchmark_TAG.json files")
    parser.add_argument("--tag", required=True, help="names the results file")
    parser.add_argument("--threads", type=int, default=1, help="threads of each stylize child (default 1)")
    args = parser.parse_args()
    pairs = []
    for record_path in args.records:
        record = json.loads(record_path.read_text())
        work = Path(record["settings"]["work"])
        for row in record["pairs"]:
            if row["mode"] not in ONE_STYLE_MODES:
                continue
            grey = grey_row(work, row, record["settings"]["style_size"], args.threads)
            pairs.append({"record": record_path.name, "mode": row["mode"], "photo": row["photo"], "style": row["style"], "split": row["split"],
                          "colour_photo": {key: row[key] for key in ("gram", "gram_photo", "gram_ratio", "structure", "outlines", "colour")}, "grey_photo": grey})  # fmt: skip
            print(f"{row['mode']} {row['photo']} x {row['style']}: colour photo Gram {row['gram_ratio']:.2f}x, structure {row['structure']:.2f}; "
                  f"grey photo Gram {grey['gram_ratio']:.2f}x (photo's {grey['gram_photo']:.2f}), structure {grey['structure']:.2f}", flush=True)  # fmt: skip
    summary = {}
    for which in ("colour_photo", "grey_photo"):
        rows = [p[which] for p in pairs]
        summary[which] = {
            "meeting_both_bounds": f"{sum(meets_bounds(r) for r in rows)}/{len(rows)}",
            "and_nearer_than_a_flat_image": sum(meets_bounds(r) and r["gram"] < FLAT_IMAGE_GRAM for r in rows),
            "gram_ratio_median": round(statistics.median(r["gram_ratio"] for r in rows), 3),
            "structure_median": round(statistics.median(r["structure"] for r in rows), 3),
        }
        print(f"{which.replace('_', ' ')}: {summary[which]['meeting_both_bounds']} meet both bounds ({summary[which]['and_nearer_than_a_flat_image']} nearer than a flat image), median Gram {summary[which]['gram_ratio_median']}x, structure {summary[which]['structure_median']}")
    out = harness.RESULTS / f"style_grey_photos_{args.tag}.json"
    command = "python benchmarks/style_grey_photos.py " + " ".join(sys.argv[1:])
    harness.write_json(out, {"command": command, "machine": f"{harness.cpu_name()}, load {harness.load_average()} at the end", "summary": summary, "pairs": pairs}, indent=1)
    print(f"wrote {out}")


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
