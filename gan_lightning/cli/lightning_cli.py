"""fit / validate / test / predict through LightningCLI. One ``--config`` YAML picks the model and
data by ``class_path``; every option is a typed ``__init__`` argument (``--print_config`` lists
them). The packaged configs/base/trainer.yaml (Trainer, loggers, checkpointing) is applied before
``--config``, in a checkout and an installed wheel alike.

Imported only when one of these commands runs: the inference commands never load Lightning."""

from __future__ import annotations

import signal
import sys
from typing import Any

from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch import LightningDataModule
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.utilities.exceptions import SIGTERMException

import gan_lightning.data  # noqa: F401  (registers the DataModules for short class names)
import gan_lightning.training.models  # noqa: F401  (registers the LightningModules)
from gan_lightning.checkpoints.migration import migrate_class_path, migrate_hparams
from gan_lightning.checkpoints.reading import check_training_checkpoint, read_checkpoint
from gan_lightning.checkpoints.registry import check_checkpoint_class_paths
from gan_lightning.cli.command_line import given_model_options
from gan_lightning.cli.config_files import SHARED_CONFIG, migrate_command_line
from gan_lightning.cli.resume_options import merged_model_options
from gan_lightning.cli.run_config import apply_nvlabs_auto, resolve_last_ckpt_path, with_run_root
from gan_lightning.cli.wandb_offline import wandb_offline_unless_logged_in
from gan_lightning.common.errors import UserError
from gan_lightning.training.distributed import default_strategy
from gan_lightning.training.models.base import GANModule

LIGHTNING_CKPT_NAMES: tuple[str, ...] = ("last", "best", "hpc")  # --ckpt_path values Lightning resolves itself
# A run stopped by a signal exits with 128 + its number (143, 130), as a shell reports a process the
# signal ended: schedulers see "killed", not "done".
STOP_SIGNAL_NAMES = {signal.SIGTERM: "SIGTERM", signal.SIGINT: "Ctrl-C"}


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


class GANLightningCLI(LightningCLI):
    """LightningCLI with the image shape linked from the data to the model, `--nvlabs_auto`, model
    options read from `--ckpt_path FILE`, run folders that follow --trainer.default_root_dir, and
    bad values reported as one line."""

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
        # The command line is kept to tell options given here from the config's; class paths of earlier layouts migrated.
        self.command_line = migrate_command_line(list(sys.argv[1:] if args is None else args))
        self.config = parser.parse_args(self.command_line)
        if self.config.get("subcommand"):
            self.read_ckpt_path(self.config.subcommand)

    # Lightning's own version would re-apply the checkpoint's hyper-parameters unchecked and with old class paths; no public switch turns it off.
    def _parse_ckpt_path(self) -> None:
        pass

    def read_ckpt_path(self, subcommand: str) -> None:
        """`--ckpt_path last` becomes the newest resumable file; a checkpoint file is checked (readable,
        written by `fit`, same algorithm and image shape) and its model options, older names migrated,
        replace the config file's, except those given on the command line."""
        section = self.config[subcommand]
        if section.get("ckpt_path") == "last":
            section.ckpt_path = resolve_last_ckpt_path(section)
            print(f"--ckpt_path last: {section.ckpt_path or 'no checkpoint yet, starting fresh'}", file=sys.stderr)
        ckpt_path = section.get("ckpt_path")
        if not ckpt_path or ckpt_path in LIGHTNING_CKPT_NAMES or "://" in str(ckpt_path) or str(ckpt_path).startswith("registry"):
            return
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
        check_checkpoint_class_paths({"_class_path": class_path, **hparams}, str(ckpt_path))  # before parse_object imports them
        config_options = section.model.init_args.clone()
        self.config = self.parser.parse_object({subcommand: {"model": {"class_path": class_path, "init_args": hparams}}}, self.config)
        model = self.config[subcommand].model
        model.init_args, report = merged_model_options(
            model.init_args, config_options, given_model_options(self.command_line), fit=subcommand == "fit", ckpt_path=str(ckpt_path)
        )
        if report:
            print(report, file=sys.stderr)

    def before_instantiate_classes(self) -> None:
        section = self.config.get(self.subcommand, self.config)
        if section.get("nvlabs_auto"):
            print(apply_nvlabs_auto(section, self.command_line), file=sys.stderr)
        trainer = section.get("trainer", {})
        strategy = default_strategy(trainer.get("strategy", "auto"), str(trainer.get("accelerator", "auto")), trainer.get("devices", "auto"), int(trainer.get("num_nodes", 1)))
        if strategy != trainer.get("strategy", "auto"):
            print(f"strategy auto on several devices: {strategy} (each backward sends only the gradients it produced); "
                  "--trainer.strategy ddp for Lightning's", file=sys.stderr)  # fmt: skip
            trainer["strategy"] = strategy
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


def main(argv: list[str] | None, tools: list[str]) -> None:
    """Runs a fit/validate/test/predict command line (None: sys.argv); ``tools`` are the other
    commands, named in --help."""
    try:
        GANLightningCLI(
            model_class=GANModule,
            datamodule_class=LightningDataModule,
            subclass_mode_model=True,
            subclass_mode_data=True,
            auto_configure_optimizers=False,  # each model builds its own two or three optimizers
            save_config_kwargs={"overwrite": True},  # reruns and SLURM requeues rewrite config.yaml
            args=argv,
            parser_kwargs={
                "prog": "python -m gan_lightning",
                "exit_on_error": False,  # the dispatcher prints the error as one line instead of usage + a nested report
                "description": "gan_lightning: GAN training (fit/validate/test/predict) and tools "
                f"({', '.join(tools)}; run `python -m gan_lightning TOOL --help`).",
                **{command: {"default_config_files": [str(SHARED_CONFIG)]} for command in GANLightningCLI.subcommands()},
            },
        )
    except SIGTERMException as stop:  # Lightning ends the loop between batches; LastCheckpoint has saved last.ckpt
        number = getattr(stop, "stop_signal", signal.SIGTERM)  # SIGINT: Ctrl-C, made a stop request by LastCheckpoint
        print(f"stopped by {STOP_SIGNAL_NAMES[number]} (exit {128 + number}); continue with --ckpt_path last", file=sys.stderr)
        sys.exit(128 + number)
