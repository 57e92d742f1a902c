"""StyleGAN2 networks: their settings in one place, shapes, NVlabs' parameter counts, truncation,
noise modes, errors."""

from __future__ import annotations

import dataclasses
import inspect

import pytest
import torch

from gan_lightning.common.errors import UserError
from gan_lightning.core.nets.stylegan2 import (
    Discriminator,
    DiscriminatorConfig,
    Generator,
    GeneratorConfig,
    MappingNetwork,
    SynthesisNetwork,
    as_config,
    block_dtype,
    fp16_layers_on_cpu,
    runs_fp16_layers,
)

TINY = GeneratorConfig(z_dim=16, w_dim=16, mapping_layers=2, channel_base=256, channel_max=32)
TINY_D = DiscriminatorConfig(channel_base=256, channel_max=32)


def tiny_discriminator(resolution: int = 32, **overrides) -> Discriminator:
    return Discriminator(resolution, 3, dataclasses.replace(TINY_D, **overrides))


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def tiny_generator(resolution: int = 32, **overrides) -> Generator:
    torch.manual_seed(0)
    generator = Generator(resolution, 3, dataclasses.replace(TINY, **overrides))
    with torch.no_grad():  # non-zero noise strengths and w_avg, so noise modes and truncation show
        for name, p in generator.named_parameters():
            if name.endswith("noise.strength"):
                p.fill_(0.3)
        generator.mapping.w_avg.normal_()
    return generator.eval()


def test_parameter_counts_match_nvlabs_config_f_at_256px() -> None:
    # NVlabs stylegan2-ada-pytorch, 256 px, config F (channel_base 32768, channel_max 512), 8 mapping layers
    with torch.device("meta"):
        assert count(Generator(resolution=256)) == 30_034_338
        assert count(Discriminator(resolution=256)) == 28_864_129


def test_the_config_dataclasses_hold_the_only_defaults() -> None:
    # No network signature repeats a setting: Generator() is Generator(config=GeneratorConfig()).
    with torch.device("meta"):
        default, explicit = Generator(), Generator(config=GeneratorConfig())
        assert default.config == explicit.config == GeneratorConfig()
        assert {k: v.shape for k, v in default.state_dict().items()} == {k: v.shape for k, v in explicit.state_dict().items()}
        assert Discriminator().config == DiscriminatorConfig()
    for cls, config in ((Generator, GeneratorConfig), (Discriminator, DiscriminatorConfig)):
        assert list(inspect.signature(cls).parameters) == ["resolution", "channels", "config"]
    for network in (MappingNetwork, SynthesisNetwork):
        settings = {f.name for f in dataclasses.fields(GeneratorConfig)} | {"num_layers", "lr_multiplier", "w_avg_beta"}
        defaults = [n for n, p in inspect.signature(network).parameters.items() if n in settings and p.default is not p.empty]
        assert not defaults, f"{network.__name__} repeats the defaults of {defaults}"


def test_configs_come_from_dicts_and_reject_bad_values() -> None:
    # A dict is what checkpoints and LightningCLI's hyper-parameters hold; missing fields take defaults.
    assert as_config(GeneratorConfig, {"z_dim": 64}) == GeneratorConfig(z_dim=64)
    assert as_config(GeneratorConfig, TINY) is TINY
    assert Generator(32, 3, {"z_dim": 16, "w_dim": 16, "channel_base": 256}).config == GeneratorConfig(z_dim=16, w_dim=16, channel_base=256)
    with pytest.raises(UserError, match="unknown GeneratorConfig field.* latent_dim"):
        as_config(GeneratorConfig, {"latent_dim": 64})
    with pytest.raises(UserError, match="generator mapping_layers must be at least 1, got 0"):
        GeneratorConfig(mapping_layers=0)
    with pytest.raises(UserError, match="generator w_dim must be at least 1, got 0"):
        GeneratorConfig(w_dim=0)
    with pytest.raises(UserError, match="discriminator mbstd_group_size must be at least 1, got 0"):
        DiscriminatorConfig(mbstd_group_size=0)
    with pytest.raises(UserError, match="discriminator conv_clamp must be > 0 or null, got 0.0"):
        DiscriminatorConfig(conv_clamp=0.0)
    with pytest.raises(UserError, match="gives no channels at 256 px"):
        Generator(256, 3, GeneratorConfig(channel_base=128))
    with pytest.raises(dataclasses.FrozenInstanceError):  # safe as the default of every StyleGAN
        GeneratorConfig().z_dim = 3  # type: ignore[misc]


