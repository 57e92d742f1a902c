"""Stopping (or rolling back) at the first step whose gradients or weights are NaN or inf, before
anything non-finite is stepped into the weights or saved.

Lightning's ``detect_anomaly`` finds the operation but costs a slow backward on every step, and its
progress bar shows ``nan`` without a word; this checks each optimizer's gradients just before its
step (``on_before_optimizer_step``, called by manual ``opt.step()`` too) and every parameter and
buffer after each batch.

On a GPU, reading a check's result back waits for every queued kernel. So ``stop`` (the default)
keeps each check's result on the device and reads them back together on logging steps, before each
checkpoint is written and when training ends, then stops naming the first step that failed: at most
``log_every_n_steps`` batches run on after it, and none is saved. ``rollback`` must skip the very
step, so it reads back at every optimizer step.
"""

from __future__ import annotations

from typing import Iterable, Literal

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_warn
from torch import Tensor
from torch.optim import Optimizer

from gan_lightning.training.callbacks.checkpoint_writing import is_readable_checkpoint, non_finite_entry
from gan_lightning.common.errors import UserError

OnNonFinite = Literal["stop", "rollback"]


def phase_of(pl_module: LightningModule, optimizer: Optimizer) -> str:
    """The networks an optimizer trains, by attribute name ("discriminator", "generator+mapping")."""
    owner = {id(parameter): name.split(".")[0] for name, parameter in pl_module.named_parameters()}
    names = {owner.get(id(p), "?") for group in optimizer.param_groups for p in group["params"]}
    return "+".join(sorted(names))


def has_non_finite_grad(optimizer: Optimizer) -> bool:
    grads = {str(i): p.grad for group in optimizer.param_groups for i, p in enumerate(group["params"]) if p.grad is not None}
    return non_finite_entry(grads) is not None


def non_finite_flag(tensors: Iterable[Tensor | None]) -> Tensor | None:
    """A device bool: does any floating-point tensor hold NaN or inf (computed without a host read;
    ``aminmax`` propagates NaN and, unlike a sum, cannot overflow). None if there is none to check."""
    values = [t.detach() for t in tensors if isinstance(t, Tensor) and t.is_floating_point() and t.numel()]
    if not values:
        return None
    return ~torch.isfinite(torch.stack([torch.stack(torch.aminmax(v)) for v in values])).all()


def grads_of(optimizer: Optimizer) -> list[Tensor | None]:
    return [p.grad for group in optimizer.param_groups for p in group["params"]]


