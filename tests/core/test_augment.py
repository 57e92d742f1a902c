"""Adaptive discriminator augmentation: identity at p = 0, differentiable, shape- and range-faithful,
each transform equal to its direct computation, and the ADA rule that moves p."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from gan_lightning.core.augment import (
    SYM6,
    AdaptiveAugment,
    AugmentParams,
    _affine_grid,
    _apply_geometric_reference,
    _downsample2x_reference,
    _upsample2x_reference,
    apply_geometric,
    downsample2x,
    sample_params,
    sampling_matrix,
    upsample2x,
)
from gan_lightning.common.errors import UserError
from tests.conftest import ASSETS


def augment_with(images: torch.Tensor, **params: torch.Tensor) -> torch.Tensor:
    geometric = any(k in params for k in ("xflip", "rotate90", "xint", "scale", "rotate_pre", "aniso", "rotate_post", "xfrac"))
    pipe = AdaptiveAugment(p=1.0, geometric=geometric, color=not geometric)
    return pipe(images, AugmentParams.identity(images.shape[0]).replace(**params))


def test_p_zero_is_the_identity_and_p_is_a_checkpointed_buffer() -> None:
    augment = AdaptiveAugment(p=0.0)
    x = torch.randn(4, 3, 16, 16)
    assert augment(x) is x
    assert "p" in augment.state_dict()
    with pytest.raises(UserError, match="must be in \\[0, 1\\], got 1.5"):
        AdaptiveAugment(p=1.5)


def test_augmentation_is_differentiable_with_respect_to_the_images() -> None:
    torch.manual_seed(0)
    x = torch.rand(8, 3, 16, 16, requires_grad=True)
    y = AdaptiveAugment(p=1.0)(x)
    assert y.shape == x.shape
    (y * torch.randn_like(y)).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_geometric_transforms_keep_a_flat_image_flat() -> None:
    # reflection padding: no black borders come in, whatever the rotation, scale or shift (a far
    # corner of a small image may reach the filter's last, tiny taps beyond the padding, as in NVlabs')
    flat = torch.full((16, 3, 16, 16), 0.3)
    out = AdaptiveAugment(p=1.0, color=False)(flat)
    torch.testing.assert_close(out, flat, atol=1e-4, rtol=0)


def test_geometric_transforms_move_pixels_and_color_transforms_keep_positions() -> None:
    torch.manual_seed(0)
    x = torch.zeros(64, 1, 16, 16)
    x[:, :, 2:5, 2:5] = 1.0  # a bright corner square
    moved = AdaptiveAugment(p=1.0, color=False)(x.expand(-1, 3, -1, -1))
    assert (moved[:, 0, 2:5, 2:5].mean(dim=[1, 2]) < 0.9).float().mean() > 0.5
    recolored = AdaptiveAugment(p=1.0, geometric=False)(x.expand(-1, 3, -1, -1).contiguous())
    # colour transforms act on each pixel alone: the background stays one colour per image
    background = recolored[:, :, 8:, 8:]
    torch.testing.assert_close(background, background[:, :, :1, :1].expand_as(background))


def test_color_transforms_on_grayscale_and_gray_pixels_stay_gray() -> None:
    torch.manual_seed(0)
    gray = AdaptiveAugment(p=1.0, geometric=False)(torch.rand(8, 1, 8, 8))
    assert gray.shape == (8, 1, 8, 8)
    # hue rotation and saturation act orthogonally to the luma axis: gray RGB pixels stay gray
    rgb = AdaptiveAugment(p=1.0, geometric=False)(torch.rand(8, 1, 8, 8).expand(-1, 3, -1, -1).contiguous())
    torch.testing.assert_close(rgb[:, 0], rgb[:, 1], atol=1e-5, rtol=0)
    torch.testing.assert_close(rgb[:, 1], rgb[:, 2], atol=1e-5, rtol=0)


def test_probability_sets_the_share_of_changed_images() -> None:
    torch.manual_seed(0)
    x = torch.rand(400, 3, 8, 8)
    changed = lambda p: ((AdaptiveAugment(p=p)(x) - x).abs().flatten(1).amax(dim=1) > 1e-4).float().mean().item()
    # 12 transforms each with probability p: P(unchanged) is about (1 - p)^12 (flips/rotations can be no-ops)
    assert changed(0.02) < 0.35
    assert changed(0.5) > 0.95


def test_update_p_steps_toward_the_target_by_images_over_ada_kimg() -> None:
    augment = AdaptiveAugment(p=0.0)
    augment.update_p(real_sign_mean=1.0, num_images=50, target=0.6, speed_kimg=0.1)
    assert float(augment.p) == pytest.approx(0.5)  # overfitting D (r_t > target): p rises by 50 / 100
    augment.update_p(real_sign_mean=0.0, num_images=20, target=0.6, speed_kimg=0.1)
    assert float(augment.p) == pytest.approx(0.3)
    augment.update_p(real_sign_mean=0.0, num_images=1000, target=0.6, speed_kimg=0.1)
    assert float(augment.p) == 0.0  # never below 0
    augment.update_p(real_sign_mean=1.0, num_images=120, target=0.6, speed_kimg=0.1)
    assert float(augment.p) == pytest.approx(1.2)  # as NVlabs' loop: not capped at 1


def test_sym6_taps_are_an_orthonormal_wavelet_with_six_vanishing_moments() -> None:
    h = torch.tensor(SYM6, dtype=torch.float64)
    assert float(h.sum()) == pytest.approx(math.sqrt(2), abs=1e-12)
    for shift in range(len(SYM6) // 2):  # orthonormal to its even shifts
        assert float((h[2 * shift :] * h[: len(h) - 2 * shift]).sum()) == pytest.approx(float(shift == 0), abs=1e-10)
    k = torch.arange(len(h), dtype=torch.float64)
    g = h.flip(0) * (-1) ** k  # the matching high-pass filter
    for moment in range(6):
        assert float((g * k**moment).sum()) == pytest.approx(0.0, abs=1e-9 * 11**moment)


def test_identity_parameters_resample_to_the_same_image() -> None:
    # the geometric path (reflect-pad, sym6 2x up, sample, sym6 2x down) reconstructs an untouched image
    x = torch.rand(2, 3, 16, 20) * 2 - 1
    torch.testing.assert_close(augment_with(x, xflip=torch.zeros(2)), x, atol=2e-5, rtol=0)


def test_x_flip_and_quarter_turns_equal_flipping_and_rot90_up_to_the_filter_asymmetry() -> None:
    # sym6 is not symmetric, so mirrored content is filtered with a mirrored phase: NVlabs' pipeline,
    # and so ours, flips a smooth image to within a few percent (0.044 measured on theirs), not exactly
    torch.manual_seed(0)
    x = F.interpolate(torch.rand(2, 3, 4, 4) * 2 - 1, size=(16, 16), mode="bicubic", align_corners=False)
    for out, expected in [(augment_with(x, xflip=torch.ones(2)), x.flip(3))] + [
        (augment_with(x, rotate90=torch.full((2,), float(k))), torch.rot90(x, k, dims=(2, 3))) for k in (1, 2, 3)
    ]:
        assert (out - expected).abs().max() < 0.1
        assert (out - expected).abs().mean() < 0.1 * (x - expected).abs().mean()


def test_an_integer_translation_equals_a_shift_with_reflected_borders() -> None:
    x = torch.rand(2, 3, 16, 24) * 2 - 1
    dx, dy = 3, -2  # pixels: content moves right by 3 and up by 2
    out = augment_with(x, xint=torch.tensor([[dx / 24, dy / 16]] * 2))
    padded = F.pad(x, [3, 3, 2, 2], mode="reflect")
    expected = padded[:, :, 2 - dy : 2 - dy + 16, 3 - dx : 3 - dx + 24]
    torch.testing.assert_close(out, expected, atol=2e-5, rtol=0)


def test_sampling_matrix_composes_the_transforms_in_order() -> None:
    params = AugmentParams.identity(1).replace(scale=torch.tensor([2.0]), rotate_post=torch.tensor([math.pi / 2]))
    # output pixel q reads input G_inv q: scale 1/2 applied after the rotation of q
    q = torch.tensor([4.0, 0.0, 1.0])
    torch.testing.assert_close(sampling_matrix(params, 16, 16)[0] @ q, torch.tensor([0.0, 2.0, 1.0]), atol=1e-6, rtol=0)


def test_brightness_comes_before_contrast_in_the_colour_map() -> None:
    x = torch.rand(3, 3, 4, 4) * 2 - 1
    b, c = torch.tensor([0.2, -0.1, 0.3]), torch.tensor([2.0, 0.5, 1.5])
    expected = c[:, None, None, None] * (x + b[:, None, None, None])
    torch.testing.assert_close(augment_with(x, brightness=b, contrast=c), expected)
    torch.testing.assert_close(augment_with(x[:, :1], brightness=b, contrast=c), expected[:, :1])


def test_luma_flip_hue_and_saturation_act_as_their_direct_formulas() -> None:
    x = torch.rand(2, 3, 4, 4) * 2 - 1
    ones = torch.ones(2)
    # luma flip: reflect through the plane orthogonal to (1, 1, 1): x - 2 mean(x); on grey images L -> -L
    torch.testing.assert_close(augment_with(x, lumaflip=ones), x - 2 * x.mean(dim=1, keepdim=True))
    torch.testing.assert_close(augment_with(x[:, :1], lumaflip=ones), -x[:, :1])
    # hue: a third of a turn about the grey axis moves red to green, green to blue, blue to red
    torch.testing.assert_close(augment_with(x, hue=ones * 2 * math.pi / 3), x.roll(1, dims=1), atol=1e-5, rtol=0)
    # saturation 0: every pixel becomes its grey value
    torch.testing.assert_close(augment_with(x, saturation=0 * ones), x.mean(dim=1, keepdim=True).expand_as(x), atol=1e-6, rtol=0)


def test_same_seed_same_augmentation_and_given_parameters_bypass_p() -> None:
    x = torch.rand(4, 3, 16, 16)
    pipe = AdaptiveAugment(p=0.7)
    torch.manual_seed(3)
    first = pipe(x)
    torch.manual_seed(3)
    torch.testing.assert_close(pipe(x), first)
    shift = torch.tensor([[2 / 16, 0.0]] * 4)  # given parameters apply even at p = 0
    shifted = AdaptiveAugment(p=0.0, color=False)(x, AugmentParams.identity(4).replace(xint=shift))
    torch.testing.assert_close(shifted[:, :, :, 2:], x[:, :, :, :-2], atol=2e-5, rtol=0)


def test_at_low_p_the_mean_of_many_augmentations_is_the_clean_image_not_a_transformed_one() -> None:
    # The ADA paper's non-leaking condition needs the clean images to stay visible through the
    # augmentation at small p: over 512 draws at p = 0.3 the mean image is the clean image (at p = 0.6
    # it is not any more: cosine 0.09 to the clean image, 0.18 to its mirror).
    torch.manual_seed(0)
    x = (torch.rand(1, 3, 16, 16) * 2 - 1).expand(512, -1, -1, -1).contiguous()
    mean = AdaptiveAugment(p=0.3)(x).mean(dim=0, keepdim=True)
    flipped_share = F.cosine_similarity(mean.flatten(), x[:1].flip(3).flatten(), dim=0)
    assert F.cosine_similarity(mean.flatten(), x[:1].flatten(), dim=0) > flipped_share + 0.2


def test_geometric_path_keeps_the_batch_shape_for_non_square_images() -> None:
    x = torch.rand(3, 1, 12, 20)
    g_inv = sampling_matrix(AugmentParams.identity(3).replace(rotate_pre=torch.tensor([0.3, -1.0, 2.0])), 12, 20)
    assert apply_geometric(x, g_inv).shape == x.shape


@pytest.mark.parametrize("shape", [(3, 32, 32), (1, 24, 28)])
def test_same_seed_gives_the_images_and_gradients_the_pipeline_always_gave(shape: tuple[int, int, int]) -> None:
    """Against tests/assets/augment_reference.pt (the pipeline before its speed-up): the filters now
    sum in another order, so within 1e-5 for values of magnitude ~1 (measured: under 1e-6)."""
    reference = torch.load(ASSETS / "augment_reference.pt", weights_only=True)["x".join(map(str, shape))]
    torch.manual_seed(0)
    images = (torch.rand(4, *shape) * 2 - 1).requires_grad_(True)
    torch.manual_seed(1)
    out = AdaptiveAugment(p=0.8)(images)
    (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()
    torch.testing.assert_close(out.detach(), reference["images"], rtol=0, atol=1e-5)
    torch.testing.assert_close(images.grad, reference["grad"], rtol=0, atol=1e-5)


@pytest.mark.parametrize("shape", [(2, 3, 45, 38), (3, 1, 14, 15), (1, 2, 16, 33)])
def test_block_filters_equal_the_convolutions_in_values_and_first_and_second_gradients(shape: tuple[int, ...]) -> None:
    """The fast up/downsampling (block matrix products) against NVlabs' convolution form, in float64
    so that only a wrong tap or border could differ; second gradients as R1 takes them through D."""
    for fast, reference in ((upsample2x, _upsample2x_reference), (lambda x: downsample2x(x, 6), lambda x: _downsample2x_reference(x, 6))):
        x = torch.rand(shape, dtype=torch.float64, requires_grad=True)
        outputs = []
        for fn in (fast, reference):
            y = fn(x)
            (grad,) = torch.autograd.grad((y.sin() * torch.linspace(-1, 1, y.numel(), dtype=y.dtype).view_as(y)).sum(), x, create_graph=True)
            (grad2,) = torch.autograd.grad(grad.square().sum(), x)
            outputs.append((y, grad, grad2))
        for a, b in zip(*outputs):
            assert a.shape == b.shape
            torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def values_and_gradients(fn, x: torch.Tensor, g_inv: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """fn(x, g_inv), the gradient of a projection of it and the gradient of that gradient's squared norm
    (as R1 takes it through D), all with respect to the images."""
    x = x.clone().requires_grad_(True)
    y = fn(x, g_inv)
    (grad,) = torch.autograd.grad((y.sin() * torch.linspace(-1, 1, y.numel(), dtype=y.dtype).view_as(y)).sum(), x, create_graph=True)
    (grad2,) = torch.autograd.grad(grad.square().sum(), x)
    return y.detach(), grad.detach(), grad2


@pytest.mark.parametrize("p", [0.0, 0.05, 0.3, 1.0, 1.4])
@pytest.mark.parametrize("shape", [(8, 3, 32, 32), (6, 1, 24, 28), (5, 3, 16, 33)])
def test_windows_equal_the_whole_batch_path_in_values_and_first_and_second_gradients(p: float, shape: tuple[int, ...]) -> None:
    """apply_geometric (each image padded and upsampled in its own window) against the whole padded
    batch as NVlabs resamples it, in float64 so that only a window too small, a wrong border or offset
    could differ (measured: 7.5e-12 at most)."""
    torch.manual_seed(0)
    for _ in range(3):
        params = sample_params(shape[0], p, shape[1])
        g_inv = sampling_matrix(params, *shape[2:]).double()
        x = torch.rand(shape, dtype=torch.float64) * 2 - 1
        for a, b in zip(values_and_gradients(apply_geometric, x, g_inv), values_and_gradients(_apply_geometric_reference, x, g_inv)):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-10)


def test_windowed_path_gives_the_whole_batch_path_values_bit_for_bit_identity_images_included() -> None:
    """The windows are placed where the whole padded batch has them, so grid_sample rounds the same
    coordinates: float32 values equal bit for bit. An image with the identity matrix gets the
    resampling's rounding too (here up to 1e-5 from the image; more for larger images) rather than the
    image itself, so that our values stay NVlabs'."""
    torch.manual_seed(0)
    x = torch.rand(6, 3, 32, 32) * 2 - 1
    g_inv = sampling_matrix(AugmentParams.identity(6).replace(rotate_pre=torch.tensor([0.0, 0.7, 0.0, -2.0, 0.0, 0.0])), 32, 32)
    out = apply_geometric(x, g_inv)
    assert torch.equal(out, _apply_geometric_reference(x, g_inv))
    assert not torch.equal(out[0], x[0])
    torch.testing.assert_close(out[0], x[0], rtol=0, atol=2e-5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_affine_grid_on_a_grid_made_once_equals_torch_affine_grid_bit_for_bit(dtype: torch.dtype) -> None:
    """The sampling coordinates, rounded as NVlabs' affine_grid rounds them, from a cached (x, y, 1)
    grid; non-square, and batches of 1 and 7."""
    torch.manual_seed(0)
    for n in (1, 7):
        theta = (torch.randn(n, 2, 3) * torch.tensor([0.8, 0.8, 0.3])).to(dtype)
        assert torch.equal(_affine_grid(theta, 30, 44), F.affine_grid(theta, [n, 1, 30, 44], align_corners=False))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_autocast_leaves_the_augmentation_in_float32(dtype: torch.dtype) -> None:
    """Under mixed precision D's input is augmented inside autocast, which would run the sampling
    grid's and the filters' matrix products in half precision (grid coordinates off by ~1e-3 of the
    canvas: a fraction of a pixel). NVlabs augments in float32: so do we, whatever the autocast."""
    torch.manual_seed(0)
    x = torch.rand(4, 3, 32, 32) * 2 - 1
    params = sample_params(4, 0.8, 3)
    expected = AdaptiveAugment(p=1.0)(x, params)
    with torch.autocast("cpu", dtype=dtype):
        out = AdaptiveAugment(p=1.0)(x, params)
    assert out.dtype == torch.float32
    assert torch.equal(out, expected)
