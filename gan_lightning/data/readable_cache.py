"""The image folder's corrupt-file check, done once per file: whether each file could be read is
remembered with its size and modification time, so a restart (a requeued job on a million files)
opens only the files that are new or changed since the last check (the folder's one walk gives
each file's size and modification time)."""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path

from gan_lightning.common.images import ImageFile, is_readable_image

CACHE_ENV = "GAN_LIGHTNING_CACHE"  # where checks are remembered; default ~/.cache/gan_lightning
_VERSION = 2


def cache_root() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gan_lightning"


def cache_file(root: str | os.PathLike) -> Path:
    """The remembered checks of one folder, named by its resolved path."""
    resolved = str(Path(root).expanduser().resolve())
    return cache_root() / "readable" / f"{hashlib.sha256(resolved.encode()).hexdigest()[:24]}.json"


def unreadable_files(files: list[ImageFile], root: str | os.PathLike) -> list[str]:
    """The locations of the files of ``files`` (``scan_images(root)``) that are empty, truncated or
    not images. A file whose size and modification time match the remembered check is not opened again."""
    path = cache_file(root)
    names = [file.name for file in files]
    sizes = [file.size for file in files]
    mtimes = [file.mtime_ns for file in files]
    known = _read(path)
    if known["names"] == names and known["sizes"] == sizes and known["mtimes"] == mtimes:
        unreadable = set(known["unreadable"])  # an unchanged folder (a restart): three list compares
    else:
        remembered = dict(zip(known["names"], zip(known["sizes"], known["mtimes"])))
        was_unreadable = set(known["unreadable"])
        unreadable = set()
        for file in files:
            if remembered.get(file.name) == (file.size, file.mtime_ns):
                readable = file.name not in was_unreadable
            else:
                readable = is_readable_image(Path(file.location))
            if not readable:
                unreadable.add(file.name)
        _write(path, {"names": names, "sizes": sizes, "mtimes": mtimes, "unreadable": sorted(unreadable)})
    return [file.location for file in files if file.name in unreadable] if unreadable else []


def _read(path: Path) -> dict[str, list]:
    # Columns, not an object per file: a million entries parse in a fraction of the time.
    empty: dict[str, list] = {"names": [], "sizes": [], "mtimes": [], "unreadable": []}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return empty
    if not isinstance(data, dict) or data.get("version") != _VERSION or not all(isinstance(data.get(key), list) for key in empty):
        return empty
    if not len(data["names"]) == len(data["sizes"]) == len(data["mtimes"]):
        return empty
    return {key: data[key] for key in empty}


def _write(path: Path, columns: dict[str, list]) -> None:
    # Written beside and renamed into place: processes starting together (DDP ranks) never read half a file.
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(json.dumps({"version": _VERSION, **columns}, separators=(",", ":")))
        os.replace(temporary, path)
    except OSError as error:  # a read-only home must not stop training: the check just runs again next time
        warnings.warn(f"could not remember the image check in {str(path)!r} ({error}); set {CACHE_ENV} to a writable folder", stacklevel=3)
        try:
            temporary.unlink(missing_ok=True)
        except OSError:
            pass
