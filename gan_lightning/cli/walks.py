"""Latent walks that `interpolate` shares: walking in W+ between given points (such as images
inverted by `project`), spherically through Gaussian latents, and how many frames per segment make a
walk of a given length."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import torch
from torch import Tensor

from gan_lightning.common.errors import UserError
from gan_lightning.core.nets.stylegan2 import Generator


def steps_for_duration(duration: float, fps: float, segments: int, loop: bool) -> int:
    """Frames per segment so that the walk lasts ``duration`` seconds at ``fps`` (a walk that does not
    loop ends with one more frame, the last point itself)."""
    frames = duration * fps - (0 if loop else 1)
    return max(1, round(frames / segments))


def read_projected_ws(path: Path, generator: Generator, what: str) -> Tensor:
    """(num_ws, w_dim): the ``ws`` of one ``*_ws.pt`` that `project` wrote, read safely; a bad file
    is one line that starts with ``what``."""
    if not path.is_file():
        raise UserError(f"{what} does not exist (give `project` outputs such as proj/target_ws.pt)")
    try:
        ws = torch.load(path, map_location="cpu", weights_only=True)["ws"]
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, KeyError, TypeError, OSError):
        raise UserError(f"{what} is not a `project` output (a file with 'ws')") from None
    if not isinstance(ws, Tensor):
        raise UserError(f"{what} is not a `project` output (a file with 'ws')")
    if ws.ndim == 3 and ws.shape[0] == 1:
        ws = ws[0]
    expected = (generator.num_ws, generator.w_dim)
    if tuple(ws.shape) != expected:
        raise UserError(f"{what} holds ws of shape {tuple(ws.shape)}; this generator needs {expected}")
    return ws.float()


def load_projected_ws(paths: list[Path], generator: Generator) -> Tensor:
    """(len(paths), num_ws, w_dim): the ``ws`` of each ``*_ws.pt`` that `project` wrote, read safely."""
    points = [read_projected_ws(path, generator, f"--latents: {str(path)!r}") for path in paths]
    return torch.stack(points).to(generator.mapping.w_avg.device)


def walk_ws(points: Tensor, steps: int, loop: bool) -> Tensor:
    """ws for every frame of a linear walk through ``points`` (P, num_ws, w_dim), ``steps`` frames
    from one point to the next; back to the first when ``loop``, else ending on the last."""
    if loop:
        points = torch.cat([points, points[:1]])
    t = (torch.arange(steps, device=points.device, dtype=points.dtype) / steps)[:, None, None]
    frames = [torch.lerp(a[None], b[None], t) for a, b in zip(points[:-1], points[1:])]
    if not loop:
        frames.append(points[-1:])
    return torch.cat(frames)


def slerp(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    """Spherical interpolation between rows of a and b at fractions t (shape (T,))."""
    a_unit, b_unit = a / a.norm(dim=-1, keepdim=True), b / b.norm(dim=-1, keepdim=True)
    omega = torch.acos((a_unit * b_unit).sum(-1).clamp(-1 + 1e-7, 1 - 1e-7))
    t = t[:, None]
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


def walk_z(points: Tensor, steps: int, loop: bool) -> Tensor:
    """z for every frame of a spherical walk through ``points`` (P, z_dim), framed as ``walk_ws``:
    a Gaussian latent keeps its typical norm along the arc, where a straight line would pass near
    the origin, a region the generator rarely saw in training."""
    if loop:
        points = torch.cat([points, points[:1]])
    t = torch.arange(steps, device=points.device, dtype=points.dtype) / steps
    frames = [slerp(a[None], b[None], t) for a, b in zip(points[:-1], points[1:])]
    if not loop:
        frames.append(points[-1:])
    return torch.cat(frames)
