"""What a fit/validate/test/predict command line says beyond its parsed values: which model and data
options it gives (they win over a config file, a checkpoint and presets), and class paths of an
earlier package layout, migrated before parsing."""

from __future__ import annotations

import re
import sys
from pathlib import Path

CLASS_PATH = re.compile(r"\bgan_lightning(?:\.\w+)+")


def given_options(command_line: list[str], section: str) -> list[str]:
    """Options of ``section`` (model or data) set on the command line, as init_args keys:
    `--model.init_args.lr 0.1`, `--model.lr=0.1` and `--model.init_args.generator.z_dim 8` give lr, lr
    and generator.z_dim."""
    keys = []
    for token in command_line:
        if token.startswith(f"--{section}."):
            key = token[len(f"--{section}.") :].split("=", 1)[0].removeprefix("init_args.")
            if key and key not in keys and not key.startswith(("class_path", "dict_kwargs")):
                keys.append(key)
    return keys


def given_model_options(command_line: list[str]) -> list[str]:
    """Model options set on the command line, as init_args keys (see ``given_options``)."""
    return given_options(command_line, "model")


def migrate_class_paths_in(text: str) -> str:
    """``text`` with every class path of an earlier layout replaced by where that class is now."""
    from gan_lightning.checkpoints.migration import migrate_class_path

    return CLASS_PATH.sub(lambda match: migrate_class_path(match.group(0)), text)


def migrate_command_line(args: list[str]) -> list[str]:
    """A fit/validate/test/predict command line whose class paths (in its tokens and in the
    ``--config`` files it names) follow the current layout: a config naming a moved class is given
    to the parser as its migrated text, and a line on stderr says so."""
    migrated = []
    config_next = False
    for token in args:
        name, equals, value = token.partition("=") if token.startswith("--config=") else ("", "", token)
        if (config_next or equals) and Path(value).is_file():
            text = Path(value).read_text()
            new = migrate_class_paths_in(text)
            if new != text:
                print(f"{value}: names classes by their paths before the layers moved; read with the current paths", file=sys.stderr)
                value = new
        else:
            value = migrate_class_paths_in(value)
        migrated.append(f"{name}={value}" if equals else value)
        config_next = token == "--config"
    return migrated
