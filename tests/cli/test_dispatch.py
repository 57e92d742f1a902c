"""One protocol for every command: main.py dispatches each name in COMMAND_MODULES to a module in
cli/commands/ that defines ``main(argv)``; fit/validate/test/predict go to lightning_cli.py."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import gan_lightning.cli.commands
from gan_lightning.cli.main import COMMAND_MODULES, LIGHTNING_COMMANDS, main

COMMAND_PACKAGE = gan_lightning.cli.commands


def test_every_module_in_commands_is_a_listed_command() -> None:
    modules = {info.name for info in pkgutil.iter_modules(COMMAND_PACKAGE.__path__)}
    assert modules == set(COMMAND_MODULES.values())
    assert len(set(COMMAND_MODULES.values())) == len(COMMAND_MODULES)  # one command per module


@pytest.mark.parametrize("module_name", sorted(COMMAND_MODULES.values()))
def test_every_command_module_defines_main_of_argv(module_name: str) -> None:
    module = importlib.import_module(f"{COMMAND_PACKAGE.__name__}.{module_name}")
    assert module.__doc__, f"{module_name}: its docstring is its --help description"
    parameters = list(inspect.signature(module.main).parameters.values())
    assert [(p.name, p.kind) for p in parameters] == [("argv", inspect.Parameter.POSITIONAL_OR_KEYWORD)]


@pytest.mark.parametrize("command", sorted(COMMAND_MODULES))
def test_every_command_describes_itself_under_its_name(command: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert f"usage: python -m gan_lightning {command}" in capsys.readouterr().out


def test_the_lightning_commands_are_lightnings_subcommands() -> None:
    from lightning.pytorch.cli import LightningCLI

    assert set(LIGHTNING_COMMANDS) == set(LightningCLI.subcommands())


def test_the_lightning_method_the_cli_replaces_still_exists() -> None:
    """GANLightningCLI turns off LightningCLI._parse_ckpt_path (it reads `--ckpt_path` itself): if
    Lightning renames it, Lightning's own reading would silently come back."""
    from lightning.pytorch.cli import LightningCLI

    from gan_lightning.cli.lightning_cli import GANLightningCLI

    assert callable(getattr(LightningCLI, "_parse_ckpt_path", None))
    assert "_parse_ckpt_path" in vars(GANLightningCLI)
