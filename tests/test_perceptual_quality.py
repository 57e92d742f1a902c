"""Perceptual style transfer moves texture, measured: on scikit-image's shipped photos and an example
style, the stylized image's Gram statistics (in an independent random network) move towards the
style's by a clear margin, while the photo's structure (SSIM of blurred greys) stays."""

import pytest
import torch
from lightning.pytorch import Trainer, seed_everything
from torchvision.transforms.v2 import functional as TF

from gan_lightning.data import PhotoStyleDataModule
from gan_lightning.data.example_photos import example_photo, example_style
from gan_lightning.evaluation.texture import blurred_grey_correlation, blurred_grey_ssim, gram_distance
from gan_lightning.images import pil_to_tensor
from gan_lightning.models.perceptual import PerceptualTerms
from gan_lightning.models.style_transfer import StyleTransfer


pytestmark = pytest.mark.usefixtures("one_thread")


def shipped(image, size: int) -> torch.Tensor:
    return TF.center_crop(TF.resize(pil_to_tensor(image)[None], size, antialias=True), size)


@pytest.mark.parametrize("features", ["random", "random_wide"])
def test_optimising_a_photo_with_the_perceptual_losses_takes_the_style_texture_and_keeps_its_shapes(features):
    # Gatys et al. 2016 with the offline features: the loss terms alone, on the image itself.
    torch.manual_seed(0)
    content, style = shipped(example_photo("astronaut"), 64), shipped(example_style("grass_ink"), 64)
    terms = PerceptualTerms(features, None, 16, "gram", "relu3_1")
    image = content.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([image], lr=0.03)
    for _ in range(60):
        style_loss, content_loss = terms(content, style, image)
        optimizer.zero_grad()
        (1e4 * style_loss + content_loss).backward()
        optimizer.step()
        with torch.no_grad():
            image.clamp_(-1, 1)
    before, after = gram_distance(content, style), gram_distance(image.detach(), style)
    structure, ssim = blurred_grey_correlation(image.detach(), content), blurred_grey_ssim(image.detach(), content)
    print(f"gram distance {before:.3f} -> {after:.3f}, blurred-grey correlation {structure:.3f}, SSIM {ssim:.3f}")
    assert after < 0.5 * before
    assert structure > 0.8  # the style image itself: about 0.06; a flat image: 0


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason="known gap, measured 2026-11-25: Gram distance 4.60 -> 0.61 but blurred-grey correlation -0.05: "
    "a 150-step CPU training does not keep an unseen photo's structure yet (README, 'Which mode to pick')",
)
def test_fast_neural_style_generator_stylizes_an_unseen_photo_with_the_style_texture(tmp_path):
    seed_everything(0)
    photos = tmp_path / "photos"  # three of the shipped photos; the fourth (coffee) is kept for the check
    photos.mkdir()
    for name in ("astronaut", "chelsea", "rocket"):
        example_photo(name).save(photos / f"{name}.png")
    data = PhotoStyleDataModule(content=str(photos), resolution=64, load_size=96, style_load_size=128, crops_per_epoch=600, batch_size=4, num_workers=0)
    model = StyleTransfer(
        resolution=64, ngf=16, n_blocks=3, antialias=True, lambda_gan=0.0, lambda_nce=0.0, nce_identity=False,
        lambda_style=1e4, lambda_content=10.0, content_layer="relu2_1", perceptual_width=16, lr=1e-3, lr_constant_epochs=1, lr_decay_epochs=0,
        fid_features="shapes",
    )  # fmt: skip
    Trainer(accelerator="cpu", max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
            enable_model_summary=False, limit_val_batches=0, default_root_dir=tmp_path).fit(model, data)  # fmt: skip
    content = shipped(example_photo("coffee"), 96)  # a photo never seen in training
    style = shipped(example_style("grass_ink"), 128)
    stylized = model.stylize(content)
    before, after = gram_distance(content, style), gram_distance(stylized, style)
    structure, ssim = blurred_grey_correlation(stylized, content), blurred_grey_ssim(stylized, content)
    # For scale: the style image itself scores about 0 here, and its SSIM with the photo is 0.35.
    print(f"gram distance {before:.3f} -> {after:.3f}, blurred-grey correlation {structure:.3f}, SSIM {ssim:.3f}")
    assert after < 0.6 * before
    assert structure > 0.3