class NonFiniteGuard(Callback):
    """On the first NaN/inf gradient (checked before each optimizer step) or weight (checked after
    each batch): ``stop`` ends training with one line naming the step and the phase, leaving the
    last checkpoint as it was; ``rollback`` skips that step, reloads the model and optimizers from
    the newest checkpoint and goes on, at most ``max_rollbacks`` times.

    Under 16-bit mixed precision the gradient scaler already skips steps with inf gradients (that
    is how it finds its scale), so only the weights are checked there, and the skipped steps so far
    are logged as ``train/skipped_steps``.

    Args:
        on_non_finite: "stop" or "rollback".
        max_rollbacks: rollbacks allowed before stopping anyway.
    """

    def __init__(self, on_non_finite: OnNonFinite = "stop", max_rollbacks: int = 3) -> None:
        if on_non_finite not in ("stop", "rollback"):
            raise UserError(f"NonFiniteGuard on_non_finite must be 'stop' or 'rollback', got {on_non_finite!r}")
        self.on_non_finite = on_non_finite
        self.max_rollbacks = max_rollbacks
        self.rollbacks = 0
        self._pending: str | None = None  # what went wrong this batch, acted on at its end
        # ``stop``'s checks not read back yet, oldest first: (where, the optimizer whose gradients or
        # None for the weights, device bool)
        self._unread: list[tuple[str, Optimizer | None, Tensor]] = []

    def on_before_optimizer_step(self, trainer: Trainer, pl_module: LightningModule, optimizer: Optimizer) -> None:
        scaler = getattr(trainer.precision_plugin, "scaler", None)
        if scaler is not None and scaler.is_enabled():
            return
        if self.on_non_finite == "stop":
            flag = non_finite_flag(grads_of(optimizer))
            if flag is not None:
                self._unread.append((self._where(trainer), optimizer, flag))
            return
        if self._pending is not None:  # an earlier phase of this batch failed: step nothing more
            optimizer.zero_grad(set_to_none=True)
            return
        if not has_non_finite_grad(optimizer):
            return
        self._pending = f"non-finite gradients in the {phase_of(pl_module, optimizer)} phase"
        optimizer.zero_grad(set_to_none=True)  # a parameter without gradient is not stepped

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, outputs, batch, batch_idx: int) -> None:
        logging_step = batch_idx % max(1, trainer.log_every_n_steps) == 0  # as GANModule.logging_step
        skipped = getattr(trainer.precision_plugin, "skipped_steps", None)
        if skipped is not None and logging_step:  # a logged number is a copy to the device
            pl_module.log("train/skipped_steps", float(skipped))
        if self.on_non_finite == "stop":
            flag = non_finite_flag(pl_module.state_dict().values())
            if flag is not None:
                self._unread.append((self._where(trainer), None, flag))
            if logging_step:
                self._read_back(trainer, pl_module)
            return
        problem, self._pending = self._pending, None
        if problem is None:
            bad = non_finite_entry(pl_module.state_dict())
            if bad is None:
                return
            problem = f"non-finite weights in {bad}"
            if self.on_non_finite == "stop":
                self._stop(trainer, problem)
        self._rollback(trainer, pl_module, problem)

    def on_save_checkpoint(self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict) -> None:
        self._read_back(trainer, pl_module)

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._read_back(trainer, pl_module)

    def _read_back(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """One host read for all of ``stop``'s pending checks; stops at the first that failed."""
        unread, self._unread = self._unread, []
        if not unread:
            return
        failed = torch.stack([flag.to(unread[0][2].device) for _, _, flag in unread])
        if not bool(failed.any()):
            return
        where, optimizer, _ = unread[int(failed.nonzero()[0])]
        if optimizer is None:
            self._stop(trainer, f"non-finite weights in {non_finite_entry(pl_module.state_dict())}", where)
        self._stop(trainer, f"non-finite gradients in the {phase_of(pl_module, optimizer)} phase", where)

    def _where(self, trainer: Trainer) -> str:
        return f"at step {trainer.global_step} (batch {trainer.fit_loop.total_batch_idx}, epoch {trainer.current_epoch})"

    def _stop(self, trainer: Trainer, problem: str, where: str | None = None) -> None:
        last = getattr(trainer.checkpoint_callback, "last_model_path", "") or "none yet"
        raise UserError(
            f"training diverged {where or self._where(trainer)}: {problem}; nothing non-finite was saved (last checkpoint: "
            f"{last}); lower the learning rates or regularization weights, or resume with "
            "--ckpt_path last and NonFiniteGuard on_non_finite: rollback"
        )

    def _rollback(self, trainer: Trainer, pl_module: LightningModule, problem: str) -> None:
        paths = [getattr(callback, "last_model_path", "") for callback in trainer.checkpoint_callbacks]
        path = next((p for p in paths if p and is_readable_checkpoint(p)), None)
        if path is None or self.rollbacks >= self.max_rollbacks:
            reason = "no checkpoint to roll back to" if path is None else f"{self.max_rollbacks} rollbacks already"
            self._stop(trainer, f"{problem} ({reason})")
        self.rollbacks += 1
        checkpoint = trainer.strategy.load_checkpoint(path)
        pl_module.load_state_dict(checkpoint["state_dict"])
        for optimizer, state in zip(trainer.optimizers, checkpoint["optimizer_states"]):
            optimizer.load_state_dict(state)
        rank_zero_warn(f"{problem} {self._where(trainer)}: rolled back the model and optimizers to {path} ({self.rollbacks}/{self.max_rollbacks})")
