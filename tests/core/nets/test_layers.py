"""Each StyleGAN2 building block against a direct (slow, loop-based) computation of its definition."""

from __future__ import annotations

import math
from typing import get_args

import pytest
import torch
import torch.nn.functional as F

from gan_lightning.common.errors import UserError
from gan_lightning.core.nets.layers import (
    NOISE_MODES,
    Conv2dLayer,
    FullyConnectedLayer,
    MinibatchStdDev,
    NoiseInjection,
    NoiseMode,
    bias_act,
    conv2d_resample,
    downsample2d,
    fir_filter,
    modulated_conv2d,
    upfirdn2d,
    upsample2d,
    winograd_conv3x3,
    winograd_convolutions,
)
from gan_lightning.core.nets import layers


def direct_upfirdn2d(x: torch.Tensor, f: torch.Tensor, up: int, down: int, pad: tuple[int, int, int, int]) -> torch.Tensor:
    """Zero insertion, padding, true convolution with a 2-D filter and subsampling, pixel by pixel."""
    px0, px1, py0, py1 = pad
    n, c, h, w = x.shape
    upsampled = torch.zeros(n, c, h * up, w * up)
    upsampled[:, :, ::up, ::up] = x
    height, width = h * up + py0 + py1, w * up + px0 + px1
    padded = torch.zeros(n, c, height, width)
    for i in range(height):
        for j in range(width):
            si, sj = i - py0, j - px0
            if 0 <= si < h * up and 0 <= sj < w * up:
                padded[:, :, i, j] = upsampled[:, :, si, sj]
    kh, kw = f.shape
    out = torch.zeros(n, c, height - kh + 1, width - kw + 1)
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            for a in range(kh):
                for b in range(kw):
                    out[:, :, i, j] += padded[:, :, i + a, j + b] * f[kh - 1 - a, kw - 1 - b]
    return out[:, :, ::down, ::down]


@pytest.mark.parametrize(
    "up, down, pad",
    [(1, 1, (1, 2, 0, 1)), (2, 1, (2, 1, 2, 1)), (1, 2, (1, 1, 1, 1)), (2, 1, (-1, 3, 0, -2)), (1, 2, (-1, 2, 3, 0)), (3, 2, (1, 4, 2, 0))],
)
def test_upfirdn2d_matches_direct_computation(up: int, down: int, pad: tuple[int, int, int, int]) -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 3, 6, 5)
    f = torch.rand(4, 3)  # asymmetric and non-square: catches flips and axis mix-ups
    expected = direct_upfirdn2d(x, f, up, down, pad)
    assert torch.allclose(upfirdn2d(x, f, up=up, down=down, padding=pad), expected, atol=1e-5)


def test_separable_taps_equal_their_outer_product() -> None:
    x = torch.randn(1, 2, 7, 7)
    f = fir_filter([1, 3, 3, 1])
    assert torch.allclose(upfirdn2d(x, f, up=2, padding=2), upfirdn2d(x, torch.outer(f, f), up=2, padding=2), atol=1e-6)


def test_fir_resampling_doubles_or_halves_and_keeps_a_constant_image() -> None:
    f = fir_filter()
    flat = torch.full((1, 1, 8, 8), 0.7)
    up, down = upsample2d(flat, f), downsample2d(flat, f)
    assert up.shape == (1, 1, 16, 16) and down.shape == (1, 1, 4, 4)
    # away from the zero-padded border the low-pass filter keeps a constant exactly
    assert torch.allclose(up[..., 2:-2, 2:-2], torch.full_like(up[..., 2:-2, 2:-2], 0.7), atol=1e-6)
    assert torch.allclose(down[..., 1:-1, 1:-1], torch.full_like(down[..., 1:-1, 1:-1], 0.7), atol=1e-6)


def direct_modulated_conv(x, weight, styles, demodulate: bool, up: int, padding: int) -> torch.Tensor:
    """One sample at a time: w'_ijk = s_i w_ijk, w'' = w' / sqrt(sum_ik w'^2 + 1e-8), then convolve."""
    outputs = []
    f = torch.outer(fir_filter(), fir_filter())
    for n in range(x.shape[0]):
        w = weight * styles[n].reshape(1, -1, 1, 1)
        if demodulate:
            w = w / torch.sqrt((w**2).sum(dim=[1, 2, 3], keepdim=True) + 1e-8)
        if up == 1:
            outputs.append(F.conv2d(x[n : n + 1], w, padding=padding))
        else:  # transposed conv (zero insertion + full conv) then the 4-tap blur, as in the official network
            y = F.conv_transpose2d(x[n : n + 1], w.transpose(0, 1), stride=2)
            outputs.append(direct_upfirdn2d(y, f * 4, 1, 1, (1, 1, 1, 1)))
    return torch.cat(outputs)


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("demodulate", [True, False])
@pytest.mark.parametrize("up", [1, 2])
def test_modulated_conv_matches_direct_per_sample_computation(fused: bool, demodulate: bool, up: int) -> None:
    torch.manual_seed(0)
    x = torch.randn(3, 4, 5, 5)
    weight = torch.randn(6, 4, 3, 3)
    styles = torch.randn(3, 4)
    got = modulated_conv2d(x, weight, styles, demodulate=demodulate, up=up, padding=1, resample_filter=fir_filter(), fused=fused)
    expected = direct_modulated_conv(x, weight, styles, demodulate, up, padding=1)
    assert got.shape == (3, 6, 5 * up, 5 * up)
    assert torch.allclose(got, expected, atol=1e-4)


