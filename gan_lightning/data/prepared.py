"""Prepared datasets: a source's images decoded, resized and cropped once, stored as uint8 squares
with their class labels in litdata's chunked streaming format, plus ``manifest.json``.

Training then reads raw pixels (no decode, no resize) from local disk or object storage; the image
folder pays PIL's decode and resize for every image at every epoch.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from gan_lightning.data.sources import Source, SourceReader
from gan_lightning.data.transforms import prepared_pixels
from gan_lightning.common.errors import UserError
from gan_lightning.common.outputs import written_file

MANIFEST = "manifest.json"
FORMAT = "gan_lightning.prepared/1"


@dataclass(frozen=True)
class Manifest:
    """What a prepared dataset holds; ``StreamingDataModule`` takes the image shape and classes from it."""

    format: str
    count: int  # images written
    resolution: int
    channels: int
    num_classes: int  # 0: unlabelled
    labels: str | None  # where the labels came from: dataset.json, folders, classes, or None
    class_names: list[str] | None
    transform: str
    source: str
    source_hash: str
    source_hash_covers: str
    skipped: int  # source images that could not be used (unreadable, or the wrong size for --transform none)
    skipped_examples: list[str]

    @classmethod
    def from_json(cls, text: str, where: str) -> "Manifest":
        try:
            data = json.loads(text)
            if data.get("format") != FORMAT:
                raise ValueError
            return cls(**data)
        except (ValueError, TypeError, AttributeError):
            raise UserError(f"{where} is not a manifest written by `python -m gan_lightning prepare` ({FORMAT})") from None


class PrepareItem:
    """One source image -> {"image": uint8 (C, R, R), "label": int}, in litdata's worker processes.
    An image that cannot be used is logged to ``skip_log`` (one file per process) and left out."""

    def __init__(self, reader: SourceReader, resolution: int, channels: int, transform: str, skip_log: str) -> None:
        self.reader = reader
        self.channels = channels
        self.skip_log = skip_log
        self.pixels = prepared_pixels(resolution, transform)
        self._parent = os.getpid()
        self._one_thread = False

    def __call__(self, item: tuple[str, int]) -> dict | None:
        if not self._one_thread and os.getpid() != self._parent:
            # The workers are forked. If the parent had run a parallel torch op, GNU OpenMP's thread
            # pool was copied without its threads, and a worker's first parallel op (a large resize
            # or copy) waits for them forever. One thread per worker never enters OpenMP, and the
            # workers already keep every core busy (torch's DataLoader workers do the same).
            torch.set_num_threads(1)
            self._one_thread = True
        name, label = item
        try:
            image = self.pixels(self.reader(name, self.channels))
        except UserError as error:
            with open(Path(self.skip_log) / f"{os.getpid()}.txt", "a") as log:
                log.write(f"{name}\t{error}\n".replace("\n", " ").rstrip() + "\n")
            return None
        return {"image": image.contiguous(), "label": int(label)}


def prepare_dataset(
    source: Source,
    source_text: str,
    out: str,
    resolution: int,
    channels: int,
    transform: str,
    labels: str | None,
    num_workers: int,
) -> Manifest:
    """Writes the prepared dataset to ``out`` (an empty or new folder) and returns its manifest."""
    from litdata import optimize

    out_path = Path(out).expanduser()
    if out_path.exists() and (not out_path.is_dir() or any(out_path.iterdir())):
        raise UserError(f"--out {out!r} already exists and is not an empty folder; allowed: a new or empty folder (nothing is overwritten)")
    out_path.mkdir(parents=True, exist_ok=True)
    item_labels = source.labels or [0] * len(source.names)
    skip_log = tempfile.mkdtemp(prefix="gan_lightning_prepare_")
    try:
        # litdata narrates each stage (and advertises its cloud) on stdout; its progress bar is on stderr
        with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
            optimize(
                fn=PrepareItem(source.reader, resolution, channels, transform, skip_log),
                inputs=list(zip(source.names, item_labels)),
                output_dir=str(out_path.resolve()),
                num_workers=max(1, num_workers),
                chunk_bytes="64MB",
                reorder_files=False,
                keep_data_ordered=True,  # each worker a fixed slice: the same source gives the same dataset
                start_method="fork" if os.name == "posix" else None,
            )
        skipped = [line.split("\t", 1) for log in sorted(Path(skip_log).glob("*.txt")) for line in log.read_text().splitlines()]
    finally:
        shutil.rmtree(skip_log, ignore_errors=True)
    count = _written_count(out_path)
    if skipped:
        warnings.warn(f"skipped {len(skipped)} source image(s) that cannot be used, first: {skipped[0][1]}", stacklevel=2)
    if count == 0:
        raise UserError(f"none of the {len(source.names)} images of {source_text!r} could be used; first: {skipped[0][1] if skipped else '?'}")
    manifest = Manifest(
        format=FORMAT,
        count=count,
        resolution=resolution,
        channels=channels,
        num_classes=(max(source.labels) + 1) if source.labels else 0,
        labels=labels,
        class_names=source.class_names,
        transform=transform,
        source=source_text,
        source_hash=source.source_hash,
        source_hash_covers=source.hash_covers,
        skipped=len(skipped),
        skipped_examples=sorted(name for name, _ in skipped)[:10],
    )
    with written_file(out_path / MANIFEST) as temporary:
        temporary.write_text(json.dumps(asdict(manifest), indent=2) + "\n")
    return manifest


def _written_count(out_path: Path) -> int:
    if not (out_path / "index.json").exists():  # litdata writes no index when no item was written
        return 0
    index = json.loads((out_path / "index.json").read_text())
    return sum(int(chunk["chunk_size"]) for chunk in index["chunks"])


def check_chunks(folder: Path) -> None:
    """A local prepared dataset's ``index.json`` reads, and each chunk it lists is there, whole (its
    size is the index's): a copy cut short fails here, at start, in one line, not at some batch."""
    index_path = folder / "index.json"
    redo = "copy the prepared folder again, or prepare it again"
    try:
        chunks = json.loads(index_path.read_text())["chunks"]
        sizes = {chunk["filename"]: int(chunk["chunk_bytes"]) for chunk in chunks}
    except (OSError, ValueError, KeyError, TypeError):
        raise UserError(f"{index_path} is missing or not a whole litdata index (truncated?); {redo}") from None
    for name, size in sizes.items():
        chunk = folder / name
        found = chunk.stat().st_size if chunk.is_file() else None
        if found != size:
            state = "is missing" if found is None else f"holds {found} bytes where the index says {size}"
            raise UserError(f"chunk {chunk} {state}; {redo}")


def read_manifest(input_dir: str) -> Manifest:
    """The manifest of a prepared dataset on local disk or object storage (s3://, gs://, ...)."""
    if "://" not in input_dir:
        path = Path(input_dir).expanduser() / MANIFEST
        if not path.is_file():
            raise UserError(f"input_dir {input_dir!r} holds no {MANIFEST}; allowed: a folder written by `python -m gan_lightning prepare`")
        manifest = Manifest.from_json(path.read_text(), str(path))
        check_chunks(path.parent)
        return manifest
    from litdata.streaming.downloader import get_downloader

    with tempfile.TemporaryDirectory() as local:
        target = os.path.join(local, MANIFEST)
        try:
            get_downloader(input_dir, local, []).download_file(f"{input_dir.rstrip('/')}/{MANIFEST}", target)
            text = Path(target).read_text()
        except Exception as error:  # each storage client raises its own types; all mean "cannot read it"
            raise UserError(f"cannot read {input_dir.rstrip('/')}/{MANIFEST}: {error}") from None
    return Manifest.from_json(text, f"{input_dir}/{MANIFEST}")

