"""Start-up of an image-folder run on a large folder: the corrupt-file check before and after it was
remembered (a requeued job on 1M files must start in seconds).

    python benchmarks/data_startup.py                   # 100,000 generated 8x8 PNGs under /tmp
    python benchmarks/data_startup.py --files 2000      # quick check that it runs

- before: ``ImageFolderDataModule.setup`` opening and verifying every file (what every start did;
  here: the first start, which also writes the remembered result).
- after: the next start on the unchanged folder (one stat per file, no file opened).
- after_one_changed: a start after one file was rewritten (only that one is opened again).
- walk_equals_rglob: whether the one-walk listing (os.scandir) gives the files, in the order, that
  the earlier ``sorted(Path.rglob)`` listing gave (checked on the same folder, untimed).
Results go to benchmarks/results/data_startup.json (seconds; the machine's load changes them).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import harness
import numpy as np
from harness import RESULTS
from PIL import Image

from gan_lightning.common.images import list_images
from gan_lightning.data import ImageFolderDataModule


def make_folder(root: Path, count: int) -> None:
    """``count`` tiny PNGs in folders of 1000 (FFHQ's layout); reused when already there."""
    marker = root / f".complete-{count}"
    if marker.exists():
        return
    rng = np.random.default_rng(0)
    for i in range(count):
        folder = root / f"{i // 1000:05d}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(folder / f"img{i:08d}.png")
    marker.write_text("")


def start(root: Path) -> float:
    began = time.perf_counter()
    module = ImageFolderDataModule(root=str(root), resolution=8, num_workers=0)
    module.setup("fit")
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--root", default=None, help="where the folder is generated (default /tmp/gan_lightning_startup_N)")
    parser.add_argument("--out", default=str(RESULTS / "data_startup.json"))
    args = parser.parse_args()
    root = Path(args.root or f"/tmp/gan_lightning_startup_{args.files}")
    print(f"generating {args.files} files under {root} (once)")
    make_folder(root, args.files)
    with tempfile.TemporaryDirectory() as cache:
        os.environ["GAN_LIGHTNING_CACHE"] = cache  # a fresh cache: the first start checks every file
        before = start(root)
        after = start(root)
        changed = next(root.glob("00000/*.png"))
        Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(changed)
        after_one_changed = start(root)
    extensions = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
    rglob = sorted(p for p in root.rglob("*") if p.suffix.lower() in extensions and p.is_file())
    result = {
        "files": args.files,
        "walk_equals_rglob": list_images(root) == rglob and len(rglob) == args.files,
        "before_every_file_opened_s": round(before, 3),
        "after_unchanged_folder_s": round(after, 3),
        "after_one_file_changed_s": round(after_one_changed, 3),
        "cpu_count": os.cpu_count(),
    }
    harness.print_json(result, args.out)


if __name__ == "__main__":
    main()
