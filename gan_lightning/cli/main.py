"""The front door: `python -m gan_lightning <command>`.

- fit / validate / test / predict: LightningCLI. One ``--config`` YAML picks the model and data by
  ``class_path``; every option is a typed ``__init__`` argument (``--print_config`` lists them).
- generate, style-mix, interpolate, project, convert, stylize, export: inference tools in gan_lightning/tools/
  (no Lightning import).
- evaluate: the StyleGAN metric suite for a checkpoint (tools/evaluate.py; builds the data as fit does).

Bad input ends with one line ``error: ...`` and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path
from typing import Any

from jsonargparse import ArgumentError, Namespace

from gan_lightning.common.errors import UserError

# command -> module in gan_lightning.cli.commands (imported only when that command runs)
TOOLS: dict[str, str] = {
    "generate": "generate",
    "style-mix": "style_mix",
    "interpolate": "interpolate",
    "project": "project",
    "convert": "convert",
    "stylize": "stylize",
    "export": "export",
    "evaluate": "evaluate",  # uses Lightning: parses and builds the data as `fit` does (its own main)
    "prepare": "prepare",  # writes a prepared (litdata) dataset for training at scale
}
LIGHTNING_COMMANDS: tuple[str, ...] = ("fit", "validate", "test", "predict")
# Trainer, loggers and checkpointing shared by every run (a repository checkout's configs/).
SHARED_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "base" / "trainer.yaml"
RUN_ROOT = "${trainer.default_root_dir}"  # in the shared config's paths: where this run writes
COMMANDS: tuple[str, ...] = (*LIGHTNING_COMMANDS, *TOOLS)
LIGHTNING_CKPT_NAMES: tuple[str, ...] = ("last", "best", "hpc")  # --ckpt_path values Lightning resolves itself
# Model options a resumed optimizer state holds (its param groups), so `fit --ckpt_path` cannot change them.
OPTIMIZER_STATE_OPTIONS: tuple[str, ...] = ("lr", "generator_lr", "discriminator_lr", "betas")


def given_model_options(command_line: list[str]) -> list[str]:
    """Model options set on the command line, as init_args keys: `--model.init_args.lr 0.1`,
    `--model.lr=0.1` and `--model.init_args.generator.z_dim 8` give lr, lr and generator.z_dim."""
    keys = []
    for token in command_line:
        if token.startswith("--model."):
            key = token[len("--model.") :].split("=", 1)[0]
            key = key[len("init_args.") :] if key.startswith("init_args.") else key
            if key and key not in keys and not key.startswith(("class_path", "dict_kwargs")):
                keys.append(key)
    return keys


def gpu_count(devices: Any, num_nodes: Any = 1) -> int:
    """Processes a Trainer with these ``devices`` / ``num_nodes`` runs: "auto" and -1 count the visible GPUs (at least 1)."""
    if isinstance(devices, (list, tuple)):
        per_node = len(devices)
    elif str(devices).strip() in ("auto", "-1"):
        import torch

        per_node = max(torch.cuda.device_count(), 1)
    elif isinstance(devices, str) and "," in devices:
        per_node = len([d for d in devices.split(",") if d.strip()])
    else:
        per_node = int(devices)
    return per_node * int(num_nodes or 1)


def apply_nvlabs_auto(section: Namespace, command_line: list[str]) -> str:
    """Fill a fit config with NVlabs' auto rule (``models.nvlabs_auto``) for its resolution and GPU
    count, except the options given on the command line; returns a one-line report."""
    from gan_lightning.training.nvlabs_auto import AUTO_TARGETS, nvlabs_auto

    trainer = section.get("trainer") or Namespace()
    gpus = gpu_count(trainer.get("devices", 1), trainer.get("num_nodes", 1))
    resolution = int(section.data.init_args.resolution)
    settings = nvlabs_auto(resolution, gpus)
    given = {f"model.{key}" for key in given_model_options(command_line)}
    given |= {"data." + t.split("=", 1)[0].removeprefix("--data.").removeprefix("init_args.") for t in command_line if t.startswith("--data.")}
    chosen, kept = [], []
    for name, targets in AUTO_TARGETS.items():
        value = getattr(settings, name)
        for part, key in targets:
            if f"{part}.{key}" in given:
                kept.append(f"{key} {section[part].init_args[key]}")
                continue
            section[part].init_args[key] = value
        chosen.append(f"{name} {value:g}")
    report = f"nvlabs_auto ({resolution} px, {gpus} GPU{'s' if gpus > 1 else ''}, global batch {settings.batch_per_gpu * gpus}): " + ", ".join(chosen)
    return report + (f"; kept from the command line: {', '.join(kept)}" if kept else "")


SIGTERM_EXIT = 128 + 15  # what a shell reports for a process ended by SIGTERM: schedulers see "killed", not "done"


def wandb_has_credentials() -> bool:
    """True when W&B can log in without asking: an API key in the environment or in ~/.netrc."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    netrc = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    try:
        return "wandb" in netrc.read_text()  # `wandb login` writes a machine api.wandb.ai entry
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


