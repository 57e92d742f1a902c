"""StyleGAN3's equivariance metrics (eqt50k_int, eqt50k_frac, eqr50k): equal to a direct, loop-by-loop
computation of their definition on a small generator and on the converted T snapshot written by
NVlabs' code; an identity transform scores as the definition says; a translation-equivariant toy
generator scores higher than one with a pattern stuck to the pixel grid; generators without a
transformable input are refused in one line; `evaluate` reports them."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from gan_lightning.checkpoints.formats.nvlabs import convert_nvlabs, load_nvlabs_pickle
from gan_lightning.cli.main import main
from gan_lightning.common.errors import UserError
from gan_lightning.common.sampling import latents_for_seeds
from gan_lightning.core.nets import stylegan2, stylegan3
from gan_lightning.core.nets.settings import StyleGAN3Config
from gan_lightning.evaluation import equivariance
from gan_lightning.evaluation.equivariance import GROUP_SIZE, equivariance_psnr, random_transform
from tests.conftest import ASSETS

TINY = StyleGAN3Config(z_dim=8, w_dim=8, channel_base=64, channel_max=8, num_layers=4, num_fp16_res=0)
METRICS = ("eqt50k_int", "eqt50k_frac", "eqr50k")


@pytest.fixture(scope="module")
def generator() -> stylegan3.Generator:
    torch.manual_seed(3)
    g = stylegan3.Generator(16, 3, TINY).eval()
    with torch.no_grad():  # learned rotation and translation of the input off the identity, as after training
        g.synthesis.input.affine.weight.normal_(0, 0.3)
    return g


# --- the definition, written out pixel by pixel (float64) ------------------------------------------


def direct_shift(image: np.ndarray, dx: int, dy: int) -> tuple[np.ndarray, np.ndarray]:
    out, mask = np.zeros_like(image), np.zeros_like(image)
    h, w = image.shape[-2:]
    for y in range(h):
        for x in range(w):
            if 0 <= y - dy < h and 0 <= x - dx < w:
                out[..., y, x], mask[..., y, x] = image[..., y - dy, x - dx], 1
    return out, mask


def lanczos(u: float, a: int = 3) -> float:
    return float(np.sinc(u) * np.sinc(u / a)) if abs(u) < a else 0.0


def direct_fractional_shift(image: np.ndarray, tx: float, ty: float) -> tuple[np.ndarray, np.ndarray]:
    """out(x, y) = sum of L(x - tx - jx) L(y - ty - jy) in(jx, jy) over the 6 x 6 pixels j nearest to
    (x - tx, y - ty), each axis's weights normalised to sum 1; valid where all of them lie inside."""
    h, w = image.shape[-2:]
    px, py = tx * w, ty * h
    out, mask = np.zeros_like(image), np.zeros_like(image)
    for y in range(h):
        for x in range(w):
            jx, jy = range(x - math.floor(px) - 3, x - math.floor(px) + 3), range(y - math.floor(py) - 3, y - math.floor(py) + 3)
            wx, wy = np.array([lanczos(x - px - j) for j in jx]), np.array([lanczos(y - py - j) for j in jy])
            wx, wy = wx / wx.sum(), wy / wy.sum()
            for b, j2 in zip(wy, jy):
                for a, j1 in zip(wx, jx):
                    if 0 <= j2 < h and 0 <= j1 < w:
                        out[..., y, x] += a * b * image[..., j2, j1]
            mask[..., y, x] = all(0 <= j < w for j in jx) and all(0 <= j < h for j in jy)
    return out, mask


