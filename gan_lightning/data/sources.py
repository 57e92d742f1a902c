"""What ``prepare`` reads: an image folder, an NVlabs ``dataset_tool.py`` zip, or a torchvision set.

A source is a list of image names, their class labels (or none), a hash that tells whether the
source changed, and a picklable ``SourceReader`` that opens one image by name in any process.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from gan_lightning.data.torchvision_sets import _NATIVE_CHANNELS, _make
from gan_lightning.common.errors import UserError
from gan_lightning.common.images import IMAGE_EXTENSIONS, decode_image, load_image, scan_images, to_mode

LABEL_KINDS: tuple[str, ...] = ("dataset.json", "folders", "classes")
TORCHVISION_PREFIX = "torchvision:"
SOURCE_FORMS = "a folder of images, an NVlabs dataset_tool .zip, or torchvision:NAME"


@dataclass(frozen=True)
class SourceReader:
    """Opens one image of a source by name; picklable, so worker processes each open their own."""

    kind: str  # "folder", "zip" or "torchvision"
    location: str  # the folder, the zip file, or the torchvision set's name
    torchvision_root: str = "data"

    def __call__(self, name: str, channels: int) -> Image.Image:
        if self.kind == "folder":
            return load_image(Path(self.location) / name, channels)
        if self.kind == "zip":
            return decode_image(_open_zip(self.location).read(name), name, channels)
        image, _ = _open_torchvision(self.location, self.torchvision_root)[int(name)]
        return to_mode(image, channels)


@dataclass(frozen=True)
class Source:
    reader: SourceReader
    names: list[str]
    labels: list[int] | None  # one class index per name; None: unlabelled
    class_names: list[str] | None  # the class of each index, when the labels are folder names
    source_hash: str  # sha256 over what ``hash_covers`` says
    hash_covers: str


def open_source(source: str, labels: str | None, torchvision_root: str = "data") -> Source:
    """The images and labels ``--source`` and ``--labels`` name; one-line errors for bad values."""
    if labels is not None and labels not in LABEL_KINDS:
        raise UserError(f"--labels {labels!r} is not known; allowed: {', '.join(LABEL_KINDS)} (or leave it out: unlabelled)")
    if source.startswith(TORCHVISION_PREFIX):
        return _torchvision_source(source[len(TORCHVISION_PREFIX) :], labels, torchvision_root)
    path = Path(source).expanduser()
    if path.is_dir():
        return _folder_source(path, labels)
    if path.is_file() and zipfile.is_zipfile(path):
        return _zip_source(path, labels)
    if path.is_file():
        raise UserError(f"--source {source!r} is a file but not a zip archive; allowed: {SOURCE_FORMS}")
    raise UserError(f"--source {source!r} does not exist; allowed: {SOURCE_FORMS}")


# --- the three kinds ----------------------------------------------------------------------------


def _folder_source(root: Path, labels: str | None) -> Source:
    files = scan_images(root)
    names = [file.name for file in files]
    digest = hashlib.sha256()
    for file in files:
        digest.update(f"{file.name}\t{file.size}\t{file.mtime_ns}\n".encode())
    label_list, class_names = None, None
    if labels == "dataset.json":
        meta = root / "dataset.json"
        if not meta.is_file():
            raise UserError(f"--labels dataset.json: no dataset.json in {str(root)!r}; allowed there: --labels folders, or no --labels")
        text = meta.read_bytes()
        digest.update(text)
        label_list = _labels_from_dataset_json(text, names, str(meta))
    elif labels == "folders":
        label_list, class_names = _labels_from_folders(names, str(root))
    elif labels == "classes":
        raise UserError("--labels classes is for torchvision:NAME sources; for a folder use --labels dataset.json or folders")
    return Source(SourceReader("folder", str(root)), names, label_list, class_names, digest.hexdigest(), "names, sizes and modification times of the files (and dataset.json)")


def _zip_source(path: Path, labels: str | None) -> Source:
    try:
        archive = zipfile.ZipFile(path)
        members = archive.infolist()
    except (zipfile.BadZipFile, OSError) as error:
        raise UserError(f"--source {str(path)!r}: cannot read the zip archive ({error})") from None
    images = sorted((m for m in members if not m.is_dir() and Path(m.filename).suffix.lower() in IMAGE_EXTENSIONS), key=lambda m: m.filename)
    if not images:
        raise UserError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in the zip archive {str(path)!r}")
    names = [m.filename for m in images]
    digest = hashlib.sha256()
    for member in sorted(members, key=lambda m: m.filename):  # the CRC-32s zip keeps: content changes show without reading it
        digest.update(f"{member.filename}\t{member.file_size}\t{member.CRC}\n".encode())
    label_list, class_names = None, None
    if labels == "dataset.json":
        if "dataset.json" not in archive.namelist():
            raise UserError(f"--labels dataset.json: the zip {str(path)!r} has no dataset.json; allowed there: --labels folders, or no --labels")
        label_list = _labels_from_dataset_json(archive.read("dataset.json"), names, f"{path}:dataset.json")
    elif labels == "folders":
        label_list, class_names = _labels_from_folders(names, str(path))
    elif labels == "classes":
        raise UserError("--labels classes is for torchvision:NAME sources; for a zip use --labels dataset.json or folders")
    return Source(SourceReader("zip", str(path)), names, label_list, class_names, digest.hexdigest(), "names, sizes and CRC-32s of the zip's members")


def _torchvision_source(name: str, labels: str | None, root: str) -> Source:
    if name not in _NATIVE_CHANNELS:
        raise UserError(f"--source torchvision:{name}: unknown torchvision dataset; allowed: {', '.join('torchvision:' + n for n in _NATIVE_CHANNELS)}")
    dataset = _open_torchvision(name, root)
    label_list = None
    if labels == "classes":
        targets = getattr(dataset, "targets", None)
        if targets is None:
            raise UserError(f"torchvision:{name} has no class labels; leave out --labels")
        label_list = [int(t) for t in targets]
    elif labels is not None:
        raise UserError(f"--labels {labels} is for folders and zips; a torchvision set takes --labels classes (its own classes)")
    digest = hashlib.sha256(name.encode())
    for file in sorted(p for p in Path(root).expanduser().rglob("*") if p.is_file()):
        digest.update(f"{file.relative_to(root).as_posix()}\t{file.stat().st_size}\n".encode())
    names = [str(i) for i in range(len(dataset))]  # type: ignore[arg-type]
    return Source(SourceReader("torchvision", name, root), names, label_list, None, digest.hexdigest(), "the set's name and the names and sizes of the files under its root")


# --- labels -------------------------------------------------------------------------------------


def _labels_from_dataset_json(text: bytes, names: list[str], where: str) -> list[int]:
    """NVlabs' dataset.json: {"labels": [[image name, class index], ...]}."""
    try:
        pairs = json.loads(text)["labels"]
        by_name = {str(name): label for name, label in pairs}
    except (ValueError, KeyError, TypeError):
        raise UserError(f"{where} is not NVlabs' dataset.json ({{\"labels\": [[name, class index], ...]}})") from None
    missing = [name for name in names if name not in by_name]
    if missing:
        raise UserError(f"{len(missing)} image(s) have no label in {where}, first: {missing[0]!r}")
    wrong = next((label for label in by_name.values() if not isinstance(label, int) or isinstance(label, bool) or label < 0), None)
    if wrong is not None:
        raise UserError(f"{where} holds the label {wrong!r}; allowed: class indices (int >= 0), not vectors")
    return [by_name[name] for name in names]