def with_run_root(value: Any, root: str) -> Any:
    """Config values with ${trainer.default_root_dir} replaced by ``root``, so logger and checkpoint
    folders follow --trainer.default_root_dir (jsonargparse interpolates within one file only)."""
    if isinstance(value, str):
        return value.replace(RUN_ROOT, root)
    if isinstance(value, list):
        return [with_run_root(item, root) for item in value]
    if isinstance(value, Namespace):
        for key, item in vars(value).items():
            setattr(value, key, with_run_root(item, root))
    return value


def resolve_last_ckpt_path(run_config: Namespace) -> str | None:
    """The file `--ckpt_path last` means for this run: the newest of last.ckpt in the checkpoint
    callbacks' folders and SLURM's hpc_ckpt_N.ckpt in default_root_dir; None when neither exists."""
    from gan_lightning.training.callbacks.checkpoint_writing import newest_resumable

    trainer = run_config.get("trainer") or Namespace()
    root = str(trainer.get("default_root_dir") or ".")
    callbacks = trainer.get("callbacks") or []
    folders = [
        with_run_root(str(callback.init_args.dirpath), root)
        for callback in callbacks
        if isinstance(callback, Namespace) and callback.get("init_args") and callback.init_args.get("dirpath")
    ]
    found = newest_resumable(folders, root)
    return str(found) if found is not None else None


def data_num_classes(datamodule: Any) -> int:
    """The classes of a DataModule's labels (its ``num_classes``; 0 when it has no labels)."""
    return int(getattr(datamodule, "num_classes", 0) or 0)


