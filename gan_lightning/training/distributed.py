"""``gan_ddp``: data-parallel training that sends, after each backward, only the gradients that
backward produced (the network its phase trains), averaged in large flat buckets.

Lightning's ``ddp`` wraps the whole LightningModule in ``DistributedDataParallel``: with alternating
GAN phases each backward leaves the other network without gradients, so it needs
``find_unused_parameters`` (a graph walk per backward) and reduces buckets of both networks every
time. Here, as in NVlabs' stylegan3 training loop, the module is not wrapped: the weights and buffers
are broadcast from rank 0 once, every backward averages the gradients it accumulated, and after each
training batch the buffers each process updated from its own batch (``per_process_buffers``) are
averaged so every process holds the same model; the other buffers (constant noise, fixed latents,
filters) never change, and the EMA generator's weights follow the averaged weights. Models need no
code for it: ``manual_backward`` ends in ``post_backward`` here.

Every process must produce gradients for the same parameters in a backward (true of each phase of
the GAN modules: which network a phase trains does not depend on random draws).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

import torch
import torch.distributed
from lightning.pytorch.overrides.distributed import _sync_module_states
from lightning.pytorch.strategies import DDPStrategy, StrategyRegistry
from torch import Tensor, nn
from torch.distributed.constants import default_pg_timeout
from torch.utils.hooks import RemovableHandle

from gan_lightning.core.nets.stylegan2 import MappingNetwork
from gan_lightning.core.nets.stylegan3 import SynthesisLayer

BUCKET_BYTES = 256 * 2**20  # few, large all-reduces; one flat copy of this size is the extra memory


def average_across_processes(tensors: list[Tensor], world_size: int, bucket_bytes: int = BUCKET_BYTES) -> None:
    """Replaces each tensor, in place, by its mean over the processes: same-dtype tensors are
    flattened into buckets of at most ``bucket_bytes`` (a tensor larger than that is one bucket),
    one ``all_reduce`` each. Every process must pass tensors of the same shapes in the same order."""
    buckets: list[list[Tensor]] = []
    size = 0
    for tensor in tensors:
        bytes_ = tensor.numel() * tensor.element_size()
        if not buckets or buckets[-1][0].dtype != tensor.dtype or buckets[-1][0].device != tensor.device or size + bytes_ > bucket_bytes:
            buckets.append([])
            size = 0
        buckets[-1].append(tensor)
        size += bytes_
    for bucket in buckets:
        flat = torch.cat([t.reshape(-1) for t in bucket])
        torch.distributed.all_reduce(flat)  # looked up at call time: tests and benchmarks count it
        flat /= world_size
        torch._foreach_copy_(bucket, [part.view_as(t) for part, t in zip(flat.split([t.numel() for t in bucket]), bucket)])


def per_process_buffers(module: nn.Module) -> list[Tensor]:
    """The floating-point buffers a process updates from its own batch, the only ones that can
    differ between processes: running statistics of normalisation layers, the mapping network's
    w_avg and StyleGAN3's magnitude EMAs (in G and, copied, in G_ema), and the LightningModule's own
    accumulators that it names in ``per_process_buffer_names`` (StyleGAN's ADA statistics). In module
    order: the same on every process.

    NVlabs' stylegan3 loop leaves w_avg and the magnitude EMAs per process (its consistency check
    skips ``*_avg``/``*_ema``) and snapshots rank 0's. Averaged here instead: each is a lerp towards
    its batch's statistic, so the average is the EMA of the whole batch's statistic, and every process
    then holds one model, which rank 0's checkpoint saves whole and a resume continues exactly."""
    found: dict[int, Tensor] = {}
    own = set(getattr(module, "per_process_buffer_names", ()))
    for name, buffer in module.named_buffers():
        if buffer.is_floating_point() and name in own:
            found[id(buffer)] = buffer
    for sub in module.modules():
        if isinstance(sub, nn.modules.batchnorm._NormBase) and sub.track_running_stats:
            candidates = [sub.running_mean, sub.running_var]
        elif isinstance(sub, MappingNetwork):
            candidates = [getattr(sub, "w_avg", None)]
        elif isinstance(sub, SynthesisLayer):
            candidates = [sub.magnitude_ema]
        else:
            continue
        found.update({id(b): b for b in candidates if b is not None and b.is_floating_point()})
    return list(found.values())