def direct_rotation(image: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """out(p) = the band-limited fine-grid signal at R^-1 p, read bilinearly; fine sample (oy, ox) is
    sum_j in(j) f(o - 4 j); kept where the nearest fine sample is a filter length inside."""
    f = equivariance.bandlimit_filter(equivariance.rotation(angle)).double().numpy()
    k, up = f.shape[0], 4
    h, w = image.shape[-2:]

    def fine(oy: int, ox: int) -> np.ndarray:
        total = np.zeros(image.shape[:2])
        for jy in range(h):
            for jx in range(w):
                if 0 <= oy - up * jy < k and 0 <= ox - up * jx < k:
                    total += f[oy - up * jy, ox - up * jx] * image[..., jy, jx]
        return total

    inverse = np.linalg.inv(equivariance.rotation(angle).double().numpy())
    out, mask = np.zeros_like(image), np.zeros_like(image)
    for y in range(h):
        for x in range(w):
            cx, cy = x + 0.5 - w / 2, y + 0.5 - h / 2
            qx, qy = inverse[0, 0] * cx + inverse[0, 1] * cy, inverse[1, 0] * cx + inverse[1, 1] * cy
            fx, fy = (qx + w / 2 - 0.5) * up + k // 2, (qy + h / 2 - 0.5) * up + k // 2
            x0, y0 = math.floor(fx), math.floor(fy)
            for oy, wy in ((y0, 1 - (fy - y0)), (y0 + 1, fy - y0)):
                for ox, wx in ((x0, 1 - (fx - x0)), (x0 + 1, fx - x0)):
                    out[..., y, x] += wy * wx * fine(oy, ox)
            inside = [k <= round(v + up // 2) < up * w - 1 for v in (fx, fy)]
            mask[..., y, x] = all(inside)
    return out, mask


def direct_pseudo_rotation(image: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray]:
    f = equivariance.bandlimit_filter(equivariance.rotation(-angle), up=1).double().numpy()
    r = f.shape[0] // 2
    h, w = image.shape[-2:]
    out, mask = np.zeros_like(image), np.zeros_like(image)
    for y in range(h):
        for x in range(w):
            for dy in range(-r, r + 1):
                for dx in range(-r, r + 1):
                    if 0 <= y - dy < h and 0 <= x - dx < w:
                        out[..., y, x] += f[dy + r, dx + r] * image[..., y - dy, x - dx]
            mask[..., y, x] = r <= y < h - r and r <= x < w - r
    return out, mask


def direct_psnr(generator: nn.Module, metric: str, num_samples: int) -> float:
    errors, count = 0.0, 0.0
    transform = generator.synthesis.input.transform
    for group in range(math.ceil(num_samples / GROUP_SIZE)):
        seeds = list(range(group * GROUP_SIZE, min((group + 1) * GROUP_SIZE, num_samples)))
        with torch.no_grad():
            ws = generator.mapping(latents_for_seeds(seeds, generator.z_dim))
            transform.copy_(torch.eye(3))
            original = generator.synthesis(ws).double().numpy()
            tx, ty, angle = random_transform(equivariance.METRICS[metric].kind, group, 16, 0.125, math.pi)
            inverse = np.linalg.inv(np.array([[math.cos(angle), math.sin(angle), tx], [-math.sin(angle), math.cos(angle), ty], [0, 0, 1]]))
            transform.copy_(torch.from_numpy(inverse).float())  # the input maps each output point back
            generated = generator.synthesis(ws).double().numpy()
            transform.copy_(torch.eye(3))
        if metric == "eqt50k_int":
            reference, mask = direct_shift(original, round(tx * 16), round(ty * 16))
        elif metric == "eqt50k_frac":
            reference, mask = direct_fractional_shift(original, tx, ty)
        else:
            reference, mask = direct_rotation(original, angle)
            generated, generated_mask = direct_pseudo_rotation(generated, angle)
            mask = mask * generated_mask
        errors += float((((reference - generated) ** 2) * mask).sum())
        count += float(mask.sum())
    return 10 * math.log10(4 / (errors / count))


@pytest.mark.parametrize("metric", METRICS)
def test_each_metric_equals_a_direct_computation_of_its_definition(generator: stylegan3.Generator, metric: str) -> None:
    num_samples = 6 if metric != "eqr50k" else 2  # a whole group and part of one; the rotation is slow written out
    ours = equivariance_psnr(generator, metric, num_samples)
    assert 20 < ours < 200
    assert ours == pytest.approx(direct_psnr(generator, metric, num_samples), abs=1e-3)
    assert torch.equal(generator.synthesis.input.transform, torch.eye(3))


def test_the_generators_own_input_transform_is_measured_from_the_identity_and_kept(generator: stylegan3.Generator) -> None:
    before = equivariance_psnr(generator, "eqt50k_frac", 4)
    own = equivariance.rotation(0.4)
    own[:2, 2] = torch.tensor([0.1, -0.2])
    generator.synthesis.input.transform.copy_(own)
    try:
        assert equivariance_psnr(generator, "eqt50k_frac", 4) == before
        assert torch.equal(generator.synthesis.input.transform, own)
    finally:
        generator.synthesis.input.transform.copy_(torch.eye(3))


def test_an_identity_transform_gives_the_psnr_the_definition_says(generator: stylegan3.Generator) -> None:
    # no translation: the same image, an exact match
    assert equivariance_psnr(generator, "eqt50k_int", 4, translate_max=0.0) == math.inf
    # the Lanczos weights of a zero shift are 1 at the pixel and sinc(k) = 0 elsewhere (up to float32)
    assert equivariance_psnr(generator, "eqt50k_frac", 4, translate_max=0.0) > 150
    # no rotation: both images go through band-limiting filters that differ only by their sampling grid
    assert equivariance_psnr(generator, "eqr50k", 4, rotate_max=0.0) > 100


def test_the_figure_does_not_depend_on_how_the_groups_are_split_over_processes(generator: stylegan3.Generator) -> None:
    from gan_lightning.evaluation.extraction import Shard

    sums = []

    def keep(tensor: Tensor) -> Tensor:
        sums.append(tensor)
        return tensor[None]

    whole = equivariance_psnr(generator, "eqt50k_frac", 10)
    for rank in (0, 1):
        equivariance_psnr(generator, "eqt50k_frac", 10, shard=Shard(rank, 2), gather=keep)
    assert equivariance.psnr(sums[0] + sums[1]) == pytest.approx(whole, abs=1e-9)


class FourierInput(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("transform", torch.eye(3))


class FourierToySynthesis(nn.Module):
    """w picks the amplitudes of fixed low frequencies (at most an eighth of the pixel rate) of a
    signal sampled at the pixel centres after the input transform: equivariant to translation and
    rotation; ``stuck`` adds a pattern tied to the pixel grid."""

    def __init__(self, resolution: int, stuck: float) -> None:
        super().__init__()
        self.input, self.resolution, self.stuck = FourierInput(), resolution, stuck
        g = torch.Generator().manual_seed(0)
        angle = torch.rand(8, generator=g) * 2 * math.pi
        radius = 1 + 3 * torch.rand(8, generator=g) * resolution / 32  # cycles per image side
        self.register_buffer("freqs", torch.stack([radius * angle.cos(), radius * angle.sin()], dim=1))
        self.register_buffer("pattern", torch.randn(3, resolution, resolution, generator=g))

    def forward(self, ws: Tensor, noise_mode: str = "const") -> Tensor:
        n = self.resolution
        centres = (torch.arange(n) + 0.5 - n / 2) / n
        y, x = torch.meshgrid(centres, centres, indexing="ij")
        points = torch.stack([x, y, torch.ones_like(x)], dim=-1) @ self.input.transform.t()
        waves = torch.sin(2 * math.pi * (points[..., :2] @ self.freqs.t()))  # (H, W, 8)
        image = torch.einsum("nf,hwf->nhw", ws[:, 0, :] / 8, waves)[:, None].expand(-1, 3, -1, -1)
        return image + self.stuck * self.pattern


class FourierToy(nn.Module):
    def __init__(self, resolution: int = 32, stuck: float = 0.0) -> None:
        super().__init__()
        self.z_dim, self.c_dim, self.resolution = 8, 0, resolution
        self.synthesis = FourierToySynthesis(resolution, stuck)

    def mapping(self, z: Tensor, c: Tensor | None = None) -> Tensor:
        return z[:, None, :]


@pytest.mark.parametrize("metric", METRICS)
def test_an_equivariant_toy_generator_scores_higher_than_one_with_a_pattern_stuck_to_the_pixels(metric: str) -> None:
    equivariant = equivariance_psnr(FourierToy(), metric, 8)
    sticking = equivariance_psnr(FourierToy(stuck=0.05), metric, 8)
    assert equivariant > sticking + 10, (equivariant, sticking)


def test_a_generator_without_a_transformable_input_is_one_clear_error() -> None:
    g = stylegan2.Generator(32, 3)
    with pytest.raises(UserError, match=r"^eqr50k needs a StyleGAN3 generator .*; stylegan2.Generator has no such input$"):
        equivariance_psnr(g, "eqr50k", 4)


@pytest.fixture(scope="module")
def converted_t() -> stylegan3.Generator:
    checkpoint = convert_nvlabs(load_nvlabs_pickle(ASSETS / "nvlabs_stylegan3_t32.pkl"))
    hp = checkpoint["hyper_parameters"]
    g = stylegan3.Generator(hp["resolution"], hp["channels"], hp["stylegan3"])
    g.load_state_dict({k.removeprefix("generator_ema."): v for k, v in checkpoint["state_dict"].items() if k.startswith("generator_ema.")})
    return g.eval()


@torch.no_grad()
def test_eqt_int_is_the_psnr_of_translated_input_against_shifted_image(converted_t: stylegan3.Generator) -> None:
    generator = converted_t
    seeds = list(range(8))
    measured = equivariance_psnr(generator, "eqt50k_int", len(seeds))
    # The definition, directly: per group one translation t in +-1/8 of the side, whole pixels; the
    # image of the input translated by t against the image moved by t, over the pixels both cover.
    transform = generator.synthesis.input.transform
    saved = transform.clone()
    squared, count = 0.0, 0
    for start in range(0, len(seeds), GROUP_SIZE):
        ws = generator.mapping(latents_for_seeds(seeds[start : start + GROUP_SIZE], generator.z_dim), None)
        tx, ty, _ = random_transform("int", start // GROUP_SIZE, 32, 0.125, math.pi)
        dx, dy = round(tx * 32), round(ty * 32)
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
def test_a_translated_input_moves_the_image_the_way_the_shift_does(converted_t: stylegan3.Generator) -> None:
    generator = converted_t
    ws = generator.mapping(torch.randn(2, generator.z_dim), None)
    transform = generator.synthesis.input.transform
    transform.copy_(torch.eye(3))
    image = generator.synthesis(ws)
    transform[0, 2] = -3 / 32  # 3 pixels to the right
    moved = generator.synthesis(ws)
    transform.copy_(torch.eye(3))
    assert (moved[..., 3:] - image[..., :-3]).abs().max() < 1e-3  # equivariant: T keeps whole-pixel shifts
    assert (moved[..., :-3] - image[..., 3:]).abs().max() > 0.05  # the other way is not the same


def test_a_generator_without_an_input_transform_is_named() -> None:
    g = stylegan2.Generator(32, 3, stylegan2.GeneratorConfig(z_dim=8, w_dim=8, mapping_layers=1, channel_base=128, channel_max=8))
    with pytest.raises(UserError, match="StyleGAN3"):
        equivariance_psnr(g, "eqt50k_int", 2)


def test_evaluate_reports_eqt50k_int_of_a_stylegan3_checkpoint(converted_t: stylegan3.Generator, tmp_path: Path, capsys) -> None:
    main(["convert", "--from", "nvlabs", str(ASSETS / "nvlabs_stylegan3_t32.pkl"), "--out", str(tmp_path / "t.ckpt")])
    capsys.readouterr()
    main(["evaluate", "--ckpt", str(tmp_path / "t.ckpt"), "--metrics", "eqt50k_int", "--num-gen", "8", "--batch-size", "4"])
    record = json.loads(capsys.readouterr().out.splitlines()[0])
    assert record["metric"] == "eqt50k_int" and record["settings"]["detector"] is None
    assert math.isclose(record["results"]["eqt50k_int"], equivariance_psnr(converted_t, "eqt50k_int", 8), rel_tol=1e-4)


def test_a_conditional_generator_is_measured_on_the_classes_given() -> None:
    torch.manual_seed(0)
    g = stylegan3.Generator(16, 3, StyleGAN3Config(z_dim=8, w_dim=8, c_dim=3, channel_base=64, channel_max=8, num_layers=4)).eval()
    with torch.no_grad():
        g.synthesis.input.affine.weight.normal_(0, 0.3)
    first, second = (equivariance_psnr(g, "eqt50k_frac", 4, classes=[c] * 4) for c in (0, 2))
    assert math.isfinite(first) and first != second
    assert equivariance_psnr(g, "eqt50k_frac", 4, classes=[0] * 4) == first
