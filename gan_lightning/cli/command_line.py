"""What a fit/validate/test/predict command line says beyond its parsed values: which model and data
options it gives (they win over a config file, a checkpoint and presets). What its ``--config`` files
stand for (includes, earlier layouts' names) is ``config_files``."""

from __future__ import annotations


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
