"""colour_distance compares palettes, not arrangements or sizes."""

import torch

from gan_lightning.evaluation.texture import colour_distance


def test_colour_distance_is_zero_for_a_rearranged_palette_and_one_for_black_against_white():
    images = torch.rand(1, 3, 30, 40) * 2 - 1
    assert colour_distance(images, images.flip(-1).transpose(-1, -2)) < 1e-6
    assert abs(colour_distance(torch.full((1, 3, 8, 8), -1.0), torch.ones(2, 3, 5, 7)) - 1.0) < 1e-6
    tinted = images.clone()
    tinted[:, 0] = (tinted[:, 0] + 0.4).clamp(max=1)
    assert 0.0 < colour_distance(tinted, images) < colour_distance(torch.ones_like(images), images)
