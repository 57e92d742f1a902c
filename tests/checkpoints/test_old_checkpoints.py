"""Checkpoints users already have keep working (tests/assets/README.md says what wrote each):
- v0_*: written before hyper-parameters were renamed and grouped;
- main_*: written before the package's folders became its layers (their class paths moved).
Their generators make the same images, every inference command reads them, their hyper-parameters
read in the current names, and `fit` resumes from them."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from gan_lightning.checkpoints.migration import migrate_hparams, renamed_option
from gan_lightning.checkpoints.reading import load_checkpoint, load_generator
from gan_lightning.common.sampling import latents_for_seeds
from tests.conftest import ASSETS, REPO, fast_trainer_args, run_cli

OUTPUTS = {"v0": torch.load(ASSETS / "v0_outputs.pt", weights_only=True), "main": torch.load(ASSETS / "main_outputs.pt", weights_only=True)}
# Float32 rounding: a different thread count sums the convolutions in another order (3e-7 relative seen).
SAME = {"rtol": 1e-5, "atol": 1e-6}
CONTENT = torch.linspace(-1, 1, 3 * 3 * 20 * 24).reshape(3, 3, 20, 24)
STYLE = (torch.linspace(-1, 1, 3 * 3 * 32 * 32).reshape(3, 3, 32, 32) * 7).remainder(2) - 1
# (file or folder in tests/assets, key of its outputs, use_ema)
LATENT = [
    ("v0_vanilla_gan.ckpt", "vanilla_gan", True),
    ("v0_stylegan.ckpt", "stylegan", True),
    ("v0_converted_rosinality.ckpt", "converted_rosinality", True),
    ("main_vanilla_gan.ckpt", "vanilla_gan", True),
    ("main_vanilla_gan.ckpt", "vanilla_gan_no_ema", False),
    ("main_stylegan.ckpt", "stylegan", True),
    ("main_stylegan.ckpt", "stylegan_no_ema", False),
    ("main_stylegan_folder", "stylegan", True),
]


@pytest.mark.parametrize(("file", "key", "use_ema"), LATENT, ids=[f"{f}-{k}" for f, k, _ in LATENT])
def test_latent_generators_make_the_same_images(file: str, key: str, use_ema: bool) -> None:
    generator, checkpoint = load_generator(ASSETS / file, use_ema=use_ema)
    kwargs = {"noise_mode": "const"} if checkpoint["algorithm"] == "StyleGAN" else {}
    with torch.no_grad():
        images = generator(latents_for_seeds([0, 1, 2], generator.z_dim), **kwargs)
    torch.testing.assert_close(images, OUTPUTS[file.split("_")[0]][key], **SAME)


@pytest.mark.parametrize("layout", ["v0", "main"])
def test_translators_make_the_same_images(layout: str) -> None:
    cut, _ = load_generator(ASSETS / f"{layout}_style_transfer.ckpt")
    with torch.no_grad():
        torch.testing.assert_close(cut(CONTENT), OUTPUTS[layout]["style_transfer"], **SAME)


def test_arbitrary_style_makes_the_same_images() -> None:
    adain, _ = load_generator(ASSETS / "main_arbitrary_style.ckpt")
    with torch.no_grad():
        statistics = adain.style_statistics(STYLE)
        torch.testing.assert_close(adain(CONTENT, *statistics), OUTPUTS["main"]["arbitrary_style"], **SAME)
        torch.testing.assert_close(adain(CONTENT, *statistics, alpha=0.5), OUTPUTS["main"]["arbitrary_style_alpha_0.5"], **SAME)


def test_old_hyper_parameters_are_renamed_and_grouped() -> None:
    vanilla = load_checkpoint(ASSETS / "v0_vanilla_gan.ckpt")["hyper_parameters"]
    assert vanilla["generator"] == {"z_dim": 8, "width": 4} and vanilla["gan_loss"] == "non_saturating"
    assert "latent_dim" not in vanilla and "loss" not in vanilla and "generator_width" not in vanilla
    stylegan = load_checkpoint(ASSETS / "v0_stylegan.ckpt")["hyper_parameters"]
    assert stylegan["generator"]["channel_base"] == 128 and stylegan["discriminator"]["mbstd_group_size"] == 4
    assert "z_dim" not in stylegan and "channel_base" not in stylegan
    style = load_checkpoint(ASSETS / "v0_style_transfer.ckpt")["hyper_parameters"]
    assert style["fid_features"] == {"class_path": "gan_lightning.evaluation.features.LookFeatures"}
    assert migrate_hparams("StyleGAN", stylegan) == stylegan  # current hyper-parameters pass unchanged


def _photo(tmp_path: Path) -> Path:
    photo = tmp_path / "photo.png"
    Image.new("RGB", (40, 36), (120, 30, 200)).save(photo)
    return photo


TOOLS = {
    "vanilla_gan": [["generate", "--num", "2", "--out", "{out}/grid.png"], ["export", "--format", "safetensors", "--out", "{out}/folder"]],
    "stylegan": [
        ["generate", "--num", "2", "--truncation", "0.7", "--out", "{out}/grid.png"],
        ["style-mix", "--rows", "1,2", "--cols", "3", "--styles", "0-1", "--out", "{out}/mix.png"],
        ["interpolate", "--seeds", "1,2", "--steps", "2", "--out", "{out}/walk.gif"],
        ["project", "--target", "{photo}", "--steps", "2", "--w-avg-samples", "16", "--out", "{out}/proj"],
        ["export", "--format", "safetensors", "--out", "{out}/folder"],
    ],
    "style_transfer": [["stylize", "--input", "{photo}", "--out", "{out}/stylized"], ["export", "--format", "safetensors", "--out", "{out}/folder"]],
    "arbitrary_style": [["stylize", "--input", "{photo}", "--style", "{photo}", "--out", "{out}/stylized"]],
}


@pytest.mark.parametrize("name", list(TOOLS))
def test_every_inference_command_reads_them(name: str, tmp_path: Path) -> None:
    photo = _photo(tmp_path)
    for command in TOOLS[name]:
        args = [a.format(out=tmp_path, photo=photo) for a in command]
        run_cli(args[0], "--ckpt", ASSETS / f"main_{name}.ckpt", *args[1:])
    written = {p.name for p in tmp_path.iterdir()} - {"photo.png"}
    assert written == {Path(c[c.index("--out") + 1]).name for c in TOOLS[name]}


# The preset each was trained with and its batch size (tests/assets/README.md); the v0_* files come
# from the layout before hyper-parameters were renamed and grouped.
RESUME = {
    "main_vanilla_gan": ("vanilla_gan", ["--data.init_args.batch_size", "4"]),
    "main_stylegan": ("stylegan", ["--data.init_args.batch_size", "4"]),
    "main_style_transfer": ("style_transfer", ["--data.init_args.batch_size", "2"]),
    "main_arbitrary_style": ("style_transfer_adain", ["--data.init_args.batch_size", "2"]),
    "v0_vanilla_gan": ("vanilla_gan", ["--data.init_args.batch_size", "4"]),
    "v0_stylegan": ("stylegan", ["--data.init_args.batch_size", "4"]),
    "v0_style_transfer": ("style_transfer", ["--data.init_args.batch_size", "2"]),
}


@pytest.mark.parametrize("name", list(RESUME))
def test_fit_resumes_from_them(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    preset, data = RESUME[name]
    old = torch.load(ASSETS / f"{name}.ckpt", weights_only=True)
    epochs_done = old["loops"]["fit_loop"]["epoch_progress"]["current"]["processed"]
    run_cli("fit", "--config", REPO / "configs" / f"{preset}.yaml", *fast_trainer_args(tmp_path),
            "--ckpt_path", ASSETS / f"{name}.ckpt", "--trainer.max_epochs", str(epochs_done + 1),
            "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "1", *data)  # fmt: skip
    new = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert new["state_dict"]["images_seen"] == old["state_dict"]["images_seen"] + 2 * int(data[1])  # went on, not restarted
    assert new["global_step"] > old["global_step"]
    algorithm = old["hyper_parameters"]["_class_path"].rsplit(".", 1)[-1]
    assert not [key for key in new["hyper_parameters"] if renamed_option(algorithm, key)]  # saved in the current names
    assert all(new["state_dict"][key].shape == value.shape for key, value in old["state_dict"].items())
