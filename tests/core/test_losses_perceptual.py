"""Perceptual style/content losses and AdaIN: the equations, on hand-checkable inputs."""

import pytest
import torch

from gan_lightning.core.losses import colour_statistics_loss, feature_content_loss, gram_matrix, gram_style_loss, mean_std, mean_std_style_loss, total_variation
from gan_lightning.core.nets.adain import adaptive_instance_norm


def test_gram_matrix_is_the_normalised_inner_product_of_channels():
    features = torch.tensor([[1.0, 2.0], [0.0, -1.0]]).reshape(1, 2, 1, 2)  # 2 channels, 2 positions
    expected = torch.tensor([[5.0, -2.0], [-2.0, 1.0]]) / 4  # F F^T / (C H W)
    assert torch.allclose(gram_matrix(features)[0], expected)


def test_style_losses_are_zero_for_the_style_itself_and_grow_with_the_difference():
    style = [torch.rand(2, 4, 6, 6), torch.rand(2, 8, 3, 3)]
    near = [f + 0.05 * torch.randn_like(f) for f in style]
    far = [f + 0.5 * torch.randn_like(f) for f in style]
    grams = [gram_matrix(f) for f in style]
    assert gram_style_loss(style, grams) == 0
    assert 0 < gram_style_loss(near, grams) < gram_style_loss(far, grams)
    assert mean_std_style_loss(style, style) == 0
    assert 0 < mean_std_style_loss(near, style) < mean_std_style_loss(far, style)
    # one style target (batch 1) for a whole batch
    assert gram_style_loss(style, [g.mean(0, keepdim=True) for g in grams]) > 0
    assert mean_std_style_loss(style, [f[:1] for f in style]) >= 0


def test_colour_statistics_see_brightness_and_contrast_that_zero_mean_features_do_not():
    from gan_lightning.core.nets.perceptual import PerceptualConfig

    torch.manual_seed(0)
    style = torch.rand(2, 3, 16, 16) * 2 - 1
    # the style batch's pooled statistics: an image with the same per-channel mean and std scores 0
    pooled = style.transpose(0, 1).flatten(1)
    flat = torch.randn(1, 3, 256)
    standardised = ((flat - flat.mean(2, keepdim=True)) / flat.std(2, unbiased=False, keepdim=True)).reshape(1, 3, 16, 16)
    matched = standardised * pooled.std(1, unbiased=False)[:, None, None] + pooled.mean(1)[:, None, None]
    assert float(colour_statistics_loss(matched, style)) < 1e-4  # mean_std's eps
    photo = torch.rand(1, 3, 16, 16) * 2 - 1
    darker, flatter = 0.5 * photo - 0.5, 0.5 * photo
    network = PerceptualConfig("random_wide", width=8).build()
    with torch.no_grad():  # random_wide's zero-mean filters: no features at all for any grey level
        assert all(float(f.abs().max()) < 1e-5 for level in (-0.8, 0.3) for f in network(torch.full_like(photo, level)))
    distance = lambda image: float(colour_statistics_loss(image, style))  # noqa: E731
    assert distance(darker) > distance(photo) + 0.3 and distance(flatter) > distance(photo)
    image = photo.clone().requires_grad_(True)
    colour_statistics_loss(image, style).backward()
    assert image.grad is not None and image.grad.abs().sum() > 0


