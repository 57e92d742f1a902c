"""StyleGAN3 building blocks against their definitions: the designed low-pass filters, the filtered
leaky ReLU, the modulated convolution's two forms, the magnitude EMA and the Fourier input's
transform. (Whole generators are compared with NVlabs' own outputs in
tests/cli/commands/test_convert_nvlabs3.py.)"""

from __future__ import annotations

import dataclasses
import math

import pytest
import scipy.signal
import torch
import torch.nn.functional as F

from gan_lightning.common.errors import UserError
from gan_lightning.core.nets.settings import StyleGAN3Config
from gan_lightning.core.nets.stylegan2 import fp16_layers_on_cpu, runs_fp16_layers
from gan_lightning.core.nets.stylegan3 import (
    Generator,
    SynthesisInput,
    filtered_lrelu,
    layer_specs,
    lowpass_filter,
    modulated_conv,
    radial_lowpass_filter,
)

TINY = StyleGAN3Config(z_dim=8, w_dim=8, channel_base=64, channel_max=8, num_layers=4)


@pytest.mark.parametrize(("numtaps", "cutoff", "width", "fs"), [(12, 2.0, 12.0, 32), (12, 5.66, 7.1, 64), (24, 16.0, 9.3, 128)])
def test_separable_filters_are_kaiser_windowed_sinc_designs(numtaps, cutoff, width, fs) -> None:
    ours = lowpass_filter(numtaps, cutoff, width, fs)
    assert torch.allclose(ours, torch.as_tensor(scipy.signal.firwin(numtaps, cutoff, width=width, fs=fs), dtype=torch.float32), atol=1e-7)
    assert lowpass_filter(1, cutoff, width, fs) is None


def test_radial_filters_are_radially_symmetric_low_pass_filters_of_unit_gain() -> None:
    f = radial_lowpass_filter(12, 4.0, 6.0, 32)
    assert f.shape == (12, 12) and math.isclose(float(f.sum()), 1.0, rel_tol=1e-6)
    assert torch.allclose(f, f.t()) and torch.allclose(f, f.flip(0)) and torch.allclose(f, f.flip(1))
    response = torch.fft.fft2(F.pad(f, [0, 116, 0, 116])).abs()  # 128-point response: 4 bins per Hz
    assert response[0, 4 * 1] > 0.9 and response[0, 4 * 12] < 0.05  # passes 1 Hz, stops 12 Hz (band 1-7 Hz)
    assert abs(float(response[4 * 3, 4 * 3] - response[0, round(4 * 3 * math.sqrt(2))])) < 0.05  # same at equal radius


def test_layer_schedule_follows_the_papers_geometric_progression() -> None:
    specs = layer_specs(256, 3, StyleGAN3Config())
    assert len(specs) == 15
    assert specs[0].cutoff == 2.0 and specs[-1].cutoff == specs[-3].cutoff == 128.0  # critically sampled at the end
    assert [s.sampling_rate for s in specs[-3:]] == [256, 256, 256]
    assert [s.size for s in specs[-2:]] == [256, 256] and specs[0].size == specs[0].sampling_rate + 20
    assert specs[-1].channels == 3 and specs[0].channels == 512
    ratios = [specs[i + 1].cutoff / specs[i].cutoff for i in range(12)]
    assert max(ratios) - min(ratios) < 1e-9


def test_filtered_lrelu_without_resampling_is_bias_lrelu_gain_and_clamp() -> None:
    x, b = torch.randn(2, 3, 5, 5) * 100, torch.randn(3)
    out = filtered_lrelu(x, None, None, b, up=1, down=1, padding=[0, 0, 0, 0], gain=math.sqrt(2), slope=0.2, clamp=256.0)
    assert torch.allclose(out, (F.leaky_relu(x + b.reshape(1, 3, 1, 1), 0.2) * math.sqrt(2)).clamp(-256, 256))