def test_demodulation_gives_unit_output_variance_for_unit_inputs() -> None:
    # StyleGAN2 eq. 3 rests on this: with i.i.d. unit inputs the demodulated outputs have unit std.
    torch.manual_seed(0)
    x = torch.randn(8, 64, 16, 16)
    y = modulated_conv2d(x, torch.randn(32, 64, 3, 3), torch.rand(8, 64) * 3, padding=1)
    assert y.std().item() == pytest.approx(1.0, abs=0.05)


def test_minibatch_stddev_matches_direct_computation() -> None:
    torch.manual_seed(0)
    x = torch.randn(8, 6, 3, 3)
    out = MinibatchStdDev(group_size=4, num_channels=1)(x)
    assert out.shape == (8, 7, 3, 3)
    assert torch.equal(out[:, :6], x)
    for n in range(8):
        members = x[n % 2 :: 2]  # sample n is grouped with the samples of the same index mod N/G
        std = torch.sqrt(members.var(dim=0, unbiased=False) + 1e-8).mean()
        assert torch.allclose(out[n, 6], torch.full((3, 3), std.item()), atol=1e-6)


def test_minibatch_stddev_rejects_a_batch_not_divisible_by_the_group() -> None:
    with pytest.raises(UserError, match="batch size 6 is not divisible by the group size 4 \\(mbstd_group_size\\)"):
        MinibatchStdDev(group_size=4, num_channels=1)(torch.randn(6, 2, 4, 4))


def test_equalized_lr_layers_scale_weights_at_run_time() -> None:
    torch.manual_seed(0)
    fc = FullyConnectedLayer(16, 8, lr_multiplier=0.01, bias_init=0.5)
    x = torch.randn(4, 16)
    expected = x @ (fc.weight * 0.01 / math.sqrt(16)).t() + fc.bias * 0.01
    assert torch.allclose(fc(x), expected, atol=1e-6)
    assert fc.weight.std().item() == pytest.approx(100.0, rel=0.2)  # stored as N(0, 1) / lr_multiplier

    conv = Conv2dLayer(3, 5, 3, activation="lrelu")
    x = torch.randn(2, 3, 8, 8)
    expected = F.leaky_relu(F.conv2d(x, conv.weight / math.sqrt(27), conv.bias, padding=1), 0.2) * math.sqrt(2)
    assert torch.allclose(conv(x), expected, atol=1e-5)


def test_bias_act_adds_bias_applies_leaky_relu_gain_and_clamps() -> None:
    x = torch.tensor([[-1.0, 2.0]])
    assert torch.allclose(bias_act(x, torch.tensor([0.0, 1.0]), "lrelu"), torch.tensor([[-0.2, 3.0]]) * math.sqrt(2))
    assert torch.equal(bias_act(x * 100, activation="linear", clamp=50.0), torch.tensor([[-50.0, 50.0]]))


def test_noise_injection_modes() -> None:
    noise = NoiseInjection(resolution=4)
    with torch.no_grad():
        noise.strength.fill_(0.5)
    x = torch.zeros(2, 3, 4, 4)
    assert torch.equal(noise(x, "none"), x)
    const = noise(x, "const")
    assert torch.equal(const, noise(x, "const"))
    assert torch.allclose(const[0, 0], noise.noise_const * 0.5)
    assert torch.equal(const[0, 0], const[1, 2])  # one noise image, shared by channels and samples
    assert not torch.equal(noise(x, "random"), noise(x, "random"))
    with pytest.raises(UserError, match="unknown noise_mode 'fixed'; allowed: random, const, none"):
        noise(x, "fixed")
    assert NOISE_MODES == get_args(NoiseMode) == ("random", "const", "none")  # the one list tools offer


def test_winograd_convolution_equals_direct_convolution_in_values_gradients_and_double_backward() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 5, 32, 36, dtype=torch.float64, requires_grad=True)
    w = torch.randn(7, 5, 3, 3, dtype=torch.float64, requires_grad=True)

    def r1_like(conv):  # the weight gradient of an input-gradient penalty, as R1 takes it
        (gx,) = torch.autograd.grad(conv(x, w).square().sum(), x, create_graph=True)
        return torch.autograd.grad(gx.square().sum(), w)[0]

    direct = lambda x, w: F.conv2d(x, w, padding=1)  # noqa: E731
    torch.testing.assert_close(winograd_conv3x3(x, w), direct(x, w), rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(r1_like(winograd_conv3x3), r1_like(direct), rtol=1e-9, atol=1e-9)
    # fp32: rounding differs, within float tolerance of the output scale
    x32, w32 = x.detach().float(), w.detach().float()
    torch.testing.assert_close(winograd_conv3x3(x32, w32), direct(x32, w32), rtol=0, atol=1e-4 * direct(x32, w32).abs().max().item())


def test_winograd_runs_only_inside_its_block_for_3x3_stride_1_convolutions_of_32_px_and_up(monkeypatch) -> None:
    calls = []
    monkeypatch.setattr(layers, "winograd_conv3x3", lambda x, w: calls.append(tuple(x.shape)) or F.conv2d(x, w, padding=1))
    w = torch.randn(4, 4, 3, 3)
    conv2d_resample(torch.randn(1, 4, 32, 32), w, padding=1)
    assert calls == []  # off by default
    with winograd_convolutions():
        conv2d_resample(torch.randn(1, 4, 32, 32), w, padding=1)
        conv2d_resample(torch.randn(1, 4, 16, 16), w, padding=1)  # small: direct
        conv2d_resample(torch.randn(1, 4, 33, 33), w, f=fir_filter(), down=2)  # strided: direct
        conv2d_resample(torch.randn(1, 8, 32, 32), torch.randn(8, 4, 3, 3), padding=1, groups=2)  # grouped: direct
        with winograd_convolutions(False):
            conv2d_resample(torch.randn(1, 4, 64, 64), w, padding=1)
    assert calls == [(1, 4, 32, 32)]
