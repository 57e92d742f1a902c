"""Adaptive discriminator augmentation: identity at p = 0, differentiable, shape- and range-faithful,
and the ADA rule that moves p."""

from __future__ import annotations

import pytest
import torch

from gan_lightning.augment import AdaptiveAugment
from gan_lightning.errors import UserError


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
    # reflection padding: no black borders come in, whatever the rotation, scale or shift
    flat = torch.full((16, 3, 16, 16), 0.3)
    out = AdaptiveAugment(p=1.0, color=False)(flat)
    torch.testing.assert_close(out, flat, atol=1e-5, rtol=0)


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
    assert float(augment.p) == 0.0  # clamped to [0, 1]