def several_processes(accelerator: str, devices: Any, num_nodes: int) -> bool:
    """Whether Lightning would start more than one process for these Trainer arguments."""
    if num_nodes > 1:
        return True
    if isinstance(devices, (list, tuple)):
        return len(devices) > 1
    text = str(devices).strip()
    if text in ("auto", "-1"):  # every device of the accelerator: one on a CPU
        return accelerator in ("auto", "gpu", "cuda") and torch.cuda.device_count() > 1
    if "," in text:
        return len([d for d in text.split(",") if d.strip()]) > 1
    return text.isdigit() and int(text) > 1  # anything else: Lightning's own message


def default_strategy(strategy: Any, accelerator: str, devices: Any, num_nodes: int) -> Any:
    """``gan_ddp`` where Lightning's ``auto`` would pick plain ``ddp`` (more than one process), else
    ``strategy`` unchanged: a strategy the user names is kept."""
    return GANDDPStrategy.strategy_name if strategy == "auto" and several_processes(accelerator, devices, num_nodes) else strategy


class GANDDPStrategy(DDPStrategy):
    """DDP without the ``DistributedDataParallel`` wrapper: each backward averages only the gradients
    it produced; see the module docstring. ``--trainer.strategy gan_ddp``.

    Args:
        bucket_mb: largest flat bucket of gradients sent by one all-reduce, in MiB.
        (the others as Lightning's ``DDPStrategy``.)
    """

    strategy_name = "gan_ddp"

    def __init__(
        self,
        accelerator: Any = None,
        parallel_devices: list[torch.device] | None = None,
        cluster_environment: Any = None,
        checkpoint_io: Any = None,
        precision_plugin: Any = None,
        process_group_backend: str | None = None,
        timeout: timedelta | None = default_pg_timeout,
        start_method: Literal["popen", "spawn", "fork", "forkserver"] = "popen",
        bucket_mb: float = BUCKET_BYTES / 2**20,
    ) -> None:
        super().__init__(
            accelerator=accelerator,
            parallel_devices=parallel_devices,
            cluster_environment=cluster_environment,
            checkpoint_io=checkpoint_io,
            precision_plugin=precision_plugin,
            process_group_backend=process_group_backend,
            timeout=timeout,
            start_method=start_method,
        )
        self.bucket_bytes = int(bucket_mb * 2**20)
        self._hooks: list[RemovableHandle] = []
        self._index: dict[nn.Parameter, int] = {}
        self._ready: set[int] = set()  # parameters that received a gradient in the current backward

    def configure_ddp(self) -> None:
        # No wrapper: rank 0's weights and buffers once, then a hook marks each parameter whose
        # gradient a backward accumulated (frozen networks and no_grad passes mark nothing).
        assert self.model is not None
        _sync_module_states(self.model)
        for index, parameter in enumerate(self.model.parameters()):
            self._index[parameter] = index
            trainable = parameter.requires_grad  # frozen now (Freeze-D, an EMA copy) may train later
            parameter.requires_grad_(True)  # a hook needs it at registration only
            self._hooks.append(parameter.register_post_accumulate_grad_hook(self._mark_ready))
            parameter.requires_grad_(trainable)

    def _mark_ready(self, parameter: Tensor) -> None:
        self._ready.add(self._index[parameter])

    def post_backward(self, closure_loss: Tensor) -> None:
        ready, self._ready = sorted(self._ready), set()  # parameter order: the same on every process
        if self.world_size == 1:
            return
        parameters = list(self._index)
        # A parameter outside the differentiated path (a toRGB bias under the path-length penalty)
        # is marked with no gradient. Under 16-mixed the gradients are still scaled: the same scale
        # on every process, unscaled after this.
        grads = [parameters[i].grad for i in ready if parameters[i].grad is not None]
        average_across_processes(grads, self.world_size, self.bucket_bytes)

    def training_step(self, *args: Any, **kwargs: Any):
        output = super().training_step(*args, **kwargs)
        if self.world_size > 1:
            # Running statistics each process updated from its own batch. Averaging keeps the sum of
            # per-process accumulators (StyleGAN's ada_stats), and, being linear, gives w_avg and
            # BatchNorm's running mean exactly as one process on the whole batch would.
            average_across_processes(per_process_buffers(self.lightning_module), self.world_size, self.bucket_bytes)
        return output

    def teardown(self) -> None:
        for hook in self._hooks:
            hook.remove()
        self._hooks, self._index, self._ready = [], {}, set()
        super().teardown()


if GANDDPStrategy.strategy_name not in StrategyRegistry:
    StrategyRegistry.register(
        GANDDPStrategy.strategy_name,
        GANDDPStrategy,
        description="DDP that all-reduces only the gradients each GAN phase produced (no DistributedDataParallel wrapper)",
    )
