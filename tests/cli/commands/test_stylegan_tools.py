"""StyleGAN tools on a tiny checkpoint: generate with truncation, style-mix, interpolate, project."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from PIL import Image

from gan_lightning.cli.main import main
from gan_lightning.core.nets.stylegan2 import Generator, GeneratorConfig
from gan_lightning.cli.commands.project import project
from gan_lightning.cli.stylegan_arguments import parse_int_list

CONFIG = GeneratorConfig(z_dim=16, w_dim=16, mapping_layers=2, channel_base=256, channel_max=16)
HYPER_PARAMETERS = {"resolution": 32, "channels": 3, "generator": dataclasses.asdict(CONFIG)}


@pytest.fixture
def tiny_checkpoint(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    generator = Generator(32, 3, CONFIG)
    with torch.no_grad():
        for name, p in generator.named_parameters():
            if name.endswith("noise.strength"):
                p.fill_(0.1)
    path = tmp_path / "tiny.ckpt"
    state = {f"generator_ema.{k}": v for k, v in generator.state_dict().items()}
    torch.save({"algorithm": "StyleGAN", "hyper_parameters": HYPER_PARAMETERS, "state_dict": state}, path)
    return path


def test_parse_seed_and_layer_lists() -> None:
    assert parse_int_list("1,2,5-7", "--rows") == [1, 2, 5, 6, 7]
    from gan_lightning.common.errors import UserError

    with pytest.raises(UserError, match="--rows 'a-b' is not a list"):
        parse_int_list("a-b", "--rows")


def test_generate_with_truncation_and_noise_mode(tiny_checkpoint: Path, tmp_path: Path) -> None:
    main(["generate", "--ckpt", str(tiny_checkpoint), "--num", "4", "--truncation", "0.5", "--noise-mode", "none", "--out", str(tmp_path / "g.png")])
    assert Image.open(tmp_path / "g.png").size == (2 * 34 + 2, 2 * 34 + 2)


def test_style_mix_grid_has_a_row_and_column_of_sources(tiny_checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "mix.png"
    main(["style-mix", "--ckpt", str(tiny_checkpoint), "--rows", "1,2", "--cols", "3-5", "--styles", "0-3", "--out", str(out)])
    assert Image.open(out).size == (4 * 34 + 2, 3 * 34 + 2)  # (cols + 1) x (rows + 1) tiles of 32 + 2 px padding


def test_style_mix_rejects_layers_the_generator_does_not_have(tiny_checkpoint: Path, tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit):
        main(["style-mix", "--ckpt", str(tiny_checkpoint), "--rows", "1", "--cols", "2", "--styles", "0-20", "--out", str(tmp_path / "m.png")])
    assert "out of range: this generator has layers 0-7" in capsys.readouterr().err


@pytest.mark.parametrize("space", ["w", "z"])
def test_interpolate_writes_a_gif_through_the_seeds(tiny_checkpoint: Path, tmp_path: Path, space: str) -> None:
    out = tmp_path / "walk.gif"
    main(["interpolate", "--ckpt", str(tiny_checkpoint), "--seeds", "1,2,3", "--steps", "4", "--space", space, "--out", str(out)])
    gif = Image.open(out)
    assert gif.n_frames == 2 * 4 + 1 and gif.size == (32, 32)
    main(["interpolate", "--ckpt", str(tiny_checkpoint), "--seeds", "1,2", "--steps", "3", "--loop", "--out", str(tmp_path / "frames") + "/"])
    assert len(list((tmp_path / "frames").glob("*.png"))) == 6


def test_projection_reconstructs_a_generated_image(tiny_checkpoint: Path) -> None:
    checkpoint = torch.load(tiny_checkpoint, weights_only=True)
    generator = Generator(32, 3, CONFIG)
    generator.load_state_dict({k.removeprefix("generator_ema."): v for k, v in checkpoint["state_dict"].items()})
    generator.eval().requires_grad_(False)
    with torch.no_grad():
        target = generator(torch.randn(1, 16, generator=torch.Generator().manual_seed(7)), noise_mode="const")
    for space in ("w", "w+"):
        ws, losses = project(generator, target, space=space, steps=60, lr=0.1, w_avg_samples=500)
        assert ws.shape == (1, generator.num_ws, 16)
        with torch.no_grad():
            error = (generator.synthesis(ws, noise_mode="const") - target).square().mean().item()
            start = (generator.synthesis(generator.mapping.w_avg.expand(1, generator.num_ws, -1), noise_mode="const") - target).square().mean().item()
        assert error < 0.5 * start, (space, start, error)
        if space == "w":
            assert torch.equal(ws[:, 0], ws[:, -1])  # one w shared by all layers


def test_project_cli_inversion_and_style_transfer(tiny_checkpoint: Path, tmp_path: Path) -> None:
    with torch.no_grad():
        images = (torch.rand(2, 32, 32, 3) * 255).to(torch.uint8).numpy()
    Image.fromarray(images[0]).save(tmp_path / "a.png")
    Image.fromarray(images[1]).resize((48, 40)).save(tmp_path / "b.png")  # any size: resized and centre-cropped
    main(["project", "--ckpt", str(tiny_checkpoint), "--target", str(tmp_path / "a.png"), "--steps", "5", "--w-avg-samples", "50", "--out", str(tmp_path / "p")])
    saved = torch.load(tmp_path / "p" / "target_ws.pt", weights_only=True)
    assert saved["ws"].shape == (8, 16) and (tmp_path / "p" / "target_projection.png").is_file()
    main(["project", "--ckpt", str(tiny_checkpoint), "--content", str(tmp_path / "a.png"), "--style", str(tmp_path / "b.png"),
          "--coarse-layers", "3", "--steps", "5", "--w-avg-samples", "50", "--out", str(tmp_path / "s")])  # fmt: skip
    assert Image.open(tmp_path / "s" / "stylized.png").size == (32, 32)
    assert (tmp_path / "s" / "overview.png").is_file()


def test_project_needs_a_target_or_a_content_style_pair(tiny_checkpoint: Path, tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit):
        main(["project", "--ckpt", str(tiny_checkpoint), "--content", str(tmp_path / "a.png"), "--out", str(tmp_path / "p")])
    assert "give either --target IMAGE" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["generate", "style_mix", "interpolate"])
def test_noise_mode_choices_are_the_networks_noise_modes(command: str) -> None:
    import argparse
    import importlib

    from gan_lightning.core.nets.layers import NOISE_MODES

    parser = argparse.ArgumentParser()
    importlib.import_module(f"gan_lightning.cli.commands.{command}").add_arguments(parser)
    (action,) = [a for a in parser._actions if "--noise-mode" in a.option_strings]
    assert tuple(action.choices) == NOISE_MODES
