"""`convert --from rosinality`: a rosinality-format checkpoint round trips to the same images."""

from __future__ import annotations

import argparse
import dataclasses
import math
from pathlib import Path

import pytest
import torch

from gan_lightning.common.errors import UserError
from gan_lightning.core.nets.stylegan2 import Generator, GeneratorConfig
from gan_lightning.cli.commands import convert

CONFIG = GeneratorConfig(z_dim=32, w_dim=32, mapping_layers=3, channel_base=512, channel_max=32)


def to_rosinality(generator: Generator) -> dict[str, torch.Tensor]:
    """Our generator's weights under rosinality's names and shapes (the inverse of the conversion)."""
    ours = generator.state_dict()
    state: dict[str, torch.Tensor] = {}
    for i in range(len(generator.mapping.layers)):
        state[f"style.{i + 1}.weight"] = ours[f"mapping.layers.{i}.weight"]
        state[f"style.{i + 1}.bias"] = ours[f"mapping.layers.{i}.bias"]
    state["input.input"] = ours["synthesis.blocks.4x4.const"].unsqueeze(0)
    blur = torch.outer(torch.tensor([1.0, 3, 3, 1]), torch.tensor([1.0, 3, 3, 1])) / 64

    def styled_conv(dst: str, src: str, noise_index: int, upsample: bool) -> None:
        state[f"{dst}.conv.weight"] = ours[f"{src}.weight"].unsqueeze(0)
        state[f"{dst}.conv.modulation.weight"] = ours[f"{src}.affine.weight"]
        state[f"{dst}.conv.modulation.bias"] = ours[f"{src}.affine.bias"]
        state[f"{dst}.noise.weight"] = ours[f"{src}.noise.strength"].reshape(1)
        state[f"{dst}.activate.bias"] = ours[f"{src}.bias"]
        state[f"noises.noise_{noise_index}"] = ours[f"{src}.noise.noise_const"][None, None]
        if upsample:
            state[f"{dst}.conv.blur.kernel"] = blur * 4

    def to_rgb(dst: str, src: str) -> None:
        state[f"{dst}.conv.weight"] = ours[f"{src}.weight"].unsqueeze(0)
        state[f"{dst}.conv.modulation.weight"] = ours[f"{src}.affine.weight"]
        state[f"{dst}.conv.modulation.bias"] = ours[f"{src}.affine.bias"]
        state[f"{dst}.bias"] = ours[f"{src}.bias"].reshape(1, -1, 1, 1)

    styled_conv("conv1", "synthesis.blocks.4x4.conv1", 0, upsample=False)
    to_rgb("to_rgb1", "synthesis.blocks.4x4.torgb")
    for k in range(int(math.log2(generator.resolution)) - 2):
        res = 2 ** (k + 3)
        styled_conv(f"convs.{2 * k}", f"synthesis.blocks.{res}x{res}.conv0", 2 * k + 1, upsample=True)
        styled_conv(f"convs.{2 * k + 1}", f"synthesis.blocks.{res}x{res}.conv1", 2 * k + 2, upsample=False)
        to_rgb(f"to_rgbs.{k}", f"synthesis.blocks.{res}x{res}.torgb")
        state[f"to_rgbs.{k}.upsample.kernel"] = blur * 4
    return {k: v.clone() for k, v in state.items()}


def random_generator(seed: int) -> Generator:
    torch.manual_seed(seed)
    generator = Generator(32, 3, CONFIG)
    with torch.no_grad():  # every tensor non-default, so a mis-mapped one changes the images
        for name, p in generator.named_parameters():
            p.add_(torch.randn_like(p) * 0.2)
        generator.mapping.w_avg.normal_()
    return generator.eval()


def run_convert(*argv: str) -> None:
    parser = argparse.ArgumentParser()
    convert.add_arguments(parser)
    convert.run(parser.parse_args(list(argv)))


def load_ema(path: Path) -> tuple[Generator, dict]:
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    hp = checkpoint["hyper_parameters"]
    generator = Generator(hp["resolution"], hp["channels"], GeneratorConfig(**hp["generator"]))
    state = {k.removeprefix("generator_ema."): v for k, v in checkpoint["state_dict"].items() if k.startswith("generator_ema.")}
    generator.load_state_dict(state)
    return generator.eval(), checkpoint


