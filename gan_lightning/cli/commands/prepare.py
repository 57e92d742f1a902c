"""Prepare a dataset for training at scale: decode, resize and crop every image once and store
uint8 pixels and class labels in litdata's streaming format, with a manifest.json.

    python -m gan_lightning prepare --source FOLDER|data.zip|torchvision:NAME --out DIR --resolution 256 \\
        [--transform center-crop|center-crop-wide|none] [--labels dataset.json|folders|classes] [--workers N]

Train from it with ``--data gan_lightning.data.StreamingDataModule --data.input_dir DIR`` (or the
folder copied to object storage: ``s3://bucket/prefix``).
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import signal
import sys
import unittest.mock
from collections.abc import Iterator

from gan_lightning.data.prepared import prepare_dataset
from gan_lightning.data.sources import LABEL_KINDS, open_source
from gan_lightning.data.transforms import PREPARE_TRANSFORMS
from gan_lightning.common.checks import check_at_least
from gan_lightning.common.errors import UserError


class _OneLineParser(argparse.ArgumentParser):
    """Bad arguments become the CLI's one-line error instead of usage text."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserError(f"{message} (see python -m gan_lightning prepare --help)")


def resolution_value(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise UserError(f"--resolution {text!r} is not a whole number; allowed: an image side in pixels, 4 or more (e.g. 256)") from None
    check_at_least("--resolution", value, 4)
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(prog="python -m gan_lightning prepare", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", required=True, help="a folder of images, an NVlabs dataset_tool .zip, or torchvision:NAME")
    parser.add_argument("--out", required=True, help="a new or empty folder for the prepared dataset")
    parser.add_argument("--resolution", required=True, type=str, help="side of the stored square images, in pixels")
    parser.add_argument("--transform", default="center-crop", help=f"{', '.join(PREPARE_TRANSFORMS)} (default center-crop)")
    parser.add_argument("--labels", default=None, help=f"{', '.join(LABEL_KINDS)}; left out: unlabelled")
    parser.add_argument("--channels", type=int, default=3, choices=(1, 3), help="3 (RGB, default) or 1 (grayscale)")
    parser.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1), help="processes that decode and resize")
    parser.add_argument("--torchvision-root", default="data", help="where a torchvision:NAME set lives (never downloaded here)")
    return parser


@contextlib.contextmanager
def workers_stopped_on_signal(out: str) -> Iterator[None]:
    """SIGTERM or Ctrl-C while preparing: the worker processes are stopped before this process exits
    (by default they would go on writing chunks into ``out`` after it), with one line and the
    exit status of the signal (143, 130)."""

    parent = os.getpid()

    def stop(signum: int, frame) -> None:
        # Forked workers inherit this handler (and litdata's workers have children of their own), so
        # each process stops its children first, then ends.
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the stopping short
        children = multiprocessing.active_children()
        for child in children:
            child.terminate()
        for child in children:
            child.join(timeout=10)
            if child.is_alive():
                child.kill()
                child.join()
        if os.getpid() != parent:
            os._exit(128 + signum)
        name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
        print(f"prepare stopped by {name} (exit {128 + signum}); {out} is incomplete: delete it and prepare again", file=sys.stderr)
        raise SystemExit(128 + signum)

    from litdata.processing.data_processor import DataProcessor

    before = {number: signal.signal(number, stop) for number in (signal.SIGTERM, signal.SIGINT)}
    # litdata sets its own Ctrl-C handler when its workers start: one that exits 0 ("done") without
    # waiting for them
    with unittest.mock.patch.object(DataProcessor, "_signal_handler", lambda processor, signum, frame: stop(signum, frame)):
        try:
            yield
        finally:
            for number, handler in before.items():
                signal.signal(number, handler)


def main(argv: list[str]) -> None:
    options = build_parser().parse_args(argv)
    resolution = resolution_value(options.resolution)
    if options.transform not in PREPARE_TRANSFORMS:
        raise UserError(f"--transform {options.transform!r} is not known; allowed: {', '.join(PREPARE_TRANSFORMS)}")
    check_at_least("--workers", options.workers, 1)
    source = open_source(options.source, options.labels, options.torchvision_root)
    print(f"prepare: {len(source.names)} images from {options.source} -> {options.out} ({resolution} px, {options.transform}, {options.workers} workers)")
    with workers_stopped_on_signal(options.out):
        manifest = prepare_dataset(
            source, options.source, options.out, resolution, options.channels, options.transform, options.labels, options.workers
        )
    classes = f", {manifest.num_classes} classes" if manifest.num_classes else ", unlabelled"
    print(f"prepared {manifest.count} images ({manifest.skipped} skipped{classes}) in {options.out}")