def test_stylegan_print_config_shows_the_network_settings_as_nested_groups() -> None:
    from jsonargparse import ArgumentParser

    from gan_lightning.training.models.stylegan import StyleGAN

    parser = ArgumentParser(exit_on_error=False)
    parser.add_class_arguments(StyleGAN, "model")
    shown = parser.dump(parser.parse_args([]), skip_none=False)  # what --print_config prints
    defaults = "".join(f"    {f.name}: {'null' if f.default is None else f.default}\n" for f in dataclasses.fields(GeneratorConfig))
    assert f"  generator:\n{defaults}" in shown
    assert "  discriminator:\n    c_dim: 0\n" in shown and "    mbstd_group_size: 4\n" in shown

    args = ["--model.resolution", "32", "--model.generator.z_dim", "8", "--model.generator.w_dim", "8",
            "--model.generator.channel_base", "128", "--model.discriminator.channel_base", "128",
            "--model.generator.channel_max", "8", "--model.discriminator.channel_max", "8", "--model.fid_features", "shapes"]  # fmt: skip
    model = parser.instantiate(parser.parse_args(args)).model
    assert model.generator.config == GeneratorConfig(z_dim=8, w_dim=8, channel_base=128, channel_max=8)
    assert model.hparams.generator == dataclasses.asdict(model.generator.config)  # plain data in checkpoints


@pytest.mark.parametrize("resolution", [32, 64])
def test_generator_and_discriminator_shapes(resolution: int) -> None:
    generator = tiny_generator(resolution=resolution)
    discriminator = tiny_discriminator(resolution)
    z = torch.randn(4, 16)
    ws = generator.mapping(z)
    num_ws = 2 * (resolution.bit_length() - 1) - 2  # two per block after 4x4, one at 4x4, plus the last toRGB
    assert generator.num_ws == num_ws and ws.shape == (4, num_ws, 16)
    images = generator.synthesis(ws, noise_mode="const")
    assert images.shape == (4, 3, resolution, resolution)
    assert torch.equal(images, generator(z, noise_mode="const"))
    assert discriminator(images).shape == (4, 1)


def test_images_are_roughly_in_minus_one_to_one_at_initialisation() -> None:
    images = tiny_generator()(torch.randn(8, 16), noise_mode="const")
    assert images.abs().mean().item() < 1.5


def test_channel_widths_follow_nvlabs_formula() -> None:
    with torch.device("meta"):
        generator = Generator(256, 3, GeneratorConfig(channel_base=16384, channel_max=512))
    widths = {name: block.out_channels for name, block in generator.synthesis.blocks.items()}
    assert widths == {"4x4": 512, "8x8": 512, "16x16": 512, "32x32": 512, "64x64": 256, "128x128": 128, "256x256": 64}


def test_truncation_psi_zero_gives_w_avg_and_cutoff_limits_it() -> None:
    generator = tiny_generator()
    z = torch.randn(3, 16)
    ws = generator.mapping(z, truncation_psi=0.0)
    assert torch.allclose(ws, generator.mapping.w_avg.expand_as(ws))
    plain = generator.mapping(z)
    cut = generator.mapping(z, truncation_psi=0.0, truncation_cutoff=2)
    assert torch.allclose(cut[:, :2], generator.mapping.w_avg.expand(3, 2, 16))
    assert torch.equal(cut[:, 2:], plain[:, 2:])
    half = generator.mapping(z, truncation_psi=0.5)
    assert torch.allclose(half, generator.mapping.w_avg + 0.5 * (plain - generator.mapping.w_avg), atol=1e-6)


def test_w_avg_is_tracked_only_in_training() -> None:
    generator = tiny_generator()
    before = generator.mapping.w_avg.clone()
    generator.mapping(torch.randn(4, 16))
    assert torch.equal(generator.mapping.w_avg, before)
    generator.train().mapping(torch.randn(4, 16))
    assert not torch.equal(generator.mapping.w_avg, before)


def test_noise_modes() -> None:
    generator = tiny_generator()
    z = torch.randn(2, 16)
    const = generator(z, noise_mode="const")
    assert torch.equal(const, generator(z, noise_mode="const"))
    none = generator(z, noise_mode="none")
    assert torch.equal(none, generator(z, noise_mode="none")) and not torch.allclose(none, const)
    assert not torch.equal(generator(z, noise_mode="random"), generator(z, noise_mode="random"))
    assert len(generator.synthesis.noise_buffers()) == generator.num_ws - 1  # one per synthesis layer
    with pytest.raises(UserError, match="unknown noise_mode 'fixed'; allowed: random, const, none"):
        generator(z, noise_mode="fixed")