def user_error_cause(error: BaseException) -> UserError | None:
    """The UserError behind an exception, if any: jsonargparse wraps what a class's __init__ raised
    (e.g. in "Does not validate against any of the Union subtypes")."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, UserError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _lightning_cli(args: list[str] | None) -> None:
    from lightning.fabric.utilities.exceptions import MisconfigurationException
    from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    import gan_lightning.data  # noqa: F401  (registers the DataModules for short class names)
    import gan_lightning.training.models  # noqa: F401  (registers the LightningModules)
    from gan_lightning.checkpoints.migration import migrate_class_path, migrate_hparams
    from gan_lightning.cli.config_files import migrate_command_line
    from gan_lightning.checkpoints.reading import check_training_checkpoint, read_checkpoint
    from gan_lightning.training.models.base import GANModule

    class GANLightningCLI(LightningCLI):
        def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
            # The image shape is given once, by the data, and handed to the model.
            parser.link_arguments("data.resolution", "model.init_args.resolution", apply_on="instantiate")
            parser.link_arguments("data.channels", "model.init_args.channels", apply_on="instantiate")
            # So are the classes of its labels (0: none; DataModules without the attribute give none).
            parser.link_arguments("data", "model.init_args.num_classes", compute_fn=data_num_classes, apply_on="instantiate")
            parser.add_argument(
                "--nvlabs_auto", type=bool, default=False,
                help="StyleGAN: batch size, minibatch-std group, widths, lr, R1 gamma and EMA from NVlabs' auto rule "
                "(resolution and GPU count); options given on the command line win (configs/stylegan_auto.yaml)",
            )  # fmt: skip

        def parse_arguments(self, parser: LightningArgumentParser, args: Any) -> None:
            # Kept to tell options given here from the config's; class paths of earlier layouts migrated.
            self.command_line = migrate_command_line(list(sys.argv[1:] if args is None else args))
            self.config = parser.parse_args(self.command_line)

        def _parse_ckpt_path(self) -> None:
            # Lightning reads the model's hyper-parameters from `--ckpt_path FILE` into the config.
            # Here the file is checked first (readable, written by `fit`, same algorithm and image
            # shape), older option names are migrated, and --model options given on the command line
            # are applied over the checkpoint's (the config file's are replaced by them).
            subcommand = self.config.get("subcommand")
            if subcommand and self.config[subcommand].get("ckpt_path") == "last":
                self.config[subcommand].ckpt_path = resolve_last_ckpt_path(self.config[subcommand])
                found = self.config[subcommand].ckpt_path
                print(f"--ckpt_path last: {found or 'no checkpoint yet, starting fresh'}", file=sys.stderr)
            ckpt_path = self.config[subcommand].get("ckpt_path") if subcommand else None
            if not ckpt_path or ckpt_path in LIGHTNING_CKPT_NAMES or "://" in str(ckpt_path) or str(ckpt_path).startswith("registry"):
                return
            section = self.config[subcommand]
            checkpoint = read_checkpoint(ckpt_path)
            data = section.get("data", {}).get("init_args", {})
            check_training_checkpoint(
                checkpoint, ckpt_path, str(section.model.class_path).rsplit(".", 1)[-1],
                data.get("resolution"), data.get("channels"), resume=subcommand == "fit",
            )  # fmt: skip
            hparams = dict(checkpoint.get("hyper_parameters", {}))
            hparams.pop("_instantiator", None)
            if "_class_path" not in hparams:
                return
            class_path = migrate_class_path(hparams.pop("_class_path"))
            hparams = migrate_hparams(class_path.rsplit(".", 1)[-1], hparams)
            given = {key: section.model.init_args.get(key) for key in given_model_options(self.command_line)}
            self.config = self.parser.parse_object({subcommand: {"model": {"class_path": class_path, "init_args": hparams}}}, self.config)
            applied = []
            for key, value in given.items():
                stored = self.config[subcommand].model.init_args.get(key)
                if stored == value:
                    continue
                if subcommand == "fit" and key.rsplit(".", 1)[-1] in OPTIMIZER_STATE_OPTIONS:
                    raise UserError(  # Lightning restores the optimizers' param groups: the new value would be ignored
                        f"--model.init_args.{key} {value} cannot replace the checkpoint's {stored} when `fit` resumes from "
                        f"{str(ckpt_path)!r}: its optimizer state holds that value; resume without the option, or start a new run"
                    )
                self.config[subcommand].model.init_args[key] = value
                applied.append(f"{key} {value} (checkpoint: {stored})")
            if applied:
                print(f"--ckpt_path {ckpt_path}: model options from the checkpoint, except those given here: {', '.join(applied)}", file=sys.stderr)

        def before_instantiate_classes(self) -> None:
            if self.config.get(self.subcommand, self.config).get("nvlabs_auto"):
                print(apply_nvlabs_auto(self.config.get(self.subcommand, self.config), self.command_line), file=sys.stderr)
            trainer = self.config.get(self.subcommand, self.config).get("trainer", {})
            root = str(trainer.get("default_root_dir") or ".")
            for key in ("logger", "callbacks"):
                trainer[key] = with_run_root(trainer.get(key), root)
            if "WandbLogger" in str(trainer.get("logger")):
                wandb_offline_unless_logged_in()

        def instantiate_classes(self) -> None:
            try:
                super().instantiate_classes()
            except Exception as error:
                cause = user_error_cause(error)
                if isinstance(error, MisconfigurationException):  # Lightning's word for a bad Trainer value
                    cause = error
                if cause is None:  # a bug, not a bad value: keep the traceback
                    raise
                raise UserError(str(cause).splitlines()[0]) from None

        def after_fit(self) -> None:
            log_dir = self.trainer.log_dir  # collective under DDP: every rank asks
            if self.trainer.is_global_zero:
                checkpoint = self.trainer.checkpoint_callback
                where = getattr(checkpoint, "dirpath", None)
                print(f"logs and samples: {log_dir}" + (f"\ncheckpoints: {where}" if where else ""))

    try:
        _run_cli(GANLightningCLI, GANModule, args)
    except SIGTERMException:  # Lightning ends the loop between batches; LastCheckpoint has saved last.ckpt
        print(f"stopped by SIGTERM (exit {SIGTERM_EXIT}); continue with --ckpt_path last", file=sys.stderr)
        sys.exit(SIGTERM_EXIT)


def _run_cli(cli_class: type, model_class: type, args: list[str] | None) -> None:
    from lightning.pytorch import LightningDataModule

    cli_class(
        model_class=model_class,
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
            f"({', '.join(TOOLS)}; run `python -m gan_lightning TOOL --help`).",
            # configs/base/trainer.yaml holds what every preset shares and is applied before --config.
            **{command: {"default_config_files": [str(SHARED_CONFIG)]} for command in LIGHTNING_COMMANDS},
        },
    )


def one_line_parse_error(message: str) -> str:
    """jsonargparse reports a bad key or value as a nested, multi-line "Union subtypes" report; keep
    the lines that name the key or value, on one line."""
    noise = ("Does not validate against", "Subtypes:", "Errors:", "Expected a <class 'NoneType'>", "Given value")
    lines = [line.strip().lstrip("- ") for line in message.splitlines()]
    return " ".join(line for line in lines if line and not line.startswith(noise))


def _tool(name: str, args: list[str]) -> None:
    module = importlib.import_module(f"gan_lightning.cli.commands.{TOOLS[name]}")
    if hasattr(module, "main"):  # a tool with its own (jsonargparse) parser
        module.main(args)
        return
    parser = argparse.ArgumentParser(prog=f"python -m gan_lightning {name}", description=module.__doc__)
    module.add_arguments(parser)
    module.run(parser.parse_args(args))


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        if args and args[0] in TOOLS:
            _tool(args[0], args[1:])
        elif args and not args[0].startswith("-") and args[0] not in LIGHTNING_COMMANDS:
            raise UserError(f"unknown command {args[0]!r}; allowed: {', '.join(COMMANDS)}")
        else:
            _lightning_cli(None if argv is None else args)  # None: LightningCLI reads sys.argv itself
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
