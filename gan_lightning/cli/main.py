"""The front door: `python -m gan_lightning <command>`.

- fit / validate / test / predict: LightningCLI (lightning_cli.py).
- the other commands: one module each in commands/, listed in ``COMMAND_MODULES``. Each module
  defines ``main(argv)``, which parses its own options (``TOOL --help``) and runs; the inference
  commands never import Lightning, evaluate parses and builds the data as `fit` does.

Bad input ends with one line ``error: ...`` and exit status 2, never a traceback.
"""

from __future__ import annotations

import importlib
import sys

from jsonargparse import ArgumentError

from gan_lightning.common.errors import UserError

# command -> its module in gan_lightning.cli.commands (imported only when that command runs)
COMMAND_MODULES: dict[str, str] = {
    "generate": "generate",
    "style-mix": "style_mix",
    "interpolate": "interpolate",
    "project": "project",
    "convert": "convert",
    "stylize": "stylize",
    "export": "export",
    "evaluate": "evaluate",  # the metric suite; uses Lightning to build the data as `fit` does
    "prepare": "prepare",  # writes a prepared (litdata) dataset for training at scale
    "studio": "studio",  # the web page (Gradio) over one model
    "presets": "presets",  # lists the presets shipped in the package
}
LIGHTNING_COMMANDS: tuple[str, ...] = ("fit", "validate", "test", "predict")
COMMANDS: tuple[str, ...] = (*LIGHTNING_COMMANDS, *COMMAND_MODULES)


def one_line_parse_error(message: str) -> str:
    """jsonargparse reports a bad key or value as a nested, multi-line "Union subtypes" report; keep
    the lines that name the key or value, on one line."""
    noise = ("Does not validate against", "Subtypes:", "Errors:", "Expected a <class 'NoneType'>", "Given value")
    lines = [line.strip().lstrip("- ") for line in message.splitlines()]
    return " ".join(line for line in lines if line and not line.startswith(noise))


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        if args and args[0] in COMMAND_MODULES:
            importlib.import_module(f"gan_lightning.cli.commands.{COMMAND_MODULES[args[0]]}").main(args[1:])
        elif args and not args[0].startswith("-") and args[0] not in LIGHTNING_COMMANDS:
            raise UserError(f"unknown command {args[0]!r}; allowed: {', '.join(COMMANDS)}")
        else:
            from gan_lightning.cli import lightning_cli

            lightning_cli.main(None if argv is None else args, list(COMMAND_MODULES))  # None: LightningCLI reads sys.argv itself
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except ArgumentError as error:  # jsonargparse: unknown key, bad value or type in a config or flag
        command = args[0] if args and args[0] in LIGHTNING_COMMANDS else ""
        print(
            f"error: {one_line_parse_error(str(error))} "
            f"(accepted options: python -m gan_lightning {command} --help, values: --print_config)".replace("  ", " "),
            file=sys.stderr,
        )
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
