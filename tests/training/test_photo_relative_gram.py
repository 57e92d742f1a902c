"""The style term measured relative to the photo: 1 for the unchanged photo and 0 at the style's
statistics on every pair, whatever the style's feature energy (what "relative" lacks on smooth styles)."""

import pytest
import torch

from gan_lightning.common.errors import UserError
from gan_lightning.core.losses import gram_matrix, gram_style_loss
from gan_lightning.core.nets.perceptual import PerceptualConfig
from gan_lightning.training.perceptual_terms import PerceptualTerms, photo_relative_gram_loss


def features(seed: int, scale: float = 1.0) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.rand(2, c, s, s, generator=generator) * scale for c, s in ((4, 16), (8, 8))]


def test_the_photo_scores_one_and_the_style_zero():
    photo, style = features(0), features(1)
    targets = [gram_matrix(f).mean(0, keepdim=True) for f in style]
    assert photo_relative_gram_loss(photo, photo, targets).item() == pytest.approx(1.0)
    one_gram = [f[:1].expand_as(f) for f in style]
    assert photo_relative_gram_loss(one_gram, photo, [gram_matrix(f[:1]) for f in style]).item() == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("energy", [1.0, 0.05])
def test_a_low_energy_style_does_not_inflate_the_term(energy):
    # A smooth style has little feature energy: "relative" divides by its small Gram norm and grows
    # by orders of magnitude; relative to the photo, the term of the photo at half contrast stays below 1.
    photo, style = features(0, scale=2.0), features(1, scale=energy)  # the photo: more contrast than the style
    targets = [gram_matrix(f).mean(0, keepdim=True) for f in style]
    flattened = [f * 0.5 for f in photo]
    loss = photo_relative_gram_loss(flattened, photo, targets).item()
    assert 0 < loss < 1
    relative = gram_style_loss(flattened, targets, relative=True).item()
    if energy < 1:
        assert relative > 50 * loss


def test_the_option_is_one_of_the_normalisations_and_needs_gram_statistics():
    terms = PerceptualTerms(PerceptualConfig(network="random_wide", width=4), "gram", "relu2_1", "photo_relative")
    content, style = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    style_loss, content_loss = terms(content, style, content)
    assert style_loss.item() == pytest.approx(1.0, rel=1e-4) and content_loss.item() == 0
    with pytest.raises(UserError, match="perceptual_normalisation 'photo_relative' is invalid with style_statistics 'mean_std'"):
        PerceptualTerms(PerceptualConfig(width=4), "mean_std", "relu2_1", "photo_relative")
