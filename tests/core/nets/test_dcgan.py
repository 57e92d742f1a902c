import pytest
import torch

from gan_lightning.core.nets.dcgan import DCGANDiscriminator, DCGANGenerator


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("resolution", [32, 64, 128])
def test_generator_and_discriminator_shapes(resolution: int) -> None:
    generator = DCGANGenerator(resolution, z_dim=16, width=8, channels=3)
    discriminator = DCGANDiscriminator(resolution, width=8, channels=3)
    images = generator(torch.randn(2, 16))
    assert images.shape == (2, 3, resolution, resolution)
    assert images.abs().max() <= 1.0  # tanh output
    assert discriminator(images).shape == (2,)


def test_parameter_counts_match_the_reference_dcgan_at_64px() -> None:
    # The PyTorch DCGAN reference (nz=100, ngf=ndf=64, 3 channels) has 3,576,704 and 2,765,568 parameters.
    assert count(DCGANGenerator(64, z_dim=100, width=64, channels=3)) == 3_576_704
    assert count(DCGANDiscriminator(64, width=64, channels=3)) == 2_765_568


def test_grayscale_images() -> None:
    images = DCGANGenerator(32, z_dim=8, width=8, channels=1)(torch.randn(3, 8))
    assert images.shape == (3, 1, 32, 32)
    assert DCGANDiscriminator(32, width=8, channels=1)(images).shape == (3,)


@pytest.mark.parametrize("resolution", [16, 48, 256])
def test_unsupported_resolution_is_a_clear_error(resolution: int) -> None:
    with pytest.raises(ValueError, match=f"must be one of 32, 64, 128, got {resolution}"):
        DCGANGenerator(resolution)
    with pytest.raises(ValueError, match="must be one of"):
        DCGANDiscriminator(resolution)


def test_layer_norm_discriminator_is_per_sample() -> None:
    # WGAN-GP needs D(x_i) to depend on x_i only: changing one sample must not change another's logit.
    discriminator = DCGANDiscriminator(32, width=8, norm="layer").eval()
    x = torch.randn(4, 3, 32, 32)
    y = x.clone()
    y[0] = torch.randn(3, 32, 32)
    torch.testing.assert_close(discriminator(x)[1:], discriminator(y)[1:])