def test_mapped_photo_colour_target_keeps_a_dark_crop_darker_than_a_light_one():
    torch.manual_seed(0)
    style = torch.rand(1, 3, 16, 16) * 0.5 + 0.2  # light, low contrast
    photos = torch.cat([torch.rand(1, 3, 16, 16) * 0.4 - 0.9, torch.rand(1, 3, 16, 16) * 0.6 + 0.3])  # a dark crop, a light one
    # the one per-channel map taking the photo batch's pooled statistics to the style's, applied to both crops
    pooled_p, pooled_s = photos.transpose(0, 1).flatten(1), style.transpose(0, 1).flatten(1)
    gain = (pooled_s.std(1, unbiased=False) / pooled_p.std(1, unbiased=False))[:, None, None]
    mapped = (photos - pooled_p.mean(1)[:, None, None]) * gain + pooled_s.mean(1)[:, None, None]
    assert float(colour_statistics_loss(mapped, style, photos)) < 1e-3
    assert float(colour_statistics_loss(mapped, style)) > 0.3  # the style target wants both crops at the style's mean
    assert float(mapped[0].mean()) < float(style.mean()) < float(mapped[1].mean())
    # each crop pulled to the style's own statistics is far from its mapped target
    standardised = (photos - photos.mean((2, 3), keepdim=True)) / photos.std((2, 3), unbiased=False, keepdim=True)
    at_style = standardised * pooled_s.std(1, unbiased=False)[:, None, None] + pooled_s.mean(1)[:, None, None]
    assert float(colour_statistics_loss(at_style, style)) < 1e-3 < 0.3 < float(colour_statistics_loss(at_style, style, photos))
    image = photos.clone().requires_grad_(True)
    colour_statistics_loss(image, style, photos).backward()
    assert image.grad is not None and image.grad.abs().sum() > 0


def test_relative_losses_weigh_every_layer_alike_whatever_its_feature_scale():
    torch.manual_seed(0)
    style = [torch.rand(1, 4, 6, 6), torch.rand(1, 8, 3, 3)]
    output = [torch.rand(2, 4, 6, 6), torch.rand(2, 8, 3, 3)]
    grams = [gram_matrix(f) for f in style]
    # each layer's squared distance divided by the style Gram's squared norm (the presets' "relative")
    expected = sum((gram_matrix(o) - g).square().sum((1, 2)).mean() / g.square().sum() for o, g in zip(output, grams)) / 2
    assert torch.allclose(gram_style_loss(output, grams, relative=True), expected)
    # a layer 1000x larger dominates the absolute loss, not the relative one
    scaled = lambda fs: [fs[0], 1000 * fs[1]]  # noqa: E731
    scaled_grams = [gram_matrix(f) for f in scaled(style)]
    assert torch.allclose(gram_style_loss(scaled(output), scaled_grams, relative=True), expected)
    assert gram_style_loss(scaled(output), scaled_grams) > 1e4 * gram_style_loss(output, grams)
    a, b = torch.rand(2, 3, 4, 4), torch.rand(2, 3, 4, 4)
    assert torch.allclose(feature_content_loss(a, b, relative=True), (a - b).square().mean() / b.square().mean())
    assert torch.allclose(feature_content_loss(50 * a, 50 * b, relative=True), feature_content_loss(a, b, relative=True))


def test_content_loss_is_the_feature_mse_and_total_variation_of_a_flat_image_is_zero():
    a, b = torch.zeros(1, 2, 2, 2), torch.ones(1, 2, 2, 2)
    assert feature_content_loss(b, a) == pytest.approx(1.0)
    assert total_variation(torch.full((1, 3, 5, 5), 0.3)) == 0
    assert total_variation(torch.tensor([[[[0.0, 1.0], [0.0, 1.0]]]])) == pytest.approx(1.0)


def test_adain_gives_content_features_the_style_statistics():
    content = torch.randn(2, 5, 8, 8) * 3 + 1
    style = torch.randn(2, 5, 6, 6) * 0.5 - 2
    out = adaptive_instance_norm(content, *mean_std(style))
    (mu_o, sigma_o), (mu_s, sigma_s) = mean_std(out), mean_std(style)
    assert torch.allclose(mu_o, mu_s, atol=1e-4) and torch.allclose(sigma_o, sigma_s, atol=1e-3)
    # positions keep their order: AdaIN is a per-channel affine map of the content
    assert torch.corrcoef(torch.stack([out[0, 0].flatten(), content[0, 0].flatten()]))[0, 1] > 0.999