def test_filtered_lrelu_keeps_a_constant_signal_constant() -> None:
    # unit-DC-gain filters and gain up^2: a constant maps to lrelu(constant) away from the borders
    up = lowpass_filter(12, 4.0, 8.0, 32)
    out = filtered_lrelu(torch.full((1, 1, 20, 20), -2.0), up, up, torch.zeros(1), up=2, down=2, padding=[0, 0, 0, 0], gain=1.0, slope=0.2, clamp=None)
    assert torch.allclose(out[..., 6:-6, 6:-6], torch.tensor(-0.4), atol=1e-5)


def test_fused_and_unfused_modulated_convolutions_agree() -> None:
    x, weight, styles = torch.randn(3, 4, 9, 9), torch.randn(5, 4, 3, 3), torch.randn(3, 4)
    for demodulate in (True, False):
        fused = modulated_conv(x, weight, styles, demodulate, torch.tensor(0.7), fused=True)
        unfused = modulated_conv(x, weight, styles, demodulate, torch.tensor(0.7), fused=False)
        assert fused.shape == (3, 5, 11, 11) and torch.allclose(fused, unfused, atol=1e-5)
    # demodulated: a unit impulse at one input channel reads out w'_oi = s_i w_oi / sigma_o, sigma_o = ||s w_o||
    impulse = torch.zeros(1, 4, 1, 1)
    impulse[0, 2] = 1.0
    out = modulated_conv(impulse, weight, styles[:1], True, torch.tensor(1.0))
    w = weight * styles[0].reshape(1, 4, 1, 1)
    assert torch.allclose(out[0, :, :, :], (w / w.square().sum(dim=[1, 2, 3], keepdim=True).sqrt())[:, 2].flip([1, 2]), atol=1e-5)


def test_magnitude_ema_moves_only_when_asked() -> None:
    generator = Generator(16, 3, TINY).train()
    ws = torch.randn(2, generator.num_ws, 8)
    generator.synthesis(ws)
    assert all(float(layer.magnitude_ema) == 1.0 for layer in generator.synthesis.layers)
    first = generator.synthesis.layers[0]
    x = generator.synthesis.input(ws[:, 0])
    generator.synthesis(ws, update_emas=True)
    expected = x.square().mean().lerp(torch.tensor(1.0), TINY.magnitude_ema_beta)
    assert torch.allclose(first.magnitude_ema, expected)


def test_the_input_transform_translates_the_fourier_features() -> None:
    torch.manual_seed(0)
    layer = SynthesisInput(w_dim=4, channels=6, size=24, sampling_rate=16, bandwidth=2)
    w = torch.randn(2, 4)
    base = layer(w)
    layer.transform[0, 2] = -3 / 16  # the inverse map of a 3-pixel shift to the right
    shifted = layer(w)
    assert torch.allclose(shifted[..., 3:], base[..., :-3], atol=1e-5)


def test_generator_sizes_and_bad_settings() -> None:
    generator = Generator(16, 3, TINY)
    assert generator.num_ws == TINY.num_layers + 2
    assert generator(torch.randn(2, 8)).shape == (2, 3, 16, 16)
    with pytest.raises(UserError, match="power of two"):
        Generator(24, 3, TINY)
    with pytest.raises(UserError, match="num_layers"):
        StyleGAN3Config(num_layers=2, num_critical=2)


def test_fp16_layers_are_seen_by_the_gradient_cleaning() -> None:
    generator = Generator(16, 3, dataclasses.replace(TINY, num_fp16_res=2))
    assert any(layer.use_fp16 for layer in generator.synthesis.layers)
    assert not runs_fp16_layers(generator)  # float32 on the CPU
    with fp16_layers_on_cpu():
        assert runs_fp16_layers(generator)
    assert not runs_fp16_layers(Generator(16, 3, dataclasses.replace(TINY, num_fp16_res=0)))


def test_a_float64_generator_computes_in_float64() -> None:
    # the sample grid of the Fourier input follows its buffers' dtype (a float64 reference run)
    generator = Generator(16, 3, dataclasses.replace(TINY, num_fp16_res=0)).double()
    assert generator(torch.randn(2, 8, dtype=torch.float64)).dtype == torch.float32  # the output's documented float32
    assert generator.synthesis.input(torch.randn(2, 8, dtype=torch.float64)).dtype == torch.float64
