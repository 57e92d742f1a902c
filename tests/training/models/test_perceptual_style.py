"""Perceptual style transfer: fast neural style (StyleTransfer with perceptual terms only) and
arbitrary style (AdaIN), trained through the CLI presets for a few steps, then `stylize`."""

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from gan_lightning.checkpoints.reading import load_checkpoint
from gan_lightning.data import PhotoStyleDataModule
from gan_lightning.data.example_photos import GREY_PHOTOS
from gan_lightning.common.errors import UserError
from gan_lightning.core.losses import gram_matrix, gram_style_loss, mean_std
from gan_lightning.training.models.arbitrary_style import ArbitraryStyleTransfer
from gan_lightning.training.models.style_transfer import StyleTransfer
from gan_lightning.core.nets.adain import adaptive_instance_norm
from tests.conftest import REPO, fast_trainer_args, run_cli, write_rgb_images

TINY_DATA = [
    "--data.init_args.resolution", "32", "--data.init_args.load_size", "40", "--data.init_args.style_load_size", "48",
    "--data.init_args.crops_per_epoch", "4", "--data.init_args.batch_size", "2",
    "--trainer.max_steps", "2", "--trainer.limit_val_batches", "1", "--trainer.num_sanity_val_steps", "0",
    "--model.init_args.fid_num_samples", "4",
]  # fmt: skip


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def photos(tmp_path) -> tuple[Path, Path, Path]:
    """(content folder, one style image, a folder of style images)."""
    content = tmp_path / "photos"
    write_rgb_images(content, 3, size=(52, 44))
    styles = tmp_path / "styles"
    write_rgb_images(styles, 2, size=(60, 50), seed=3)
    return content, styles / "img000.png", styles


def fit(tmp_path: Path, config: str, *extra: str) -> Path:
    spec = [{"class_path": "lightning.pytorch.callbacks.ModelCheckpoint", "init_args": {"dirpath": str(tmp_path / "ckpt"), "save_last": True}}]
    run_cli("fit", "--config", REPO / "configs" / config, *fast_trainer_args(tmp_path), *TINY_DATA, "--trainer.callbacks", json.dumps(spec), *extra)
    return tmp_path / "ckpt" / "last.ckpt"


def test_fast_neural_style_preset_trains_only_the_generator_and_stylizes_photos(tmp_path, photos, monkeypatch):
    from gan_lightning.training.models import style_transfer

    content, style, _ = photos
    colour_calls, colour_loss = [], style_transfer.colour_statistics_loss

    def recording_colour_loss(images, style_images, photos=None):
        colour_calls.append((images.shape, photos))
        return colour_loss(images, style_images, photos)

    monkeypatch.setattr(style_transfer, "colour_statistics_loss", recording_colour_loss)
    ckpt = fit(tmp_path, "style_transfer_fast_neural.yaml", "--data.init_args.content", content, "--data.init_args.style", style,
               "--model.init_args.generator.width", "8", "--model.init_args.generator.blocks", "1", "--model.init_args.perceptual.width", "8",
               "--model.init_args.lambda_texture", "1", "--model.init_args.texture_network.width", "8", "--model.init_args.colour_target", "mapped_photo")  # fmt: skip
    # the mapped_photo colour target is given the step's photo crops, one per output
    assert colour_calls and all(photos is not None and photos.shape == shape for shape, photos in colour_calls)
    checkpoint = load_checkpoint(ckpt)
    state = checkpoint["state_dict"]
    assert checkpoint["algorithm"] == "StyleTransfer" and checkpoint["hyper_parameters"]["lambda_style"] > 0
    assert checkpoint["hyper_parameters"]["colour_target"] == "mapped_photo"
    assert checkpoint["hyper_parameters"]["texture_network"] == {"network": "random_spatial", "width": 8, "weights_path": None}
    assert not any("perceptual" in key or "texture" in key for key in state)  # the frozen feature networks are not stored
    # no adversarial term: the style network's optimizer never stepped
    assert checkpoint["optimizer_states"][1]["state"] == {} and checkpoint["optimizer_states"][0]["state"] != {}
    run_cli("stylize", "--ckpt", ckpt, "--input", content, "--out", tmp_path / "out")
    assert Image.open(tmp_path / "out" / "img000.png").size == (52, 44)


