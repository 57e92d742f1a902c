"""What the ``--config`` files and ``--model`` options of a fit/validate/test/predict command line
stand for, before LightningCLI parses them.

- A ``--config`` value that names no file is a preset: ``stylegan``, ``stylegan_256``, ``fastcut``
  (an overlay), ``overlays/fastcut`` or the checkout's path ``configs/stylegan.yaml`` all name a file
  in the package's configs/ folder, so an installed wheel runs them from any folder.
- Presets compose: a config file may start from others with a top-level ``config:`` key (one path
  or a list, relative to the file), applied in order before the file's own values, exactly as if
  each had been given with its own ``--config`` first. jsonargparse reads a nested ``config:``
  itself, but parses the same file's ``model:``/``data:`` blocks against the values from before the
  nested files, which resets their class's options; so the includes are expanded here instead.
- Class paths and option names of earlier layouts are brought up to date (the checkpoint migration's
  tables), with one line on stderr for each file or option that needed it.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import yaml

from gan_lightning.checkpoints.migration import migrate_class_path, migrate_hparams, renamed_option
from gan_lightning.common.errors import UserError

# The presets ship inside the package (in a checkout, the repository's configs/ is this same folder).
PRESETS = Path(__file__).resolve().parents[1] / "configs"
SHARED_CONFIG = PRESETS / "base" / "trainer.yaml"  # Trainer, loggers and checkpointing of every run
CHECKOUT_PREFIX = "configs/"  # the presets' paths in a checkout, as the docs write them
INCLUDE_KEY = "config"
CLASS_PATH = re.compile(r"\bgan_lightning(?:\.\w+)+")
MODEL_OPTION = re.compile(r"--model\.(?:init_args\.)?(\w+)")


def migrate_class_paths_in(text: str) -> str:
    """``text`` with every class path of an earlier layout replaced by where that class is now."""
    return CLASS_PATH.sub(lambda match: migrate_class_path(match.group(0)), text)


def _is_file(value: str) -> bool:
    try:
        return Path(value).is_file()
    except OSError:  # YAML text given as the value (jsonargparse accepts it): too long for a path
        return False


def preset_files() -> dict[str, Path]:
    """Each preset and overlay by name (its file's stem), in listing order; the shared base is not one."""
    files = sorted(PRESETS.glob("*.yaml")) + sorted(path for path in PRESETS.glob("*/*.yaml") if path.parent.name != "base")
    return {path.stem: path for path in files}


def _looks_like_a_name(value: str) -> bool:
    # YAML text (jsonargparse accepts it as a --config value) has a key, hence a colon or a brace.
    return bool(value) and not any(mark in value for mark in ":{\n")


def preset_path(value: str) -> Path:
    """The packaged file a ``--config`` value that is not a file names (see the module docstring)."""
    relative = value.removeprefix(CHECKOUT_PREFIX).removesuffix(".yaml")
    presets = preset_files()
    if relative in presets:
        return presets[relative]
    path = PRESETS / f"{relative}.yaml"
    if path.is_file() and path.parent.parent == PRESETS:
        return path
    raise UserError(f"--config {value!r}: no such file or preset; allowed: a YAML file or a preset name ({', '.join(presets)}; gan-lightning presets)")


def included_configs(path: Path, including: tuple[Path, ...] = ()) -> list[tuple[Path, bool]]:
    """``path`` and every file it includes, includes first; with each, whether it has a ``config:`` key."""
    values = yaml.safe_load(path.read_text())
    if not isinstance(values, dict) or INCLUDE_KEY not in values:
        return [(path, False)]
    includes = values[INCLUDE_KEY]
    includes = [includes] if isinstance(includes, str) else includes
    if not isinstance(includes, list) or not all(isinstance(item, str) for item in includes):
        raise UserError(f"{path}: config: {includes!r} is invalid; allowed: a config file path or a list of them, relative to {path.name}")
    found = []
    for include in includes:
        target = (path.parent / include).resolve()
        if target in (*including, path.resolve()):
            raise UserError(f"{path}: config: {include!r} includes itself; allowed: files that do not include {path.name}")
        if not target.is_file():
            raise UserError(f"{path}: config: {include!r} does not exist (looked for {target})")
        found += included_configs(target, (*including, path.resolve()))
    return [*found, (path, True)]


def _model(values: Any) -> dict:
    model = values.get("model") if isinstance(values, dict) else None
    return model if isinstance(model, dict) else {}


def _renamed_in(path: Path, values: Any, algorithm: str | None) -> bool:
    """Renames the model options of an earlier layout in a config's values (noted on stderr)."""
    init_args = _model(values).get("init_args")
    if algorithm is None or not isinstance(init_args, dict):
        return False
    old = [key for key in init_args if renamed_option(algorithm, key)]
    if old:
        values["model"]["init_args"] = migrate_hparams(algorithm, init_args)
        notes = ", ".join(f"{key} is now {renamed_option(algorithm, key)}" for key in old)
        print(f"{path}: {notes} (read with the new names)", file=sys.stderr)
    return bool(old)


def config_values(value: str, algorithm: str | None = None) -> tuple[list[str], str | None]:
    """The ``--config`` values that one ``--config VALUE`` stands for, and the model class it leaves
    chosen (for the options after it): included files expanded, earlier layouts' names migrated.
    A file that needs none of this is passed on as it is."""
    if not _is_file(value):
        if not _looks_like_a_name(value):
            return [migrate_class_paths_in(value)], algorithm
        value = str(preset_path(value))
    expanded = []
    for path, includes in included_configs(Path(value)):
        text = path.read_text()
        new = migrate_class_paths_in(text)
        if new != text:
            print(f"{path}: names classes by their paths before the layers moved; read with the current paths", file=sys.stderr)
        values = yaml.safe_load(new)
        if includes:
            del values[INCLUDE_KEY]
        class_path = _model(values).get("class_path")
        algorithm = str(class_path).rsplit(".", 1)[-1] if class_path else algorithm
        renamed = _renamed_in(path, values, algorithm)
        if not (includes or renamed or new != text):
            expanded.append(value if path == Path(value) else str(path))
        elif values:
            expanded.append(yaml.safe_dump(values, sort_keys=False))
    return expanded, algorithm


def migrate_command_line(args: list[str]) -> list[str]:
    """A fit/validate/test/predict command line as the current layout reads it: each ``--config``
    expanded into the files it includes, class paths and renamed model options migrated."""
    migrated: list[str] = []
    algorithm: str | None = None
    config_next = False
    for token in args:
        if config_next or token.startswith("--config="):
            values, algorithm = config_values(token if config_next else token.partition("=")[2], algorithm)
            if config_next:
                migrated.pop()  # the "--config" before it: each value gets its own below
            migrated += [item for value in values for item in ("--config", value)]
            config_next = False
            continue
        config_next = token == "--config"
        match = MODEL_OPTION.match(token)
        new = renamed_option(algorithm or "", match.group(1)) if match else None
        if new:
            print(f"--model.init_args.{match.group(1)} is now --model.init_args.{new} (read as such)", file=sys.stderr)
            token = f"--model.init_args.{new}" + token[match.end() :]
        migrated.append(migrate_class_paths_in(token))
    return migrated
