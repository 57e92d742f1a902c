"""EQ-T with integer translations (NVlabs' eqt50k_int) equals a direct computation of its definition
on a fixed small StyleGAN3 generator (the T snapshot written by NVlabs' code, converted)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from gan_lightning.checkpoints.formats.nvlabs import convert_nvlabs, load_nvlabs_pickle
from gan_lightning.cli.main import main
from gan_lightning.common.errors import UserError
from gan_lightning.common.sampling import latents_for_seeds
from gan_lightning.core.nets.stylegan2 import Generator, GeneratorConfig
from gan_lightning.core.nets.stylegan3 import Generator as StyleGAN3Generator
from gan_lightning.evaluation.equivariance import eqt_int
from tests.conftest import ASSETS


@pytest.fixture(scope="module")
def generator() -> StyleGAN3Generator:
    checkpoint = convert_nvlabs(load_nvlabs_pickle(ASSETS / "nvlabs_stylegan3_t32.pkl"))
    hp = checkpoint["hyper_parameters"]
    g = StyleGAN3Generator(hp["resolution"], hp["channels"], hp["stylegan3"])
    g.load_state_dict({k.removeprefix("generator_ema."): v for k, v in checkpoint["state_dict"].items() if k.startswith("generator_ema.")})
    return g.eval()


@torch.no_grad()
def test_eqt_int_is_the_psnr_of_translated_input_against_shifted_image(generator: StyleGAN3Generator) -> None:
    seeds, batch = list(range(8)), 4
    measured = eqt_int(generator, seeds, batch_size=batch, translation_seed=3)
    # The definition, directly: per batch one translation t in +-1/8 of the side, whole pixels; the
    # image of the input translated by t against the image moved by t, over the pixels both cover.
    draw = torch.Generator().manual_seed(3)
    transform = generator.synthesis.input.transform
    saved = transform.clone()
    squared, count = 0.0, 0
    for start in range(0, len(seeds), batch):
        ws = generator.mapping(latents_for_seeds(seeds[start : start + batch], generator.z_dim), None)
        dx, dy = (round(float(v) * 32) for v in (torch.rand(2, generator=draw) * 2 - 1) * 0.125)
        transform.copy_(torch.eye(3))
        image = generator.synthesis(ws)
        transform.copy_(torch.tensor([[1.0, 0.0, -dx / 32], [0.0, 1.0, -dy / 32], [0.0, 0.0, 1.0]]))
        moved = generator.synthesis(ws)
        for y in range(32):
            for x in range(32):
                if 0 <= y - dy < 32 and 0 <= x - dx < 32:
                    squared += float((moved[:, :, y, x] - image[:, :, y - dy, x - dx]).square().sum())
                    count += moved.shape[0] * moved.shape[1]
    transform.copy_(saved)
    assert math.isclose(measured, 10 * math.log10(4 / (squared / count)), rel_tol=1e-6)
    assert torch.equal(generator.synthesis.input.transform, saved)  # left as it was


@torch.no_grad()
def test_a_translated_input_moves_the_image_the_way_the_shift_does(generator: StyleGAN3Generator) -> None:
    ws = generator.mapping(torch.randn(2, generator.z_dim), None)
    transform = generator.synthesis.input.transform
    transform.copy_(torch.eye(3))
    image = generator.synthesis(ws)
    transform[0, 2] = -3 / 32  # 3 pixels to the right
    moved = generator.synthesis(ws)
    assert (moved[..., 3:] - image[..., :-3]).abs().max() < 1e-3  # equivariant: T keeps whole-pixel shifts
    assert (moved[..., :-3] - image[..., 3:]).abs().max() > 0.05  # the other way is not the same


def test_a_generator_without_an_input_transform_is_named() -> None:
    g = Generator(32, 3, GeneratorConfig(z_dim=8, w_dim=8, mapping_layers=1, channel_base=128, channel_max=8))
    with pytest.raises(UserError, match="StyleGAN3"):
        eqt_int(g, [0, 1], batch_size=2)


def test_evaluate_reports_eqt50k_int_of_a_stylegan3_checkpoint(generator: StyleGAN3Generator, tmp_path: Path, capsys) -> None:
    main(["convert", "--from", "nvlabs", str(ASSETS / "nvlabs_stylegan3_t32.pkl"), "--out", str(tmp_path / "t.ckpt")])
    capsys.readouterr()
    main(["evaluate", "--ckpt", str(tmp_path / "t.ckpt"), "--metrics", "eqt50k_int", "--num-gen", "8", "--batch-size", "4"])
    record = json.loads(capsys.readouterr().out.splitlines()[0])
    assert record["metric"] == "eqt50k_int" and record["settings"]["detector"] is None
    assert math.isclose(record["results"]["eqt50k_int"], eqt_int(generator, range(8), batch_size=4), rel_tol=1e-4)