def test_convert_round_trip_gives_the_same_images(tmp_path: Path) -> None:
    original = random_generator(0)
    training_copy = random_generator(1)
    source = tmp_path / "rosinality.pt"
    ckpt = {
        "g_ema": to_rosinality(original),
        "g": to_rosinality(training_copy),
        "latent_avg": original.mapping.w_avg.clone(),
        "args": argparse.Namespace(size=32, channel_multiplier=2),  # rosinality's train.py stores its args
        "ada_aug_p": 0.2,
    }
    torch.save(ckpt, source)
    out = tmp_path / "converted.ckpt"
    run_convert(str(source), "--from", "rosinality", "--out", str(out))

    converted, checkpoint = load_ema(out)
    assert checkpoint["algorithm"] == "StyleGAN"
    # our checkpoint layout; rosinality's lr_mlp default is GeneratorConfig's, so the rest are defaults
    assert checkpoint["hyper_parameters"] == {"resolution": 32, "channels": 3, "generator": dataclasses.asdict(CONFIG)}
    z = torch.randn(4, 32)
    with torch.no_grad():
        for psi in (1.0, 0.6):
            expected = original(z, truncation_psi=psi, noise_mode="const")
            assert torch.allclose(converted(z, truncation_psi=psi, noise_mode="const"), expected, atol=1e-6)
    g_state = {k.removeprefix("generator."): v for k, v in checkpoint["state_dict"].items() if k.startswith("generator.")}
    assert torch.equal(g_state["synthesis.blocks.32x32.conv1.weight"], training_copy.state_dict()["synthesis.blocks.32x32.conv1.weight"])


def test_convert_estimates_w_avg_when_the_file_has_none(tmp_path: Path) -> None:
    original = random_generator(2)
    torch.save({"g_ema": to_rosinality(original)}, tmp_path / "g.pt")
    run_convert(str(tmp_path / "g.pt"), "--from", "rosinality", "--out", str(tmp_path / "out.ckpt"), "--w-avg-samples", "4000")
    converted, checkpoint = load_ema(tmp_path / "out.ckpt")
    with torch.no_grad():
        mean_w = original.mapping(torch.randn(4000, 32))[:, 0].mean(dim=0)
    assert torch.allclose(converted.mapping.w_avg, mean_w, atol=0.1 * mean_w.abs().mean().item() + 1e-3)
    # without a training copy, both prefixes hold the EMA weights
    sd = checkpoint["state_dict"]
    assert torch.equal(sd["generator.synthesis.blocks.4x4.const"], sd["generator_ema.synthesis.blocks.4x4.const"])


def test_broken_file_is_a_one_line_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="cannot read .*broken.pt.* as a PyTorch checkpoint") as info:
        run_convert(str(broken), "--from", "rosinality", "--out", str(tmp_path / "o.ckpt"))
    assert "\n" not in str(info.value)


def test_missing_file_and_wrong_contents_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="does not exist"):
        run_convert(str(tmp_path / "nope.pt"), "--from", "rosinality", "--out", str(tmp_path / "o.ckpt"))
    torch.save({"state_dict": {}}, tmp_path / "other.pt")
    with pytest.raises(UserError, match="no 'g_ema' state dict"):
        run_convert(str(tmp_path / "other.pt"), "--from", "rosinality", "--out", str(tmp_path / "o.ckpt"))
    state = to_rosinality(random_generator(3))
    del state["convs.1.conv.modulation.weight"]
    torch.save({"g_ema": state}, tmp_path / "partial.pt")
    with pytest.raises(UserError, match="'convs.1.conv.modulation.weight' is missing"):
        run_convert(str(tmp_path / "partial.pt"), "--from", "rosinality", "--out", str(tmp_path / "o.ckpt"))
    assert not (tmp_path / "o.ckpt").exists()


def test_convert_through_the_cli_reports_a_bad_file_on_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from gan_lightning.cli.main import main

    (tmp_path / "broken.pt").write_bytes(b"\x00" * 10)
    with pytest.raises(SystemExit) as exit_info:
        main(["convert", str(tmp_path / "broken.pt"), "--from", "rosinality", "--out", str(tmp_path / "o.ckpt")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: cannot read") and "\n" not in err


def test_converted_checkpoint_loads_for_inference_and_generates(tmp_path: Path) -> None:
    from gan_lightning.cli.main import main
    from gan_lightning.checkpoints.reading import load_generator

    original = random_generator(4)
    torch.save({"g_ema": to_rosinality(original)}, tmp_path / "g.pt")
    run_convert(str(tmp_path / "g.pt"), "--from", "rosinality", "--out", str(tmp_path / "c.ckpt"), "--w-avg-samples", "100")
    generator, checkpoint = load_generator(tmp_path / "c.ckpt")
    z = torch.randn(2, 32)
    with torch.no_grad():
        assert torch.allclose(generator(z, noise_mode="const"), original(z, noise_mode="const"), atol=1e-6)
    main(["generate", "--ckpt", str(tmp_path / "c.ckpt"), "--num", "2", "--truncation", "0.7", "--out", str(tmp_path / "g.png")])
    assert (tmp_path / "g.png").is_file()
