"""Edits of a parsed fit/validate/test/predict config before its classes are built: the run folder
in the shared config's paths, the file `--ckpt_path last` means, and NVlabs' `auto` preset."""

from __future__ import annotations

from typing import Any

from jsonargparse import Namespace

from gan_lightning.cli.command_line import given_options

RUN_ROOT = "${trainer.default_root_dir}"  # in the shared config's paths: where this run writes


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
    """Fill a fit config with NVlabs' auto rule (``training.nvlabs_auto``) for its resolution and GPU
    count, except the options given on the command line; returns a one-line report."""
    from gan_lightning.training.nvlabs_auto import AUTO_TARGETS, nvlabs_auto

    trainer = section.get("trainer") or Namespace()
    gpus = gpu_count(trainer.get("devices", 1), trainer.get("num_nodes", 1))
    resolution = int(section.data.init_args.resolution)
    settings = nvlabs_auto(resolution, gpus)
    given = {f"{part}.{key}" for part in ("model", "data") for key in given_options(command_line, part)}
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