def test_perceptual_terms_join_cut_and_their_bad_values_are_one_line():
    model = StyleTransfer(resolution=32, generator=dict(width=8, blocks=1), style_network=dict(width=8), num_patches=16, lambda_style=1.0, perceptual=dict(width=8))
    assert model.perceptual is not None and model.hparams.lambda_gan == 1.0
    with pytest.raises(UserError, match="content_layer 'relu9_9' is invalid"):
        StyleTransfer(resolution=32, lambda_content=1.0, content_layer="relu9_9")
    with pytest.raises(UserError, match="lambda_style must be at least 0, got -1.0"):
        StyleTransfer(resolution=32, lambda_style=-1.0)
    with pytest.raises(UserError, match="lambda_colour must be at least 0, got -1.0"):
        StyleTransfer(resolution=32, lambda_colour=-1.0)
    with pytest.raises(UserError, match="colour_target 'photo' is invalid; allowed: style, mapped_photo"):
        StyleTransfer(resolution=32, lambda_colour=1.0, colour_target="photo")
    with pytest.raises(UserError, match="perceptual_normalisation 'balanced' is invalid; allowed: absolute, relative"):
        StyleTransfer(resolution=32, lambda_style=1.0, perceptual_normalisation="balanced")
    with pytest.raises(UserError, match="perceptual_normalisation 'relative' is invalid with style_statistics 'mean_std'"):
        StyleTransfer(resolution=32, lambda_style=1.0, style_statistics="mean_std", perceptual_normalisation="relative")


def test_a_style_transfer_checkpoint_saved_before_the_normalisation_option_keeps_its_absolute_losses(tmp_path):
    import lightning

    model = StyleTransfer(resolution=32, generator=dict(width=8, blocks=1), style_network=dict(width=8), num_patches=16, lambda_style=1.0, perceptual=dict(width=8), perceptual_normalisation="relative")
    assert model.perceptual.relative
    old_hparams = {key: value for key, value in model.hparams.items() if key != "perceptual_normalisation"}
    torch.save({"state_dict": model.state_dict(), "hyper_parameters": old_hparams, "pytorch-lightning_version": lightning.__version__}, tmp_path / "old.ckpt")
    loaded = StyleTransfer.load_from_checkpoint(tmp_path / "old.ckpt")
    assert loaded.hparams.perceptual_normalisation == "absolute" and not loaded.perceptual.relative
    torch.manual_seed(0)
    content, style = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    stylized = loaded.stylize(content)
    features, style_features = loaded.perceptual.network(stylized), loaded.perceptual.network(style)
    absolute = gram_style_loss(features, [gram_matrix(f).mean(0, keepdim=True) for f in style_features])
    assert torch.allclose(loaded.perceptual(content, style, stylized)[0], absolute)


def test_the_texture_term_is_a_gram_style_term_that_a_shift_of_the_colours_leaves_alone():
    model = StyleTransfer(resolution=32, generator=dict(width=8, blocks=1), lambda_gan=0.0, lambda_nce=0.0, lambda_style=1.0, lambda_texture=2.0,
                          perceptual=dict(network="random_wide", width=8), texture_network=dict(width=8), perceptual_normalisation="relative")  # fmt: skip
    assert model.texture is not None and model.texture.network.name == "random_spatial" and model.hparams.texture_network["width"] == 8
    assert StyleTransfer(resolution=32, lambda_style=1.0).texture is None  # off by default: no second network built
    torch.manual_seed(0)
    content, style = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(1, 3, 32, 32) * 2 - 1
    stylized = model.stylize(content)
    # the style loss alone, as the full perceptual call computes it in that network
    assert torch.allclose(model.texture.style_term(style, stylized), model.texture(content, style, stylized)[0])
    # a flat shift of each channel (a recolouring) moves the colour-sensitive style term, not the texture term
    shifted = stylized + torch.tensor([0.3, -0.2, 0.1]).view(1, 3, 1, 1)
    assert torch.allclose(model.texture.style_term(style, shifted), model.texture.style_term(style, stylized), rtol=1e-4)
    assert not torch.allclose(model.perceptual(content, style, shifted)[0], model.perceptual(content, style, stylized)[0], rtol=1e-2)
    with pytest.raises(UserError, match="lambda_texture must be at least 0, got -1.0"):
        StyleTransfer(resolution=32, lambda_texture=-1.0)


