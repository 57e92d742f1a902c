"""Where a command writes: never over one of its inputs, never over an existing file unless the user
passes ``--overwrite``, and a clear line before any work when the place cannot be written.

Every output is written under a temporary name beside its target and renamed into place
(``written_file``, ``written_folder``): a write that fails (disk full) leaves no truncated file and
no empty folder, and a rename replaces the name, never the contents of a file another name (a hard
link) still points to.

Every tool checks its ``--out`` here right after reading its inputs, so a bad path fails in a
second instead of after the generation. Folders that ``stylize`` (the command that reads folders
of images) fills get a marker file, so a later run over a parent folder skips those outputs
instead of stylizing them again.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from gan_lightning.common.errors import UserError

OUTPUT_MARKER = ".gan_lightning_output"  # in each folder a command filled; reading an input folder skips them


def add_overwrite_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--overwrite", action="store_true", help="replace files that already exist at --out (never an input)")


def _resolved(path: str | os.PathLike) -> Path:
    """One spelling per file (symbolic links, '..' and '~' resolved), to compare outputs with inputs."""
    return Path(path).expanduser().resolve()


def _file_id(path: str | os.PathLike) -> tuple[int, int] | None:
    """(device, inode) of an existing file: two names with the same one are one file (hard links)."""
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_dev, status.st_ino


def is_same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True when ``a`` and ``b`` name one file: the same path once resolved, or the same device and
    inode (a hard link, which no path comparison sees)."""
    if _resolved(a) == _resolved(b):
        return True
    a_id = _file_id(a)
    return a_id is not None and a_id == _file_id(b)


def _check_writable(folder: Path, flag: str, given: Path) -> None:
    """The nearest existing folder above (or at) ``folder`` must be a folder we can create files in;
    errors name ``given``, the user's value."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise UserError(f"{flag} {str(given)!r} is under {str(existing)!r}, which is a file, not a folder")
    try:  # a real write tells the truth where permission bits do not (root, /proc, read-only mounts)
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".gan_lightning_probe"):
            pass
    except OSError as error:
        raise UserError(f"{flag} {str(given)!r}: cannot write in {str(existing)!r} ({error.strerror or error})") from None


def check_output_file(path: str | os.PathLike, overwrite: bool, inputs: Sequence[str | os.PathLike] = (), flag: str = "--out") -> Path:
    """``path`` as a Path, once it is known to be writable, not an input, and new (or ``overwrite``)."""
    path = Path(path).expanduser()
    for source in inputs:
        if is_same_file(path, source):
            raise UserError(f"{flag} {str(path)!r} is the input {str(source)!r} (the same file); write the result to another file")
    if path.is_dir():
        raise UserError(f"{flag} {str(path)!r} is an existing folder; give a file name")
    if path.exists() and not overwrite:
        raise UserError(f"{flag} {str(path)!r} already exists; pass --overwrite to replace it, or choose another name")
    _check_writable(path.parent, flag, path)
    return path


def check_output_folder(
    folder: str | os.PathLike,
    names: Iterable[str | os.PathLike],
    overwrite: bool,
    inputs: Sequence[str | os.PathLike] = (),
    flag: str = "--out",
) -> Path:
    """``folder`` as a Path, once the files ``names`` (relative to it) are known to be writable, none
    of them an input, and none existing (unless ``overwrite``)."""
    folder = Path(folder).expanduser()
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{flag} {str(folder)!r} is a file; expected a folder")
    targets = [folder / name for name in names]
    sources = {_resolved(source) for source in inputs}
    source_ids = {_file_id(source) for source in inputs} - {None}
    over_inputs = [target for target in targets if _resolved(target) in sources or _file_id(target) in source_ids]
    if over_inputs:
        raise UserError(
            f"{flag} {str(folder)!r} would write over {len(over_inputs)} input file(s), e.g. {str(over_inputs[0])!r}; "
            "choose an output folder that is not the input folder"
        )
    folders = [target for target in targets if target.is_dir()]
    if folders:
        raise UserError(f"{flag} {str(folder)!r}: {str(folders[0])!r} is a folder where an output file would go")
    existing = [target for target in targets if target.exists()]
    if existing and not overwrite:
        raise UserError(
            f"{flag} {str(folder)!r} already holds {len(existing)} of the files to write, e.g. {str(existing[0])!r}; "
            "pass --overwrite to replace them, or choose another folder"
        )
    _check_writable(folder, flag, folder)
    return folder


def check_output(out: str, folder_names: Iterable[str], overwrite: bool, inputs: Sequence[str | os.PathLike] = ()) -> Path:
    """The tools' ``--out`` convention: ``DIR/`` (a trailing slash) is a folder that will receive
    ``folder_names``, anything else one file; checked as ``check_output_folder`` / ``check_output_file``."""
    if out.endswith(("/", "\\")):
        return check_output_folder(out, folder_names, overwrite, inputs)
    return check_output_file(out, overwrite, inputs)


def _temporary_name(target: Path) -> Path:
    # Same folder (a rename within one file system), same suffix (writers pick the format by it), hidden.
    return target.with_name(f".{target.stem}.partial-{os.getpid()}{target.suffix}")


def _write_failed(target: Path, error: OSError) -> UserError:
    return UserError(f"cannot write {str(target)!r}: {error.strerror or error}; nothing was written there")


@contextmanager
def written_file(path: str | os.PathLike) -> Iterator[Path]:
    """The name to write ``path`` under: a temporary file beside it, renamed onto ``path`` when the
    block ends without an error and removed when it fails. A failed write (disk full, permission)
    ends in one line naming ``path``."""
    path = Path(path)
    temporary = _temporary_name(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield temporary
        os.replace(temporary, path)
    except OSError as error:
        raise _write_failed(path, error) from None
    finally:
        temporary.unlink(missing_ok=True)


@contextmanager
def written_folder(folder: str | os.PathLike) -> Iterator[Path]:
    """The folder to fill for ``folder``: a temporary one beside it. When the block ends without an
    error it becomes ``folder`` (renamed), or, when ``folder`` exists, its files are renamed into it
    one by one (other files there stay); when the block fails it is removed and ``folder`` is as it
    was. A failed write ends in one line naming ``folder``."""
    folder = Path(folder)
    temporary = _temporary_name(folder)
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(temporary, ignore_errors=True)  # left by a run that was killed
        temporary.mkdir()
        yield temporary
        if not folder.exists():
            os.replace(temporary, folder)
        else:
            for file in sorted(p for p in temporary.rglob("*") if not p.is_dir()):
                target = folder / file.relative_to(temporary)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(file, target)
    except OSError as error:
        raise _write_failed(folder, error) from None
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


def mark_output_folder(folder: str | os.PathLike) -> None:
    """Creates ``folder`` and marks it as our output (see ``inside_output_folder``)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / OUTPUT_MARKER
    if not marker.exists():
        marker.write_text("Written by gan_lightning; commands reading a folder of images skip this folder.\n")


def inside_output_folder(path: Path, root: Path, out: Path | None = None) -> bool:
    """True when ``path`` is a marker, or lies in a marked output folder (or in ``out``, this run's
    output folder) below ``root``. ``root`` itself may be one: the user named it as the input."""
    if path.name == OUTPUT_MARKER:
        return True
    out = None if out is None else _resolved(out)
    for parent in path.parents:
        if parent == root or root not in parent.parents:
            return False
        if (parent / OUTPUT_MARKER).is_file() or (out is not None and _resolved(parent) == out):
            return True
    return False
