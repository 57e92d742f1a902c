"""A hostile or careless user gives the wrong file or value: every case ends with one line
`error: ...` (exit status 2), never a traceback, and writes nothing."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from gan_lightning.common.errors import UserError
from tests.conftest import ASSETS, REPO, fast_trainer_args, write_rgb_images
from tests.helpers.reliability import one_line_error

VANILLA = REPO / "configs" / "vanilla_gan.yaml"
STYLEGAN = REPO / "configs" / "stylegan.yaml"
SHORT = ["--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "1"]


class RunsCode:
    """Unpickling this calls os.system: a checkpoint must never be read that way."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def bad_checkpoints(folder: Path) -> dict[str, tuple[Path, str]]:
    """name -> (file, words the error must contain)."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {name: folder / f"{name}.ckpt" for name in ("text", "no_hparams", "truncated", "malicious")}
    files["text"].write_text("this is a text file\n" * 20)
    torch.save({"state_dict": {"generator.w": torch.zeros(2)}, "algorithm": "VanillaGAN"}, files["no_hparams"])
    whole = (ASSETS / "v0_vanilla_gan.ckpt").read_bytes()
    files["truncated"].write_bytes(whole[: len(whole) // 2])
    torch.save({"state_dict": RunsCode(folder / "CODE_RAN")}, files["malicious"])
    return {
        "text": (files["text"], "not a readable checkpoint"),
        "no_hparams": (files["no_hparams"], "no_hparams.ckpt"),
        "truncated": (files["truncated"], "not a readable checkpoint"),
        "malicious": (files["malicious"], "would run code"),
        "missing": (folder / "missing.ckpt", "does not exist"),
    }


CHECKPOINT_CASES = ["text", "no_hparams", "truncated", "malicious", "missing"]
TOOLS = {  # tool -> arguments besides --ckpt
    "generate": ["--out", "{tmp}/out/grid.png"],
    "style-mix": ["--rows", "1", "--cols", "2", "--out", "{tmp}/out/mix.png"],
    "interpolate": ["--seeds", "1,2", "--steps", "2", "--out", "{tmp}/out/walk.gif"],
    "stylize": ["--input", "{tmp}/photos", "--out", "{tmp}/out"],
}


@pytest.mark.parametrize("tool", list(TOOLS))
@pytest.mark.parametrize("case", CHECKPOINT_CASES)
def test_gave_a_bad_file_as_ckpt_to_a_tool(tool: str, case: str, tmp_path: Path, capsys) -> None:
    path, words = bad_checkpoints(tmp_path / "ckpts")[case]
    write_rgb_images(tmp_path / "photos", 1)
    args = [arg.replace("{tmp}", str(tmp_path)) for arg in TOOLS[tool]]
    error = one_line_error(capsys, tool, "--ckpt", path, "--device", "cpu", *args)
    assert words in error, error
    assert not (tmp_path / "ckpts" / "CODE_RAN").exists()
    assert not (tmp_path / "out").exists()


# Every case through fit; validate and predict read the file the same way (one case each keeps the suite short).
@pytest.mark.parametrize(("command", "case"), [*(("fit", case) for case in CHECKPOINT_CASES), ("validate", "truncated"), ("predict", "malicious")])
def test_gave_a_bad_file_as_ckpt_path(command: str, case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    path, words = bad_checkpoints(tmp_path / "ckpts")[case]
    if case == "no_hparams":
        words = "not written by `fit`"  # Lightning needs its own keys too
    error = one_line_error(capsys, command, "--config", VANILLA, *fast_trainer_args(tmp_path), *SHORT, "--ckpt_path", path)
    assert words in error, error
    assert not (tmp_path / "ckpts" / "CODE_RAN").exists()
    assert not (tmp_path / "checkpoints").exists()


def test_generate_from_a_checkpoint_with_nan_weights_writes_no_black_grid(tmp_path: Path, capsys) -> None:
    checkpoint = torch.load(ASSETS / "v0_vanilla_gan.ckpt", weights_only=True)
    for name, value in checkpoint["state_dict"].items():
        if name.startswith("generator_ema.") and value.is_floating_point():
            value.fill_(float("nan"))
    torch.save(checkpoint, tmp_path / "diverged.ckpt")
    error = one_line_error(capsys, "generate", "--ckpt", tmp_path / "diverged.ckpt", "--device", "cpu", "--out", tmp_path / "grid.png")
    assert "hold NaN or inf" in error and "earlier checkpoint" in error
    assert not (tmp_path / "grid.png").exists()


def test_fid_refuses_nan_images_instead_of_crashing() -> None:
    from gan_lightning.evaluation.streamed import StreamedDistances, fid_detector

    distances = StreamedDistances(fid_detector("shapes"))
    images = torch.zeros(4, 3, 8, 8)
    images[1, 0, 2, 2] = float("nan")
    images[3] = float("inf")
    with pytest.raises(UserError, match="2 of 4 images hold NaN or inf"):
        distances.add(images, "generated")
    distances.add(torch.zeros(2, 1, 8, 8), "generated")  # finite images pass
    assert distances.count("generated") == 2


@pytest.mark.parametrize("where", ["proc", "under_a_file", "folder_named_png"])
def test_gave_an_out_that_cannot_be_written(where: str, tmp_path: Path, capsys) -> None:
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "x.png").mkdir()
    out = {"proc": "/proc/grid.png", "under_a_file": str(tmp_path / "a_file" / "grid.png"), "folder_named_png": str(tmp_path / "x.png")}[where]
    error = one_line_error(capsys, "generate", "--ckpt", ASSETS / "v0_vanilla_gan.ckpt", "--device", "cpu", "--out", out)
    assert out in error
    assert list((tmp_path / "x.png").iterdir()) == []


STYLEGAN_CKPT = ASSETS / "v0_stylegan.ckpt"  # 32 px: 8 W+ rows
OUT_OF_RANGE = {  # case -> (command line, the one line: the option, what is allowed and the value)
    "generate --num 0": (["generate", "--ckpt", STYLEGAN_CKPT, "--num", "0", "--out", "{tmp}/out/grid.png"], "--num must be at least 1, got 0"),
    "interpolate --steps 0": (["interpolate", "--ckpt", STYLEGAN_CKPT, "--seeds", "1,2", "--steps", "0", "--out", "{tmp}/out/walk.gif"], "--steps must be at least 1, got 0"),
    "interpolate --fps 0": (["interpolate", "--ckpt", STYLEGAN_CKPT, "--seeds", "1,2", "--fps", "0", "--out", "{tmp}/out/walk.gif"], "--fps must be > 0, got 0.0"),
    "interpolate --duration -1": (["interpolate", "--ckpt", STYLEGAN_CKPT, "--seeds", "1,2", "--duration", "-1", "--out", "{tmp}/out/walk.gif"], "--duration must be > 0, got -1.0"),
    "project --steps 0": (["project", "--ckpt", STYLEGAN_CKPT, "--target", "{tmp}/photos/img000.png", "--steps", "0", "--out", "{tmp}/out"], "--steps must be at least 1, got 0"),
    "project --lr 0": (["project", "--ckpt", STYLEGAN_CKPT, "--target", "{tmp}/photos/img000.png", "--lr", "0", "--out", "{tmp}/out"], "--lr must be > 0, got 0.0"),
    "project --w-avg-samples 1": (["project", "--ckpt", STYLEGAN_CKPT, "--target", "{tmp}/photos/img000.png", "--w-avg-samples", "1", "--out", "{tmp}/out"], "--w-avg-samples must be at least 2, got 1"),
    "project --coarse-layers 8": (["project", "--ckpt", STYLEGAN_CKPT, "--content", "{tmp}/photos/img000.png", "--style", "{tmp}/photos/img000.png", "--coarse-layers", "8", "--out", "{tmp}/out"], "--coarse-layers must be in [1, 7], got 8"),
    "convert --w-avg-samples 0": (["convert", STYLEGAN_CKPT, "--from", "rosinality", "--w-avg-samples", "0", "--out", "{tmp}/out/c.ckpt"], "--w-avg-samples must be at least 1, got 0"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(OUT_OF_RANGE))
def test_gave_an_out_of_range_number_to_a_tool(case: str, tmp_path: Path, capsys) -> None:
    write_rgb_images(tmp_path / "photos", 1)
    args, words = OUT_OF_RANGE[case]
    error = one_line_error(capsys, *(str(a).replace("{tmp}", str(tmp_path)) for a in args), *(["--device", "cpu"] if args[0] != "convert" else []))
    assert words in error, error
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


BAD_VALUES = {  # case -> (arguments, words the error must contain)
    "negative learning rate": (["--model.init_args.generator_lr", "-0.001"], "generator_lr must be > 0, got -0.001"),
    "max_epochs -5": (["--trainer.max_epochs", "-5"], "max_epochs"),
    "num_workers -1": (["--data.init_args.num_workers", "-1"], "num_workers must be at least 0, got -1"),
    "batch larger than the data": (["--data.init_args.batch_size", "100000"], "batch_size 100000 is larger than the"),
    "z_dim 0": (["--model.init_args.generator.z_dim", "0"], "generator.z_dim must be at least 1, got 0"),
    "z_dim -5": (["--model.init_args.generator.z_dim", "-5"], "generator.z_dim must be at least 1, got -5"),
    "generator width 0": (["--model.init_args.generator.width", "0"], "generator.width must be at least 1, got 0"),
    "fid_num_samples 0": (["--model.init_args.fid_num_samples", "0"], "fid_num_samples must be at least 2, got 0"),
}


@pytest.mark.parametrize("case", list(BAD_VALUES))
def test_gave_a_bad_value_to_fit(case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    args, words = BAD_VALUES[case]
    error = one_line_error(capsys, "fit", "--config", VANILLA, *fast_trainer_args(tmp_path), *SHORT, *args)
    assert words in error, error
    assert not (tmp_path / "checkpoints").exists()  # failed before training: nothing saved


def test_stylegan_batch_that_minibatch_std_cannot_group_fails_before_training(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from gan_lightning.training.models.stylegan import StyleGAN

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(StyleGAN, "training_step", lambda *args: pytest.fail("trained before checking the batch size"))
    error = one_line_error(capsys, "fit", "--config", STYLEGAN, *fast_trainer_args(tmp_path), *SHORT,
                           "--data.init_args.batch_size", "6", "--model.init_args.discriminator.mbstd_group_size", "4")  # fmt: skip
    assert "batch size 6" in error and "group size 4" in error


def test_checkpoint_names_a_module_to_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """`python -m` puts the working folder on sys.path: any .py there could be named by a checkpoint."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "planted.py").write_text(f"open({str(tmp_path / 'IMPORTED')!r}, 'w').close()\nfrom gan_lightning.training.models import VanillaGAN\n")
    checkpoint = torch.load(ASSETS / "v0_vanilla_gan.ckpt", weights_only=True)
    checkpoint["hyper_parameters"]["_class_path"] = "planted.VanillaGAN"
    torch.save(checkpoint, tmp_path / "named.ckpt")
    error = one_line_error(capsys, "fit", "--config", VANILLA, *fast_trainer_args(tmp_path), *SHORT, "--ckpt_path", tmp_path / "named.ckpt")
    assert "'planted.VanillaGAN'" in error and "gan_lightning.training.models.vanilla_gan.VanillaGAN" in error
    assert not (tmp_path / "IMPORTED").exists()