def cli_error(capsys, *args) -> str:
    """The one line `python -m gan_lightning ARGS` prints before exiting with status 2."""
    with pytest.raises(SystemExit) as exit_info:
        run_cli(*args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
    return err


def test_arbitrary_style_preset_stylizes_with_a_style_never_seen_in_training(tmp_path, photos, capsys):
    content, _, styles = photos
    ckpt = fit(tmp_path, "style_transfer_adain.yaml", "--data.init_args.content", content, "--data.init_args.style", styles,
               "--model.init_args.perceptual.width", "8")  # fmt: skip
    unseen = write_rgb_images(tmp_path / "unseen", 1, size=(70, 30), seed=9)[0]
    photo = content / "img001.png"
    outputs = {}
    for name, flags in {"full": [], "half": ["--alpha", "0.5"], "colour": ["--preserve-color"]}.items():
        run_cli("stylize", "--ckpt", ckpt, "--style", unseen, "--input", photo, "--out", tmp_path / name, *flags)
        image = Image.open(tmp_path / name / photo.name)
        assert image.size == (52, 44)
        outputs[name] = torch.tensor(list(image.getdata()), dtype=torch.float32)
    assert not torch.equal(outputs["full"], outputs["half"]) and not torch.equal(outputs["full"], outputs["colour"])
    capsys.readouterr()
    assert "add --style IMAGE" in cli_error(capsys, "stylize", "--ckpt", ckpt, "--input", photo, "--out", tmp_path / "x")
    assert "--style 'nope.png' does not exist" in cli_error(capsys, "stylize", "--ckpt", ckpt, "--style", "nope.png", "--input", photo, "--out", tmp_path / "x")
    # What is not built for it yet says so in one line; its model folder works.
    assert "use the model folder" in cli_error(capsys, "export", "--ckpt", ckpt, "--format", "onnx", "--out", tmp_path / "a.onnx")
    assert "does not score ArbitraryStyleTransfer" in cli_error(capsys, "evaluate", "--ckpt", ckpt, "--metrics", "fid50k_full")
    run_cli("export", "--ckpt", ckpt, "--format", "safetensors", "--out", tmp_path / "folder")
    run_cli("stylize", "--ckpt", tmp_path / "folder", "--style", unseen, "--input", photo, "--out", tmp_path / "from_folder")
    assert Image.open(tmp_path / "from_folder" / photo.name).size == (52, 44)


def test_style_flag_on_a_one_style_checkpoint_says_it_has_its_trained_style(tmp_path, photos, capsys):
    content, style, _ = photos
    ckpt = tmp_path / "st.ckpt"
    model = StyleTransfer(resolution=32, generator=dict(width=8, blocks=1), style_network=dict(width=8), num_patches=16)
    torch.save({"algorithm": "StyleTransfer", "hyper_parameters": dict(model.hparams), "state_dict": model.state_dict()}, ckpt)
    assert "has its trained style" in cli_error(capsys, "stylize", "--ckpt", ckpt, "--style", style, "--input", content, "--out", tmp_path / "out")


def test_alpha_mixes_content_and_style_features_in_the_adain_stylizer():
    torch.manual_seed(0)
    model = ArbitraryStyleTransfer(resolution=32, perceptual=dict(width=8), fid_features="shapes")
    content, style = torch.rand(1, 3, 32, 32) * 2 - 1, torch.rand(1, 3, 40, 24) * 2 - 1
    stylizer = model.generator
    encoded = stylizer.encoder(content)[-1]
    assert torch.allclose(model.stylize(content, style, alpha=0.0), stylizer.decoder(encoded), atol=1e-6)
    target = adaptive_instance_norm(encoded, *mean_std(stylizer.encoder(style)[-1]))
    assert not torch.allclose(target, encoded, atol=1e-3)
    assert torch.allclose(model.stylize(content, style, alpha=1.0), stylizer.decoder(target), atol=1e-6)
    assert torch.allclose(model.stylize(content, style, alpha=0.25), stylizer.decoder(0.75 * encoded + 0.25 * target), atol=1e-5)


def test_photo_style_data_gives_crops_of_photos_and_styles_and_names_bad_paths(tmp_path, photos):
    content, style, styles = photos
    data = PhotoStyleDataModule(content=str(content), style=str(styles), resolution=32, load_size=40, crops_per_epoch=6, batch_size=2, num_workers=0)
    data.setup("fit")
    c, s = next(iter(data.train_dataloader()))
    assert c.shape == s.shape == (2, 3, 32, 32) and c.min() >= -1 and c.max() <= 1
    assert len(data.predict_set) == 3
    with pytest.raises(UserError, match="does not exist"):
        PhotoStyleDataModule(content=str(tmp_path / "missing"), style=str(style))
    with pytest.raises(UserError, match="example_styles"):
        PhotoStyleDataModule(example_styles=["van_gogh"])
    with pytest.raises(UserError, match="example_photos \\['lena'\\] invalid; allowed: one or more of astronaut"):
        PhotoStyleDataModule(example_photos=["lena"])


def test_offline_example_photos_and_styles_ship_with_scikit_image():
    data = PhotoStyleDataModule(example_styles=["grass_ink", "cells"], resolution=32, load_size=48, crops_per_epoch=2, batch_size=2, num_workers=0)
    data.setup("fit")
    c, s = next(iter(data.train_dataloader()))
    assert c.shape == s.shape == (2, 3, 32, 32)
    assert [name for _, name in data.predict_set] == ["astronaut", "chelsea", "coffee", "rocket"]
    held_out = PhotoStyleDataModule(example_photos=["astronaut", "rocket"], resolution=32, load_size=48, crops_per_epoch=2, batch_size=2, num_workers=0)
    held_out.setup("fit")  # coffee and chelsea left out of training, e.g. to show them unseen
    assert [name for _, name in held_out.predict_set] == ["astronaut", "rocket"]


def test_the_grey_photographs_train_as_rgb_content():
    data = PhotoStyleDataModule(example_photos=["rocket", *GREY_PHOTOS], resolution=32, load_size=48, crops_per_epoch=4, batch_size=2, num_workers=0)
    data.setup("fit")
    c, _ = next(iter(data.train_dataloader()))
    assert c.shape == (2, 3, 32, 32)
    assert [name for _, name in data.predict_set] == ["rocket", "moon", "clock", "cell", "page", "text"]
    assert all(image.shape[0] == 3 and min(image.shape[1:]) >= 172 for image, _ in data.predict_set)


def test_grey_fraction_turns_that_share_of_content_crops_grey_and_leaves_the_styles_coloured():
    def grey_share(fraction: float) -> tuple[float, float]:
        torch.manual_seed(0)
        data = PhotoStyleDataModule(example_photos=["astronaut"], example_styles=["gravel_rust"], resolution=32, load_size=48, crops_per_epoch=200,
                                    batch_size=200, num_workers=0, grey_fraction=fraction)  # fmt: skip
        data.setup("fit")
        content, style = next(iter(data.train_dataloader()))
        grey = lambda x: ((x[:, 0] == x[:, 1]) & (x[:, 1] == x[:, 2])).flatten(1).all(1).float().mean().item()  # noqa: E731
        return grey(content), grey(style)

    assert grey_share(0.0) == (0.0, 0.0)
    content_share, style_share = grey_share(0.25)
    assert 0.15 < content_share < 0.35 and style_share == 0.0  # 200 crops: a binomial share near 0.25
    assert grey_share(1.0)[0] == 1.0
    with pytest.raises(UserError, match=r"grey_fraction must be in \[0, 1\], got 1.5"):
        PhotoStyleDataModule(grey_fraction=1.5)