def test_fused_and_unfused_modulated_convolutions_agree() -> None:
    generator = tiny_generator()
    ws = generator.mapping(torch.randn(3, 16))
    fused = generator.synthesis(ws, noise_mode="const", fused_modconv=True)
    assert torch.allclose(fused, generator.synthesis(ws, noise_mode="const", fused_modconv=False), atol=1e-5)


def test_w_plus_rows_drive_their_own_layers() -> None:
    generator = tiny_generator()
    ws = generator.mapping(torch.randn(1, 16))
    mixed = ws.clone()
    mixed[:, -1] = generator.mapping(torch.randn(1, 16))[:, -1]  # change only the last toRGB's style
    assert not torch.equal(generator.synthesis(ws, noise_mode="const"), generator.synthesis(mixed, noise_mode="const"))


def test_class_conditional_generator_and_discriminator() -> None:
    generator = tiny_generator(c_dim=5)
    discriminator = tiny_discriminator(c_dim=5)
    c = torch.nn.functional.one_hot(torch.tensor([0, 3]), 5).float()
    images = generator(torch.randn(2, 16), c)
    assert images.shape == (2, 3, 32, 32)
    assert discriminator(images, c).shape == (2, 1)
    with pytest.raises(ValueError, match=r"class labels c must have shape \(N, 5\)"):
        generator(torch.randn(2, 16))


def test_gradients_reach_every_parameter() -> None:
    generator, discriminator = tiny_generator().train(), tiny_discriminator()
    discriminator(generator(torch.randn(4, 16))).sum().backward()
    for module in (generator, discriminator):
        missing = [name for name, p in module.named_parameters() if p.grad is None]
        assert not missing


@pytest.mark.parametrize("resolution", [16, 48, 2048, 100])
def test_unsupported_resolution_is_a_clear_error(resolution: int) -> None:
    with pytest.raises(UserError, match=f"power of two from 32 to 1024, got {resolution}"):
        Generator(resolution, 3, TINY)
    with pytest.raises(UserError, match=f"got {resolution}"):
        Discriminator(resolution, 3, TINY_D)


def test_fp16_blocks_run_in_half_precision_with_clamping() -> None:
    # fp16 blocks switch on under CUDA; fp16_layers_on_cpu runs the same half path on CPU.
    generator = tiny_generator(num_fp16_res=2, conv_clamp=256.0)
    discriminator = tiny_discriminator(num_fp16_res=2, conv_clamp=256.0)
    assert [b.use_fp16 for b in generator.synthesis.blocks.values()] == [False, False, True, True]
    z = torch.randn(4, 16)
    with fp16_layers_on_cpu():
        images = generator(z, noise_mode="const")
        assert images.dtype == torch.float32 and torch.isfinite(images).all()
        reference = generator(z, noise_mode="const")  # same path twice: deterministic
        torch.testing.assert_close(images, reference)
    full = generator(z, noise_mode="const")
    assert (images - full).abs().max() < 0.05 * full.abs().max()  # half precision stays close to fp32
    with fp16_layers_on_cpu():
        logits = discriminator(images)
    assert logits.dtype == torch.float32 and torch.isfinite(logits).all()


def test_fp16_layers_on_cpu_switches_the_marked_blocks_inside_its_block_only() -> None:
    cpu = torch.device("cpu")
    generator = tiny_generator(num_fp16_res=2, conv_clamp=256.0)
    assert block_dtype(True, cpu) == torch.float32 and not runs_fp16_layers(generator)
    with fp16_layers_on_cpu():
        assert block_dtype(True, cpu) == torch.float16 and block_dtype(False, cpu) == torch.float32
        assert runs_fp16_layers(generator) and runs_fp16_layers(tiny_discriminator(num_fp16_res=1))
        assert not runs_fp16_layers(tiny_generator()) and not runs_fp16_layers(tiny_discriminator())  # num_fp16_res 0
        with fp16_layers_on_cpu(False):
            assert block_dtype(True, cpu) == torch.float32
        assert block_dtype(True, cpu) == torch.float16
    assert block_dtype(True, cpu) == torch.float32 and block_dtype(True, torch.device("cuda")) == torch.float16