def _labels_from_folders(names: list[str], where: str) -> tuple[list[int], list[str]]:
    """Each image's class is its first folder below the source: cat/1.png -> the class "cat"."""
    loose = next((name for name in names if "/" not in name), None)
    if loose is not None:
        raise UserError(f"--labels folders: {loose!r} in {where!r} is in no class folder; put every image in a folder named by its class")
    classes = sorted({name.split("/", 1)[0] for name in names})
    index = {name: i for i, name in enumerate(classes)}
    return [index[name.split("/", 1)[0]] for name in names], classes


# --- opened once per process --------------------------------------------------------------------

_OPEN: dict[tuple[str, str], object] = {}


def _open_zip(path: str) -> zipfile.ZipFile:
    key = ("zip", f"{path}@{os.getpid()}")  # a forked worker never shares its parent's file position
    if key not in _OPEN:
        _OPEN[key] = zipfile.ZipFile(path)
    return _OPEN[key]  # type: ignore[return-value]


def _open_torchvision(name: str, root: str):
    key = (name, root)
    if key not in _OPEN:
        try:
            _OPEN[key] = _make(name, root, train=True, download=False)
        except RuntimeError as error:  # torchvision: "Dataset not found or corrupted"
            raise UserError(f"--source torchvision:{name}: not found under {root!r} (--torchvision-root; prepare does not download): {error}") from None
    return _OPEN[key]
