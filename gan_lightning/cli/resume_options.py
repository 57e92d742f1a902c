"""Which model options a run from `--ckpt_path FILE` uses: the checkpoint's, except those given on
the command line (a config file's are replaced by the checkpoint's). Kept free of Lightning and
of files so the rule is tested on its own."""

from __future__ import annotations

from jsonargparse import Namespace

from gan_lightning.common.errors import UserError

# Model options a resumed optimizer state holds (its param groups), so `fit --ckpt_path` cannot change them.
OPTIMIZER_STATE_OPTIONS: tuple[str, ...] = ("lr", "generator_lr", "discriminator_lr", "betas")


def merged_model_options(
    checkpoint: Namespace, config: Namespace, given: list[str], fit: bool, ckpt_path: str
) -> tuple[Namespace, str | None]:
    """The model's init_args for a run from ``ckpt_path``: ``checkpoint``'s (as parsed), with the keys
    in ``given`` (dotted, e.g. generator.z_dim) taken from ``config`` (the command line's parsed
    init_args); and the line that reports the ones that differ from the checkpoint (None when none do).

    Raises UserError when `fit` would change an option its optimizer state holds: Lightning restores
    the optimizers' param groups, so the new value would be ignored."""
    merged = checkpoint.clone()
    applied = []
    for key in given:
        value, stored = config.get(key), checkpoint.get(key)
        if stored == value:
            continue
        if fit and key.rsplit(".", 1)[-1] in OPTIMIZER_STATE_OPTIONS:
            raise UserError(
                f"--model.init_args.{key} {value} cannot replace the checkpoint's {stored} when `fit` resumes from "
                f"{ckpt_path!r}: its optimizer state holds that value; resume without the option, or start a new run"
            )
        merged[key] = value
        applied.append(f"{key} {value} (checkpoint: {stored})")
    if not applied:
        return merged, None
    return merged, f"--ckpt_path {ckpt_path}: model options from the checkpoint, except those given here: {', '.join(applied)}"
