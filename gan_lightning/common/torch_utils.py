"""Plain-torch helpers the training and inference code share: module modes, EMA, gradient norms,
pixels in tanh's argument."""

from __future__ import annotations

import contextlib
import weakref
from typing import Iterable, Iterator

import torch
from torch import Tensor, nn

# How far pixels are pulled in from -1 and 1 before atanh (an image optimised or changed in tanh's
# argument). tanh's slope at atanh(1 - m) is about 2m: with an eighth of an 8-bit level (1e-3) the
# black and white of a silhouette or a logo got a 500th of the gradient and stayed as they were (a
# black disc on white did not move at all, tests/core/test_gatys.py; a black horse on white came out
# of the fast neural generator unchanged, docs/style_transfer.md); at 0.05 they get a tenth, and a
# white left alone comes back as 0.95 (about 249 of 255).
TANH_MARGIN = 0.05


def tanh_argument(pixels: Tensor) -> Tensor:
    """``atanh`` of pixels in [-1, 1], pulled in by TANH_MARGIN: finite, and black and white can still move."""
    return torch.atanh(pixels.clamp(-1 + TANH_MARGIN, 1 - TANH_MARGIN))


@contextlib.contextmanager
def eval_mode(module: nn.Module) -> Iterator[nn.Module]:
    """Temporarily in eval mode (BatchNorm uses running statistics), restored afterwards."""
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)


@contextlib.contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """PyTorch's random numbers on the CPU and on ``device`` start from ``seed`` inside the block; the
    generators' states outside it are left as they were."""
    devices = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.random.default_generator.manual_seed(seed)
        for index in devices:  # this GPU's alone: the others' states are not forked
            with torch.cuda.device(index):
                torch.cuda.manual_seed(seed)
        yield


@contextlib.contextmanager
def frozen(module: nn.Module) -> Iterator[nn.Module]:
    """No parameter gradients for ``module`` inside the block (the discriminator during the generator's
    step): inputs still get gradients through it, its own weights get none."""
    flags = [p.requires_grad for p in module.parameters()]
    module.requires_grad_(False)
    try:
        yield module
    finally:
        for p, flag in zip(module.parameters(), flags):
            p.requires_grad_(flag)


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, beta: float) -> None:
    """ema <- beta * ema + (1 - beta) * model for parameters; buffers (BatchNorm statistics,
    StyleGAN's w_avg) are copied. Written by hand because beta changes per step (StyleGAN ramp-up)."""
    torch._foreach_lerp_(list(ema.parameters()), list(model.parameters()), 1.0 - beta)
    for ema_buffer, buffer in zip(ema.buffers(), model.buffers()):
        ema_buffer.copy_(buffer)


def grad_norm(parameters: Iterable[nn.Parameter], loss_scale: float = 1.0) -> Tensor:
    """L2 norm of all gradients, undone from the GradScaler's scale so it reads the same in any precision."""
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads))) / loss_scale


# Host copies of scalar buffers: id(tensor) -> (weak reference to it, its version counter when
# recorded, value). Keyed by identity: a WeakKeyDictionary compares tensors with ==, a device read.
_host_copies: dict[int, tuple[weakref.ref, int, int | float]] = {}


def _remember(tensor: Tensor, value: int | float) -> None:
    key = id(tensor)
    _host_copies[key] = (weakref.ref(tensor, lambda _: _host_copies.pop(key, None)), tensor._version, value)


def host_scalar(tensor: Tensor) -> int | float:
    """``tensor.item()``, without waiting for the GPU when the value is already known on the host: a
    value read before or written by ``set_scalar`` is reused while the tensor is unchanged in place
    (its version counter; loading a state dict or ``fill_`` changes it). For the training loop's
    counters and ADA's p, which Python control flow reads every batch."""
    if tensor.is_inference():  # no version counter to tell whether it changed
        return tensor.item()
    known = _host_copies.get(id(tensor))
    if known is not None and known[0]() is tensor and known[1] == tensor._version:
        return known[2]
    value = tensor.item()
    _remember(tensor, value)
    return value


def set_scalar(tensor: Tensor, value: int) -> None:
    """``tensor.fill_(value)`` for an integer counter, remembered on the host so that ``host_scalar``
    reads no device."""
    if tensor.is_floating_point():
        raise TypeError(f"set_scalar keeps integer counters, got a {tensor.dtype} tensor")
    tensor.fill_(value)
    _remember(tensor, int(value))