def test_checkpoint_names_a_nested_class_to_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    checkpoint = torch.load(ASSETS / "v0_vanilla_gan.ckpt", weights_only=True)
    checkpoint["hyper_parameters"]["fid_features"] = {"class_path": "os.system", "init_args": {"command": "true"}}
    torch.save(checkpoint, tmp_path / "named.ckpt")
    error = one_line_error(capsys, "fit", "--config", VANILLA, *fast_trainer_args(tmp_path), *SHORT, "--ckpt_path", tmp_path / "named.ckpt")
    assert "'os.system'" in error and "allowed:" in error
    assert not (tmp_path / "checkpoints").exists()


def model_folder(tmp_path: Path, change) -> Path:
    """A model folder exported from the bundled VanillaGAN checkpoint, its hyper_parameters passed through ``change``."""
    from tests.conftest import run_cli

    folder = tmp_path / "model"
    run_cli("export", "--ckpt", ASSETS / "v0_vanilla_gan.ckpt", "--format", "safetensors", "--out", folder)
    config = json.loads((folder / "config.json").read_text())
    change(config["hyper_parameters"])
    (folder / "config.json").write_text(json.dumps(config))
    return folder


@pytest.mark.parametrize(
    ("where", "words"),
    [
        ("channels", "channels must be a whole number >= 1, got {'a': 1}"),
        ("generator.z_dim", "z_dim must be a whole number, got {'a': 1}"),
        ("generator.width", "width must be a whole number, got {'a': 1}"),
    ],
)
def test_model_folder_holds_a_dict_value(where: str, words: str, tmp_path: Path, capsys) -> None:
    def change(hparams: dict) -> None:
        group, _, name = where.rpartition(".")
        (hparams[group] if group else hparams)[name] = {"a": 1}

    folder = model_folder(tmp_path, change)
    error = one_line_error(capsys, "generate", "--ckpt", folder, "--device", "cpu", "--num", "2", "--out", tmp_path / "grid.png")
    assert words in error, error
    assert not (tmp_path / "grid.png").exists()


