"""The front door: `python -m gan_lightning <command>`.

- fit / validate / test / predict: LightningCLI. One ``--config`` YAML picks the model and data by
  ``class_path``; every option is a typed ``__init__`` argument (``--print_config`` lists them).
- generate, style-mix, interpolate, project, convert, stylize: inference tools in gan_lightning/tools/.

Bad input ends with one line ``error: ...`` and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

from jsonargparse import ArgumentError

from gan_lightning.errors import UserError

# command -> module in gan_lightning.tools (imported only when that command runs)
TOOLS: dict[str, str] = {
    "generate": "generate",
    "style-mix": "style_mix",
    "interpolate": "interpolate",
    "project": "project",
    "convert": "convert",
    "stylize": "stylize",
}
UNUSED_PARAMETER_STRATEGIES = {"ddp": "ddp_find_unused_parameters_true", "ddp_spawn": "ddp_spawn_find_unused_parameters_true"}


def wandb_has_credentials() -> bool:
    """True when W&B can log in without asking: an API key in the environment or in ~/.netrc."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    netrc = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    try:
        return "api.wandb.ai" in netrc.read_text() or "wandb" in netrc.read_text()
    except OSError:
        return False


def wandb_offline_unless_logged_in() -> None:
    """W&B must never stop a run at a login prompt: without credentials it logs offline."""
    if os.environ.get("WANDB_MODE") or wandb_has_credentials():
        return
    os.environ["WANDB_MODE"] = "offline"
    print(
        "W&B: no credentials found (WANDB_API_KEY or `wandb login`), logging offline; upload later with "
        "`wandb sync <save_dir>/wandb/offline-run-*` (the folder W&B names below)",
        file=sys.stderr,
    )


def root_cause(error: BaseException) -> BaseException:
    """jsonargparse wraps what a class's __init__ raised in "Does not validate against any of the
    Union subtypes"; the user needs the innermost message, which names the bad value."""
    while (error.__cause__ or error.__context__) is not None:
        error = error.__cause__ or error.__context__  # type: ignore[assignment]
    return error


def _lightning_cli(args: list[str] | None) -> None:
    from lightning.pytorch import LightningDataModule
    from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

    import gan_lightning.data  # noqa: F401  (registers the DataModules for short class names)
    import gan_lightning.models  # noqa: F401  (registers the LightningModules)
    from gan_lightning.models.base import GANModule

    class GANLightningCLI(LightningCLI):
        def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
            # The image shape is given once, by the data, and handed to the model.
            parser.link_arguments("data.resolution", "model.init_args.resolution", apply_on="instantiate")
            parser.link_arguments("data.channels", "model.init_args.channels", apply_on="instantiate")

        def before_instantiate_classes(self) -> None:
            trainer = self.config.get(self.subcommand, self.config).get("trainer", {})
            if "WandbLogger" in str(trainer.get("logger")):
                wandb_offline_unless_logged_in()
            if trainer.get("strategy") in UNUSED_PARAMETER_STRATEGIES:
                # Every GAN phase leaves the other network's parameters without gradients, which
                # plain DDP rejects; the find-unused variant handles it.
                trainer["strategy"] = UNUSED_PARAMETER_STRATEGIES[trainer["strategy"]]
                print(f"note: using strategy {trainer['strategy']} (GAN phases leave parameters unused)", file=sys.stderr)

        def instantiate_classes(self) -> None:
            try:
                super().instantiate_classes()
            except (ValueError, TypeError) as error:  # a bad value our classes rejected
                raise UserError(str(root_cause(error)).splitlines()[0]) from None

        def after_fit(self) -> None:
            log_dir = self.trainer.log_dir  # collective under DDP: every rank asks
            if self.trainer.is_global_zero:
                checkpoint = self.trainer.checkpoint_callback
                where = getattr(checkpoint, "dirpath", None)
                print(f"logs and samples: {log_dir}" + (f"\ncheckpoints: {where}" if where else ""))

    GANLightningCLI(
        model_class=GANModule,
        datamodule_class=LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        auto_configure_optimizers=False,  # each model builds its own two or three optimizers
        save_config_kwargs={"overwrite": True},  # reruns and SLURM requeues rewrite config.yaml
        args=args,
        parser_kwargs={
            "prog": "python -m gan_lightning",
            "exit_on_error": False,  # main() prints the error as one line instead of usage + a nested report
            "description": "gan_lightning: GAN training (fit/validate/test/predict) and tools "
            f"({', '.join(TOOLS)}; run `python -m gan_lightning TOOL --help`)."
        },
    )


def one_line_parse_error(message: str) -> str:
    """jsonargparse reports a bad key or value as a nested, multi-line "Union subtypes" report; keep
    the lines that name the key or value, on one line."""
    noise = ("Does not validate against", "Subtypes:", "Errors:", "Expected a <class 'NoneType'>", "Given value")
    lines = [line.strip().lstrip("- ") for line in message.splitlines()]
    return " ".join(line for line in lines if line and not line.startswith(noise))


def _tool(name: str, args: list[str]) -> None:
    module = importlib.import_module(f"gan_lightning.tools.{TOOLS[name]}")
    parser = argparse.ArgumentParser(prog=f"python -m gan_lightning {name}", description=module.__doc__)
    module.add_arguments(parser)
    module.run(parser.parse_args(args))


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        if args and args[0] in TOOLS:
            _tool(args[0], args[1:])
        else:
            _lightning_cli(None if argv is None else args)  # None: LightningCLI reads sys.argv itself
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except ArgumentError as error:  # jsonargparse: unknown key, bad value or type in a config or flag
        command = args[0] if args and args[0] in ("fit", "validate", "test", "predict") else ""
        print(
            f"error: {one_line_parse_error(str(error))} "
            f"(accepted options: python -m gan_lightning {command} --help, values: --print_config)".replace("  ", " "),
            file=sys.stderr,
        )
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
