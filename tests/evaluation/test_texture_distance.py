"""The benchmark's two Gram measures: gram_distance moves with flat colour, texture_gram_distance only with structure."""

import torch

from gan_lightning.evaluation.texture import gram_distance, texture_gram_distance


def test_a_flat_colour_shift_moves_the_gram_distance_and_leaves_the_texture_distance():
    torch.manual_seed(0)
    style = torch.rand(1, 3, 64, 64) * 1.6 - 0.8
    photo = torch.nn.functional.avg_pool2d(torch.rand(1, 3, 64, 64), 5, 1, 2) * 0.8 - 0.4  # smoother: another texture
    tinted = photo + torch.tensor([0.3, 0.1, -0.3]).view(1, 3, 1, 1)  # a recolouring, inside the range
    assert abs(texture_gram_distance(tinted, style) - texture_gram_distance(photo, style)) < 1e-4
    assert abs(gram_distance(tinted, style) - gram_distance(photo, style)) > 0.05
    another_sample = torch.rand(1, 3, 64, 64) * 1.6 - 0.8  # the same texture
    assert texture_gram_distance(another_sample, style) < 0.2 < texture_gram_distance(photo, style)