def test_model_folder_names_a_class_that_is_not_ours(tmp_path: Path, capsys) -> None:
    folder = model_folder(tmp_path, lambda hparams: hparams.update(fid_features={"class_path": "subprocess.Popen"}))
    error = one_line_error(capsys, "generate", "--ckpt", folder, "--device", "cpu", "--num", "2", "--out", tmp_path / "grid.png")
    assert "'subprocess.Popen'" in error and "allowed:" in error


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("format_version", "1", "format_version must be a whole number from 0 to 1, got '1'"),
        ("format_version", None, "format_version must be a whole number from 0 to 1, got None"),
        ("format_version", 0.5, "format_version must be a whole number from 0 to 1, got 0.5"),
        ("format_version", float("nan"), "format_version must be a whole number from 0 to 1, got nan"),
        ("metrics", "fid 12", "metrics must be a mapping of metric names to numbers, got 'fid 12'"),
        ("metrics", [["fid", 12]], "metrics must be a mapping of metric names to numbers, got [['fid', 12]]"),
        ("metrics", {"val/fid (best)": "low"}, "metrics 'val/fid (best)' must be a number, got 'low'"),
    ],
)
@pytest.mark.parametrize("command", ["generate", "export"])
def test_model_folder_config_holds_a_bad_value(command: str, field: str, value, words: str, tmp_path: Path, capsys) -> None:
    folder = model_folder(tmp_path, lambda hparams: None)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, field: value}))
    out = ["--out", tmp_path / "grid.png", "--num", "2", "--device", "cpu"] if command == "generate" else [
        "--out", tmp_path / "again", "--format", "safetensors"]  # fmt: skip
    error = one_line_error(capsys, command, "--ckpt", folder, *out)
    assert words in error and str(folder / "config.json") in error, error
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


@pytest.mark.parametrize("count", ["0", "1"])
def test_evaluate_with_num_gen_too_small(count: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    error = one_line_error(capsys, "evaluate", "--ckpt", ASSETS / "v0_vanilla_gan.ckpt", "--metrics", "fid50k_full", "--detector", "shapes",
                           "--config", VANILLA, "--num-gen", count, "--accelerator", "cpu", "--out", tmp_path / "scores.jsonl")  # fmt: skip
    assert "--num-gen must be at least 2" in error and f"got {count}" in error
    assert not (tmp_path / "scores.jsonl").exists()


def test_checkpoint_class_paths_name_importable_classes() -> None:
    import importlib

    from gan_lightning.checkpoints.registry import CHECKPOINT_CLASSES

    for class_path in CHECKPOINT_CLASSES:
        module, _, name = class_path.rpartition(".")
        assert isinstance(getattr(importlib.import_module(module), name), type), class_path
