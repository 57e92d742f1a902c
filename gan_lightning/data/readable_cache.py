"""The image folder's corrupt-file check, done once per file: whether each file could be read is
remembered with its size and modification time, so a restart (a requeued job on a million files)
opens only the files that are new or changed since the last check, and stats the rest."""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path

from gan_lightning.images import is_readable_image

CACHE_ENV = "GAN_LIGHTNING_CACHE"  # where checks are remembered; default ~/.cache/gan_lightning
_VERSION = 1


def cache_root() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gan_lightning"


def cache_file(root: str | os.PathLike) -> Path:
    """The remembered checks of one folder, named by its resolved path."""
    resolved = str(Path(root).expanduser().resolve())
    return cache_root() / "readable" / f"{hashlib.sha256(resolved.encode()).hexdigest()[:24]}.json"


def unreadable_files(files: list[Path], root: str | os.PathLike) -> list[Path]:
    """The files of ``files`` (all under ``root``) that are empty, truncated or not images. A file
    whose size and modification time match the remembered check is not opened again."""
    base = Path(root).expanduser()
    path = cache_file(root)
    known = _read(path)
    checked: dict[str, list] = {}
    bad = []
    for file in files:
        stat = file.stat()
        name = file.relative_to(base).as_posix()
        entry = known.get(name)
        if entry is not None and entry[0] == stat.st_size and entry[1] == stat.st_mtime_ns:
            readable = bool(entry[2])
        else:
            readable = is_readable_image(file)
        checked[name] = [stat.st_size, stat.st_mtime_ns, readable]
        if not readable:
            bad.append(file)
    if checked != known:
        _write(path, checked)
    return bad


def _read(path: Path) -> dict[str, list]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data.get("files", {}) if isinstance(data, dict) and data.get("version") == _VERSION else {}


def _write(path: Path, files: dict[str, list]) -> None:
    # Written beside and renamed into place: processes starting together (DDP ranks) never read half a file.
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(json.dumps({"version": _VERSION, "files": files}, separators=(",", ":")))
        os.replace(temporary, path)
    except OSError as error:  # a read-only home must not stop training: the check just runs again next time
        warnings.warn(f"could not remember the image check in {str(path)!r} ({error}); set {CACHE_ENV} to a writable folder", stacklevel=3)
        try:
            temporary.unlink(missing_ok=True)
        except OSError:
            pass
