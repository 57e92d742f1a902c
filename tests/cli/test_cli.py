"""What a user does at the command line: train from each config, inspect and override options,
swap the data, generate images, and get one-line errors for bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from gan_lightning.cli.config_files import included_configs
from tests.conftest import CONFIGS, REPO, fast_trainer_args, run_cli, run_cli_subprocess

# A narrow network (channel_max 32) where the preset's widths cost most of a minute of CPU: the run
# still composes the preset, builds its blocks at its resolution and takes a step; its widths and
# other values are checked by tests/training/test_nvlabs_presets.py.
NARROW = ["--model.init_args.generator.channel_max", "32", "--model.init_args.discriminator.channel_max", "32"]
CONFIGS_ON_USER_DATA = {  # config -> data overrides: a tiny image folder instead of the user's folder or CIFAR-10
    "stylegan_256": ["--data.init_args.root", "{folder}", *NARROW],
    "stylegan_cifar": ["--data", "gan_lightning.data.ImageFolderDataModule", "--data.init_args.root", "{folder}",
                       "--data.init_args.resolution", "32"],
    "stylegan_auto": ["--data.init_args.root", "{folder}", "--data.init_args.resolution", "32",
                      *NARROW],
    **{name: ["--data.init_args.root", "{folder}", "--data.init_args.resolution", "32", "--model.init_args.stylegan3.z_dim", "16",
              "--model.init_args.stylegan3.w_dim", "16", "--model.init_args.stylegan3.num_layers", "4",
              "--model.init_args.stylegan3.channel_max", "16", "--model.init_args.discriminator.channel_max", "32"]
       for name in ("stylegan3_t", "stylegan3_r")},
    # the official R3GAN overlay's code path on a folder, with narrow networks (the preset's are 768 wide)
    "r3gan_ffhq64": ["--data.init_args.root", "{folder}", *[arg for network in ("generator", "discriminator") for arg in (
        f"--model.init_args.{network}.widths", "[16, 16, 16, 16, 8]", f"--model.init_args.{network}.cardinalities", "[4, 4, 4, 4, 2]")]],
}  # fmt: skip
# Bundled-data configs whose networks cost most of a minute of CPU at fast_dev_run's validation (512
# samples for ShapesQuality): narrower, with the preset's layer count, resolution and every code path.
NARROW_ON_BUNDLED_DATA = {
    "stylegan3": ["--model.init_args.stylegan3.channel_max", "8", "--model.init_args.discriminator.channel_max", "32"],
}
# NVlabs presets that differ from stylegan_256 in values only (same model, data and code paths): a fit
# of each would cost a minute of CPU; tests/training/test_nvlabs_presets.py parses them and checks every value.
# The other official R3GAN presets differ from r3gan_ffhq64 in values and data only;
# tests/training/test_r3gan_presets.py parses each and checks its values and parameter counts.
PARSED_ONLY = {"stylegan_512", "stylegan_1024", "stylegan_config_f", "r3gan_cifar10", "r3gan_ffhq256", "r3gan_imagenet32", "r3gan_imagenet64"}


def test_every_config_is_covered() -> None:
    """A new preset must be run by the test below: bundled data, or listed with its folder override."""
    for config in CONFIGS:
        data = [(yaml.safe_load(path.read_text()).get("data") or {}).get("class_path") for path, _ in included_configs(config)]
        data_class = [name for name in data if name][-1]  # the last file naming one (a preset may start from another)
        bundled = any(name in data_class for name in ("Shapes", "StackedDigits", "SingleImagePair", "PhotoStyle"))
        assert bundled or config.stem in CONFIGS_ON_USER_DATA or config.stem in PARSED_ONLY, config.name


FIT_CONFIGS = [c for c in CONFIGS if c.stem not in PARSED_ONLY]


@pytest.mark.parametrize("config", FIT_CONFIGS, ids=[c.stem for c in FIT_CONFIGS])
def test_fit_fast_dev_run_on_every_config(config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.conftest import write_rgb_images

    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "images"
    write_rgb_images(folder, 8, size=(40, 36))
    overrides = [arg.format(folder=folder) for arg in CONFIGS_ON_USER_DATA.get(config.stem, NARROW_ON_BUNDLED_DATA.get(config.stem, []))]
    run_cli("fit", "--config", config, *fast_trainer_args(tmp_path), "--trainer.fast_dev_run", "1",
            "--data.init_args.batch_size", "4", *overrides, "--model.init_args.fid_features", "shapes")  # fmt: skip


def test_print_config_lists_every_option(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run_cli("fit", "--config", REPO / "configs" / "vanilla_gan.yaml", "--print_config")
    assert exit_info.value.code == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    model = printed["model"]["init_args"]
    assert "z_dim" in model["generator"] and "width" in model["discriminator"]
    for option in ("gan_loss", "generator_lr", "betas", "ema_decay", "max_kimg", "fid_weights_path", "fid_num_samples"):
        assert option in model, option
    assert "resolution" not in model  # given once, by the data
    assert printed["data"]["init_args"]["resolution"] == 32


def test_unknown_key_fails_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run_cli("fit", "--config", REPO / "configs" / "vanilla_gan.yaml", "--model.init_args.z_dimm", "8")
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "Option 'z_dimm' is not accepted" in err[0]
    assert "--help" in err[0]

    with pytest.raises(SystemExit):
        run_cli("fit", "--config", REPO / "configs" / "vanilla_gan.yaml", "--model.init_args.gan_loss", "hing")
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "hing" in err[0] and "least_squares" in err[0]  # names the value and what is allowed

    config = yaml.safe_load((REPO / "configs" / "vanilla_gan.yaml").read_text())
    config["model"]["init_args"]["generator_widht"] = 32
    config["config"] = str(REPO / "configs" / "base" / "trainer.yaml")
    bad = tmp_path / "typo.yaml"
    bad.write_text(yaml.safe_dump(config))
    with pytest.raises(SystemExit):
        run_cli("fit", "--config", bad)
    assert "generator_widht" in capsys.readouterr().err


def test_swap_data_to_an_image_folder_on_the_command_line(image_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    run_cli("fit", "--config", REPO / "configs" / "vanilla_gan.yaml", *fast_trainer_args(tmp_path),
            "--trainer.fast_dev_run", "1", "--data", "ImageFolderDataModule", "--data.root", image_folder,
            "--data.resolution", "64", "--data.batch_size", "4", "--data.num_workers", "0")  # fmt: skip


def test_bad_input_is_one_line_without_traceback(tmp_path: Path) -> None:
    cases = [
        (["fit", "--config", REPO / "configs" / "vanilla_gan.yaml", "--data", "ImageFolderDataModule",
          "--data.root", tmp_path / "missing"], "image folder"),
        (["fit", "--config", REPO / "configs" / "vanilla_gan.yaml", "--data.resolution", "48"], "resolution must be one of 32, 64, 128, got 48"),
        (["generate", "--ckpt", tmp_path / "none.ckpt", "--out", tmp_path / "x.png"], "does not exist"),
    ]  # fmt: skip
    broken = tmp_path / "broken.ckpt"
    broken.write_bytes(b"\x00not a checkpoint")
    cases.append((["generate", "--ckpt", broken, "--out", tmp_path / "x.png"], "not a readable checkpoint"))
    for args, message in cases:
        result = run_cli_subprocess(*args, cwd=tmp_path, timeout=120)
        assert result.returncode == 2, result.stderr
        assert message in result.stderr, result.stderr
        assert "Traceback" not in result.stderr, result.stderr
        assert result.stderr.strip().splitlines()[-1].startswith("error:"), result.stderr


@pytest.fixture(scope="module")
def trained_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp_path = tmp_path_factory.mktemp("trained")
    import os

    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        run_cli("fit", "--config", REPO / "configs" / "vanilla_gan.yaml", *fast_trainer_args(tmp_path),
                "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "1",
                "--data.init_args.batch_size", "8")  # fmt: skip
    finally:
        os.chdir(cwd)
    return tmp_path / "checkpoints" / "last.ckpt"


def test_generate_a_grid_and_a_folder(trained_checkpoint: Path, tmp_path: Path) -> None:
    from PIL import Image

    run_cli("generate", "--ckpt", trained_checkpoint, "--num", "6", "--seed", "3", "--out", tmp_path / "grid.png", "--device", "cpu")
    assert Image.open(tmp_path / "grid.png").size[0] > 32
    run_cli("generate", "--ckpt", trained_checkpoint, "--num", "3", "--seed", "3", "--out", f"{tmp_path / 'each'}/")
    assert sorted(p.name for p in (tmp_path / "each").iterdir()) == ["seed000003.png", "seed000004.png", "seed000005.png"]


def test_checkpoint_loads_with_weights_only_and_has_no_inception(trained_checkpoint: Path) -> None:
    checkpoint = torch.load(trained_checkpoint, weights_only=True)
    assert checkpoint["algorithm"] == "VanillaGAN"
    assert any(k.startswith("generator_ema.") for k in checkpoint["state_dict"])
    assert not any("inception" in k or "classifier" in k for k in checkpoint["state_dict"])


def test_predict_through_lightning_cli(trained_checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    run_cli("predict", "--config", REPO / "configs" / "vanilla_gan.yaml", *fast_trainer_args(tmp_path),
            "--ckpt_path", trained_checkpoint, "--data.init_args.predict_num_samples", "4",
            "--trainer.callbacks+=gan_lightning.training.callbacks.samples.ImageWriter",
            "--trainer.callbacks.output_dir", tmp_path / "predicted")  # fmt: skip
    assert len(list((tmp_path / "predicted").glob("seed*.png"))) == 4


def test_fit_resumes_from_last_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    common = [*fast_trainer_args(tmp_path), "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "1",
              "--data.init_args.batch_size", "8"]  # fmt: skip
    config = REPO / "configs" / "vanilla_gan.yaml"
    run_cli("fit", "--config", config, *common, "--trainer.max_epochs", "1")
    last = tmp_path / "checkpoints" / "last.ckpt"
    first = torch.load(last, weights_only=True)
    run_cli("fit", "--config", config, *common, "--trainer.max_epochs", "2", "--ckpt_path", "last")
    second = torch.load(last, weights_only=True)
    assert first["state_dict"]["images_seen"].item() == 16
    assert second["state_dict"]["images_seen"].item() == 32  # continued, not restarted
    assert second["global_step"] == 8  # 4 batches x 2 optimizer steps: the loop state was restored too


def test_an_unknown_command_lists_every_command(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run_cli("genrate", "--ckpt", "x.ckpt")
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'genrate'" in err[0]
    for command in ("fit", "validate", "test", "predict", "generate", "style-mix", "interpolate", "project", "convert", "stylize"):
        assert command in err[0], command


def test_default_root_dir_moves_everything_a_run_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Loggers (TensorBoard, W&B offline), sample grids and checkpoints all follow trainer.default_root_dir."""
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "elsewhere" / "my_run"
    run_cli("fit", "--config", REPO / "configs" / "vanilla_gan.yaml", "--trainer.default_root_dir", root,
            "--trainer.enable_progress_bar", "false", "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2",
            "--trainer.limit_val_batches", "1", "--data.init_args.batch_size", "8", "--data.init_args.num_workers", "0")  # fmt: skip
    assert (root / "checkpoints" / "last.ckpt").is_file()
    assert list((root / "version_0").glob("events.out.tfevents.*"))
    assert list((root / "version_0" / "samples").glob("*.png"))
    assert (root / "wandb").is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["elsewhere"]  # nothing written in the working directory
