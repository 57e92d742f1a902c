"""R3GAN networks: the official presets' parameter counts, shapes, conditioning, the initialisation
(each residual block starts as the identity, MSR variances) and bfloat16 stages."""

from __future__ import annotations

import math

import pytest
import torch

from gan_lightning.common.errors import UserError
from gan_lightning.core.nets.r3gan import (
    R3GANDiscriminator,
    R3GANDiscriminatorConfig,
    R3GANGenerator,
    R3GANGeneratorConfig,
    ResidualBlock,
    check_resolution,
    interpolation_taps,
)

# Networks of brownvc/R3GAN's train.py presets (per stage from 4x4 up) and their parameter counts,
# counted from their code (training/networks.py; conditional: ConditionEmbeddingDimension z_dim for G,
# the 4x4 width for D, as their train.py) by `python benchmarks/compare_r3gan_step.py CLONE --counts`
# (benchmarks/results/compare_r3gan_counts.json).
OFFICIAL = {
    # preset: (widths, cardinalities, c_dim, G parameters, D parameters)
    "CIFAR10": ((768,) * 4, (96,) * 4, 0, 20_732_160, 20_683_776),
    "CIFAR10 conditional": ((768,) * 4, (96,) * 4, 10, 20_781_952, 21_280_512),
    "FFHQ-64": ((768,) * 4 + (384,), (96,) * 4 + (48,), 0, 22_429_824, 22_381_440),
    "FFHQ-256": ((768,) * 4 + (384, 192, 96), (96,) * 4 + (48, 24, 12), 0, 23_057_952, 23_009_568),
    "ImageNet-32": ((1536,) * 4, (96,) * 4, 1000, 82_914_304, 86_548_992),
    "ImageNet-64": ((1536,) * 5, (96,) * 5, 1000, 103_570_432, 107_205_120),
}

TINY = dict(widths=(16, 16, 8), cardinalities=(4, 4, 2), blocks=(1, 1, 1))


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("preset", list(OFFICIAL))
def test_networks_of_each_official_preset_have_its_parameter_count(preset: str) -> None:
    widths, cardinalities, c_dim, g_count, d_count = OFFICIAL[preset]
    settings = dict(widths=widths, cardinalities=cardinalities, blocks=(2,) * len(widths), c_dim=c_dim)
    with torch.device("meta"):  # counted without allocating the weights
        generator = R3GANGenerator(R3GANGeneratorConfig(**settings, embedding_dim=64 if c_dim else 0))
        discriminator = R3GANDiscriminator(R3GANDiscriminatorConfig(**settings, embedding_dim=widths[0] if c_dim else 0))
    assert (count(generator), count(discriminator)) == (g_count, d_count)


def test_shapes_unconditional_and_conditional() -> None:
    torch.manual_seed(0)
    generator = R3GANGenerator(R3GANGeneratorConfig(**TINY, z_dim=8))
    discriminator = R3GANDiscriminator(R3GANDiscriminatorConfig(**TINY))
    images = generator(torch.randn(3, 8))
    assert images.shape == (3, 3, 16, 16) and images.dtype == torch.float32
    assert discriminator(images).shape == (3,)

    c = torch.eye(5)[[0, 3]]
    generator = R3GANGenerator(R3GANGeneratorConfig(**TINY, z_dim=8, c_dim=5, embedding_dim=8))
    discriminator = R3GANDiscriminator(R3GANDiscriminatorConfig(**TINY, c_dim=5, embedding_dim=16))
    images = generator(torch.randn(2, 8), c)
    assert images.shape == (2, 3, 16, 16) and discriminator(images, c).shape == (2,)
    # the class changes the image and the logit
    assert not torch.allclose(generator(torch.zeros(1, 8) + 1, c[:1]), generator(torch.zeros(1, 8) + 1, c[1:]))
    assert not torch.allclose(discriminator(images[:1], c[:1]), discriminator(images[:1], c[1:]))
    with pytest.raises(UserError, match="class-conditional"):
        generator(torch.randn(2, 8))


def test_each_residual_block_starts_as_the_identity_with_msr_variances() -> None:
    torch.manual_seed(0)
    block = ResidualBlock(64, cardinality=8, expansion=2, kernel_size=3, num_blocks=16)
    x = torch.randn(2, 64, 8, 8)
    assert torch.equal(block(x), x)  # the compression starts at zero
    gain = math.sqrt(2 / (1 + 0.2**2)) * 16 ** (-1 / 4)
    assert block.expand.weight.std().item() == pytest.approx(gain / math.sqrt(64), rel=0.05)
    assert block.grouped.weight.std().item() == pytest.approx(gain / math.sqrt(128 // 8 * 9), rel=0.05)


def test_resampling_filter_is_the_setting_convolved_with_a_box() -> None:
    assert interpolation_taps((1, 2, 1)).tolist() == [1 / 8, 3 / 8, 3 / 8, 1 / 8]


def test_bf16_stages_are_the_highest_resolutions() -> None:
    generator = R3GANGenerator(R3GANGeneratorConfig(**TINY, z_dim=8, bf16_stages=2))
    discriminator = R3GANDiscriminator(R3GANDiscriminatorConfig(**TINY, bf16_stages=2))
    assert [stage.dtype for stage in generator.stages] == [torch.float32, torch.bfloat16, torch.bfloat16]
    assert [stage.dtype for stage in discriminator.stages] == [torch.bfloat16, torch.bfloat16, torch.float32]  # 16 px first
    images = generator(torch.randn(2, 8))
    assert images.dtype == torch.float32 and discriminator(images).dtype == torch.float32


def test_bad_settings_are_one_line_errors() -> None:
    with pytest.raises(UserError, match="one value per stage each, got 3, 2 and 3"):
        R3GANGeneratorConfig(widths=(16, 16, 8), cardinalities=(4, 4), blocks=(1, 1, 1))
    with pytest.raises(UserError, match="width 8 x expansion 2 must be a multiple of its cardinality 3"):
        R3GANDiscriminatorConfig(widths=(8,), cardinalities=(3,), blocks=(1,))
    with pytest.raises(UserError, match="3 stages from 4x4 make 16 px images, but the resolution is 32"):
        check_resolution(R3GANGeneratorConfig(**TINY), 32)
    with pytest.raises(UserError, match="embedding_dim must be at least 1"):
        R3GANGeneratorConfig(**TINY, c_dim=10)
