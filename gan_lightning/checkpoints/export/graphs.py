"""The generator as fixed graphs for other runtimes: what each algorithm's exported model takes and
gives, and which input sizes stay free.

- VanillaGAN: ``z (N, z_dim) -> image``.
- StyleGAN: ``z (N, z_dim), psi () -> image``, and the pair ``mapping: z, psi -> ws`` /
  ``synthesis: ws (N, num_ws, w_dim) -> image`` so apps can mix styles. Noise inputs are the stored
  ``noise_const`` buffers (noise_mode const); convolutions run unfused (one shared weight), since the
  fused path's group count is the batch size and would freeze it.
- StyleTransfer: ``x (N, C, H, W) -> image``. ONNX: any H and W (at least 8). torch.export: H and W
  multiples of 4 (its run-time shape checks reject the padded graph at some sizes; pad with
  reflection and crop back, as ``forward`` does). A generator with noise inputs (``generator.noise``)
  also takes ``noise (N, 3, H, W)``, standard normal values: a graph holds no random generator that
  would draw as PyTorch's does, so its caller draws them (any draw gives the same kind of texture).

Images are in [-1, 1], NCHW, float32.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.export import Dim

from gan_lightning.common.errors import UserError
from gan_lightning.core.nets.resnet import GENERATOR_STRIDE, ResnetGenerator
from gan_lightning.core.nets import stylegan3
from gan_lightning.core.nets.stylegan2 import Generator
from gan_lightning.checkpoints.registry import STYLE_IMAGE_ALGORITHMS

EXAMPLE_BATCH = 2  # traced with 2 so that the batch dimension stays free (1 would be specialised)


@dataclass
class Graph:
    """One exported model: the module, example inputs, names, and which input dimensions stay free."""

    name: str  # "generator", "mapping" or "synthesis"
    module: nn.Module
    inputs: tuple[Tensor, ...]
    input_names: list[str]
    dynamic_shapes: dict[str, Any]
    output_name: str = "image"
    side_multiple: int = 1  # image inputs: H and W must be multiples of this
    # What the exported file must match: the generator's own forward where ``module`` rewrites it.
    reference: nn.Module | None = None

    def expected(self, *inputs: Tensor) -> Tensor:
        return (self.reference or self.module)(*inputs)


class StyleGANImage(nn.Module):
    """z, psi -> image: mapping, truncation toward w_avg by psi (a graph input), synthesis."""

    def __init__(self, generator: Generator) -> None:
        super().__init__()
        self.mapping = StyleGANMapping(generator)
        self.synthesis = StyleGANSynthesis(generator)

    def forward(self, z: Tensor, psi: Tensor) -> Tensor:
        return self.synthesis(self.mapping(z, psi))


class StyleGANMapping(nn.Module):
    """z (N, z_dim), psi () -> ws (N, num_ws, w_dim)."""

    def __init__(self, generator: Generator) -> None:
        super().__init__()
        self.network = generator.mapping

    def forward(self, z: Tensor, psi: Tensor) -> Tensor:
        ws = self.network(z)
        # The truncation trick w' = w_avg + psi (w - w_avg), with psi an input instead of a constant.
        return self.network.w_avg.lerp(ws, psi.to(ws.dtype))


class StyleGANSynthesis(nn.Module):
    """ws (N, num_ws, w_dim) -> image, with the stored noise."""

    def __init__(self, generator: Generator) -> None:
        super().__init__()
        self.network = generator.synthesis

    def forward(self, ws: Tensor) -> Tensor:
        return self.network(ws, noise_mode="const", fused_modconv=False)


class StyleTransferImage(nn.Module):
    """x -> image at any size, as ``ResnetGenerator.forward``, with its padding written so that the
    exported graph keeps H and W free: ``forward`` pads by (-H mod 4) only when that is not 0, a branch
    on the size that export would freeze. Here the image is always reflect-padded by 3 (a superset of
    forward's padding), plus zeros that are always cut off, then cropped to the next multiple of 4:
    the same pixels reach the encoder, and no step depends on H mod 4."""

    def __init__(self, generator: nn.Module) -> None:
        super().__init__()
        self.network = generator

    def forward(self, x: Tensor, noise: Tensor | None = None) -> Tensor:
        height, width = x.shape[2:]
        noise = None if noise is None else self._pad(noise)
        return self.network.transform(self._pad(x), noise)[:, :, :height, :width]

    @staticmethod
    def _pad(x: Tensor) -> Tensor:
        height, width = x.shape[2:]
        stride = GENERATOR_STRIDE
        x = F.pad(x, (0, stride - 1, 0, stride - 1), mode="reflect")
        # The zero rows keep the crop below from ever being the whole tensor (torch.export would
        # otherwise specialise on whether it is).
        x = F.pad(x, (0, stride, 0, stride))
        return x[:, :, : (height + stride - 1) // stride * stride, : (width + stride - 1) // stride * stride]


def _check_exportable(generator: nn.Module, algorithm: str) -> None:
    if algorithm in STYLE_IMAGE_ALGORITHMS:
        raise UserError(
            f"{algorithm} takes a content and a style image; ONNX and torch.export of it are not supported yet: "
            "use the model folder (--format safetensors) instead"
        )
    if algorithm == "StyleGAN":
        assert isinstance(generator, (Generator, stylegan3.Generator))
        if generator.c_dim > 0:
            raise UserError(
                f"this StyleGAN is class-conditional (c_dim={generator.c_dim}); export supports unconditional "
                "generators (c_dim 0) only: use the model folder (--format safetensors) instead"
            )


def graphs_for(generator: nn.Module, algorithm: str, any_size: bool = True) -> list[Graph]:
    """The graphs to export for this algorithm's generator: the whole generator first. ``any_size``
    (StyleTransfer): free H and W through ``StyleTransferImage``, else multiples of 4."""
    _check_exportable(generator, algorithm)
    batch = Dim("batch", min=1)
    if algorithm == "StyleTransfer":
        assert isinstance(generator, ResnetGenerator)
        if any_size:
            image = torch.rand(EXAMPLE_BATCH, generator.in_channels, 18, 23) * 2 - 1
            sides = {2: Dim.DYNAMIC, 3: Dim.DYNAMIC}  # symbolic without trace-time range proofs
            module, multiple = StyleTransferImage(generator), 1
        else:
            image = torch.rand(EXAMPLE_BATCH, generator.in_channels, 4 * GENERATOR_STRIDE, 5 * GENERATOR_STRIDE) * 2 - 1
            sides = {2: GENERATOR_STRIDE * Dim("height_blocks", min=2), 3: GENERATOR_STRIDE * Dim("width_blocks", min=2)}
            module, multiple = generator, GENERATOR_STRIDE
        inputs, names, shapes = (image,), ["x"], {"x": {0: batch, **sides}}
        if generator.noise > 0:
            noise = torch.randn(EXAMPLE_BATCH, generator.NOISE_STAGES, *image.shape[2:])
            inputs, names, shapes = (image, noise), ["x", "noise"], {**shapes, "noise": {0: batch, **sides}}
        return [Graph("generator", module, inputs, names, shapes, side_multiple=multiple, reference=generator)]
    z = torch.randn(EXAMPLE_BATCH, generator.z_dim)
    if algorithm != "StyleGAN":
        return [Graph("generator", generator, (z,), ["z"], {"z": {0: batch}})]
    psi = torch.tensor(0.7)
    mapping = StyleGANMapping(generator)
    with torch.no_grad():
        ws = mapping(z, psi)
    return [
        Graph("generator", StyleGANImage(generator), (z, psi), ["z", "psi"], {"z": {0: batch}, "psi": None}),
        Graph("mapping", mapping, (z, psi), ["z", "psi"], {"z": {0: batch}, "psi": None}, output_name="ws"),
        Graph("synthesis", StyleGANSynthesis(generator), (ws,), ["ws"], {"ws": {0: batch}}),
    ]


def check_inputs(graph: Graph, batch: int = 3) -> tuple[Tensor, ...]:
    """Inputs of another batch size (and for images, another size) than the traced ones: comparing
    outputs on them shows that the free dimensions really are free."""
    generator = torch.Generator().manual_seed(1)
    inputs = []
    for tensor, name in zip(graph.inputs, graph.input_names):
        if name == "psi":
            inputs.append(torch.tensor(0.5))
        elif name == "x":
            _, channels, height, width = tensor.shape
            # sides unlike the traced ones (one not a multiple of 4 where any size is allowed)
            step = graph.side_multiple
            inputs.append(torch.rand(batch, channels, height + 2 * step, width + 3 * step, generator=generator) * 2 - 1)
        elif name == "noise":  # the size of the image before it
            inputs.append(torch.randn(batch, tensor.shape[1], *inputs[-1].shape[2:], generator=generator))
        elif name == "ws":
            inputs.append(tensor[:1].repeat(batch, 1, 1) + 0.1 * torch.randn(batch, *tensor.shape[1:], generator=generator))
        else:
            inputs.append(torch.randn(batch, *tensor.shape[1:], generator=generator))
    return tuple(inputs)
