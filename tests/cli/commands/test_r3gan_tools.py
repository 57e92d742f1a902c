"""An R3GAN checkpoint from `fit` works with generate, export (safetensors, ONNX), evaluate and
fine-tuning (init_from) as the other latent generators' do, and interpolate walks it in Z (as the
VanillaGAN's, the other generator without a W space)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from lightning.pytorch import Callback, Trainer
from PIL import Image

from gan_lightning.checkpoints.reading import load_checkpoint, load_generator
from gan_lightning.common.errors import UserError
from gan_lightning.common.sampling import latents_for_seeds
from gan_lightning.data import ShapesDataModule
from gan_lightning.training.fine_tuning import init_from_checkpoint
from gan_lightning.training.models import R3GAN
from tests.conftest import REPO, fast_trainer_args, run_cli

NETWORKS = {"widths": [16, 16, 8, 8], "cardinalities": [4, 4, 2, 2], "blocks": [1, 1, 1, 1]}
TINY_ARGS = [
    *[arg for network in ("generator", "discriminator") for name, value in NETWORKS.items()
      for arg in (f"--model.init_args.{network}.{name}", str(value))],
    "--model.init_args.generator.z_dim", "8", "--model.init_args.fid_num_samples", "8", "--model.init_args.num_fixed_samples", "4",
    "--data.init_args.num_train", "16", "--data.init_args.batch_size", "8",
    "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "1",
]  # fmt: skip


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """configs/r3gan.yaml trained for two tiny batches through the CLI."""
    root = tmp_path_factory.mktemp("r3gan")
    run_cli("fit", "--config", REPO / "configs" / "r3gan.yaml", *fast_trainer_args(root), *TINY_ARGS)
    (path,) = (root / "checkpoints").glob("last*.ckpt")
    return path


def test_generate_makes_the_generators_images(checkpoint: Path, tmp_path: Path) -> None:
    run_cli("generate", "--ckpt", checkpoint, "--num", "3", "--seed", "5", "--out", f"{tmp_path / 'images'}/")
    generator, _ = load_generator(checkpoint)
    with torch.no_grad():
        expected = generator(latents_for_seeds([5, 6, 7], generator.z_dim))
    files = sorted((tmp_path / "images").glob("*.png"))
    assert len(files) == 3
    written = torch.tensor(list(Image.open(files[0]).getdata()), dtype=torch.float32).T.reshape(3, 32, 32)
    assert (written / 127.5 - 1 - expected[0].clamp(-1, 1)).abs().max() <= 1 / 127.5 + 1e-6  # 8-bit rounding


def test_export_to_a_model_folder_gives_the_same_images(checkpoint: Path, tmp_path: Path) -> None:
    run_cli("export", "--ckpt", checkpoint, "--format", "safetensors", "--out", tmp_path / "folder")
    generator, _ = load_generator(checkpoint)
    reloaded, _ = load_generator(tmp_path / "folder")
    z = latents_for_seeds([0, 1], generator.z_dim)
    with torch.no_grad():
        torch.testing.assert_close(reloaded(z), generator(z), rtol=0, atol=0)


@pytest.mark.slow  # the ONNX export traces for ~15 s on a CPU
def test_export_to_onnx_gives_the_same_images(checkpoint: Path, tmp_path: Path) -> None:
    onnxruntime = pytest.importorskip("onnxruntime")
    run_cli("export", "--ckpt", checkpoint, "--format", "onnx", "--out", tmp_path / "generator.onnx")
    generator, _ = load_generator(checkpoint)
    z = latents_for_seeds([0, 1], generator.z_dim)
    session = onnxruntime.InferenceSession(str(tmp_path / "generator.onnx"))
    (onnx_images,) = session.run(None, {session.get_inputs()[0].name: z.numpy()})
    with torch.no_grad():
        assert abs(torch.from_numpy(onnx_images) - generator(z)).max() < 1e-3


def test_evaluate_reports_fid_offline(checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run_cli("evaluate", "--ckpt", checkpoint, "--detector", "shapes", "--num-gen", "16", "--batch-size", "8", "--cache-dir", tmp_path,
            "--data", "ShapesDataModule", "--data.num_train", "16", "--data.num_workers", "0", "--metrics", "fid50k_full")  # fmt: skip
    assert "fid50k_full" in capsys.readouterr().out


def test_init_from_starts_fit_from_the_checkpoints_networks(checkpoint: Path, tmp_path: Path) -> None:
    started = {}

    class Weights(Callback):
        def on_train_start(self, trainer, pl_module) -> None:
            started.update({k: v.clone() for k, v in pl_module.state_dict().items() if k.split(".")[0] in ("generator", "generator_ema", "discriminator")})

    hp = load_checkpoint(checkpoint)["hyper_parameters"]
    model = R3GAN(resolution=32, generator=hp["generator"], discriminator=hp["discriminator"], init_from=str(checkpoint), fid_features="shapes")
    Trainer(default_root_dir=tmp_path, logger=False, enable_checkpointing=False, enable_progress_bar=False, max_epochs=1, limit_train_batches=1, limit_val_batches=0,
            num_sanity_val_steps=0, accelerator="cpu", callbacks=[Weights()]).fit(model, ShapesDataModule(resolution=32, num_train=16, batch_size=8, num_workers=0))  # fmt: skip
    stored = load_checkpoint(checkpoint)["state_dict"]
    assert started and all(torch.equal(value, stored[key]) for key, value in started.items())
    with pytest.raises(UserError, match="is a R3GAN checkpoint; StyleGAN needs a StyleGAN one"):
        init_from_checkpoint(str(checkpoint), 32, 3, {"generator": {}, "discriminator": {}}, {}, None)


def spherical(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """The point a fraction t along the great-circle arc from a to b, scaled as they are."""
    angle = torch.arccos(torch.dot(a, b) / (a.norm() * b.norm()))
    return (torch.sin((1 - t) * angle) * a + torch.sin(t * angle) * b) / torch.sin(angle)


def read_frames(folder: Path) -> torch.Tensor:
    files = sorted(folder.glob("frame*.png"))
    return torch.stack([torch.tensor(list(Image.open(f).getdata()), dtype=torch.float32).T.reshape(3, 32, 32) for f in files]) / 127.5 - 1


def test_interpolate_walks_spherically_in_z_through_the_seeds(checkpoint: Path, tmp_path: Path) -> None:
    run_cli("interpolate", "--ckpt", checkpoint, "--seeds", "4,9", "--steps", "3", "--out", f"{tmp_path / 'frames'}/")
    generator, _ = load_generator(checkpoint)
    a, b = latents_for_seeds([4, 9], generator.z_dim)
    with torch.no_grad():
        expected = generator(torch.stack([spherical(a, b, t) for t in (0, 1 / 3, 2 / 3, 1)]))
    assert (read_frames(tmp_path / "frames") - expected.clamp(-1, 1)).abs().max() <= 1 / 127.5 + 1e-5  # 8-bit rounding
    run_cli("interpolate", "--ckpt", checkpoint, "--seeds", "4,9,2", "--steps", "2", "--loop", "--out", tmp_path / "walk.gif")
    assert Image.open(tmp_path / "walk.gif").n_frames == 3 * 2


def test_interpolate_writes_an_mp4_walk(checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run_cli("interpolate", "--ckpt", checkpoint, "--seeds", "0,1", "--steps", "4", "--space", "z", "--out", tmp_path / "walk.mp4")
    assert "(5 frames" in capsys.readouterr().out and (tmp_path / "walk.mp4").stat().st_size > 0


@pytest.mark.parametrize(
    ("option", "words"),
    [
        (["--seeds", "0,1", "--space", "w"], "--space w: a R3GAN generator maps z straight to images, with no W space"),
        (["--seeds", "0,1", "--truncation", "0.7"], "--truncation applies to StyleGAN checkpoints; this one is R3GAN"),
        (["--latents", "a_ws.pt,b_ws.pt"], "--latents: `project` outputs are StyleGAN W+ points; a R3GAN generator has no W space"),
    ],
)  # fmt: skip
def test_interpolate_says_in_one_line_what_needs_a_w_space(checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture, option: list[str], words: str) -> None:
    with pytest.raises(SystemExit):
        run_cli("interpolate", "--ckpt", checkpoint, *option, "--out", tmp_path / "walk.gif")
    error = capsys.readouterr().err
    assert words in error and len(error.strip().splitlines()) == 1
    assert not (tmp_path / "walk.gif").exists()


def test_interpolate_walks_a_vanilla_gan_in_z(tmp_path: Path) -> None:
    vanilla = REPO / "tests" / "assets" / "main_vanilla_gan.ckpt"
    run_cli("interpolate", "--ckpt", vanilla, "--seeds", "1,2", "--steps", "2", "--out", f"{tmp_path / 'frames'}/")
    generator, _ = load_generator(vanilla)
    a, b = latents_for_seeds([1, 2], generator.z_dim)
    with torch.no_grad():
        expected = generator(torch.stack([spherical(a, b, t) for t in (0, 1 / 2, 1)]))
    assert (read_frames(tmp_path / "frames") - expected.clamp(-1, 1)).abs().max() <= 1 / 127.5 + 1e-5


def test_the_studio_shows_generate_and_walk_and_makes_what_its_command_line_makes(checkpoint: Path, tmp_path: Path, monkeypatch) -> None:
    import shlex

    from gan_lightning.cli.studio.session import Studio

    studio = Studio(str(checkpoint), "cpu", tmp_path / "studio")
    assert studio.panels == ("generate", "walk")
    result = studio.generate(4, 3)
    monkeypatch.chdir(tmp_path)
    run_cli(*shlex.split(result.command)[3:])
    assert list(Image.open(result.files[0]).getdata()) == list(Image.open(tmp_path / "generate.png").getdata())
