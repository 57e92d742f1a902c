"""A user composes configs and keeps the option names of older versions: a config starts from others
with `config: [...]`, and renamed options (in a YAML file or on the command line) are read with their
new names and one line saying so; a broken include is one line naming it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, run_cli

CUT = REPO / "configs" / "style_transfer.yaml"


def parsed(capsys: pytest.CaptureFixture, *args) -> tuple[dict, str]:
    """(the model's init_args that `fit ARGS --print_config` prints, stderr)."""
    with pytest.raises(SystemExit) as exit_info:
        run_cli("fit", *args, "--print_config")
    out = capsys.readouterr()
    assert exit_info.value.code == 0, out.err
    return yaml.safe_load(out.out)["model"]["init_args"], out.err


def test_a_config_starts_from_a_preset_and_keeps_its_model_options(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    mine = tmp_path / "mine.yaml"
    mine.write_text(f"config: [{CUT}, {REPO / 'configs' / 'overlays' / 'fastcut.yaml'}]\nmodel:\n  init_args:\n    num_patches: 32\n")
    model, _ = parsed(capsys, "--config", mine)
    assert model["num_patches"] == 32 and model["lambda_nce"] == 10.0  # its own value, the overlay's
    assert model["generator"] == {"width": 16, "blocks": 3, "residual": False, "init_gain": 0.02, "contrast_gate": 1.0, "noise": 0.0} and model["lr"] == 0.001  # the preset's, not reset


def test_an_overlay_applies_after_the_preset_on_the_command_line(capsys: pytest.CaptureFixture) -> None:
    model, _ = parsed(capsys, "--config", CUT, "--config", REPO / "configs" / "overlays" / "fastcut.yaml")
    assert (model["lambda_nce"], model["nce_identity"], model["flip_equivariance"]) == (10.0, False, True)
    assert model["generator"]["width"] == 16


def test_old_option_names_on_the_command_line_are_read_with_the_new_ones(capsys: pytest.CaptureFixture) -> None:
    model, err = parsed(capsys, "--config", CUT, "--model.init_args.ngf", "8", "--model.init_args.perceptual_width=8")
    assert model["generator"]["width"] == 8 and model["perceptual"]["width"] == 8
    assert "--model.init_args.ngf is now --model.init_args.generator.width" in err
    assert "--model.init_args.perceptual_width is now --model.init_args.perceptual.width" in err


def test_old_option_names_in_a_config_file_are_read_with_the_new_ones(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    mine = tmp_path / "mine.yaml"
    mine.write_text("model:\n  init_args:\n    features: random_wide\n    feature_width: 8\n")
    model, err = parsed(capsys, "--config", REPO / "configs" / "style_transfer_adain.yaml", "--config", mine)
    assert model["perceptual"] == {"network": "random_wide", "width": 8, "weights_path": None}
    notes = [line for line in err.splitlines() if "mine.yaml" in line]
    assert len(notes) == 1 and "features is now perceptual.network" in notes[0] and "feature_width is now perceptual.width" in notes[0]


@pytest.mark.parametrize("includes,message", [("b.yaml", "includes itself"), ("missing.yaml", "does not exist"), ("{x: 1}", "is invalid")])
def test_a_broken_include_is_one_line_naming_it(includes: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "a.yaml").write_text(f"config: {includes}\n")
    (tmp_path / "b.yaml").write_text("config: a.yaml\n")
    with pytest.raises(SystemExit) as exit_info:
        run_cli("fit", "--config", tmp_path / "a.yaml", "--print_config")
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2 and "\n" not in err and message in err and "config:" in err


def test_evaluate_reads_the_data_of_a_composed_preset() -> None:
    from gan_lightning.cli.commands.evaluate import build_parser
    from gan_lightning.cli.config_files import migrate_command_line

    config = build_parser().parse_args(migrate_command_line(["--ckpt", "x.ckpt", "--config", str(REPO / "configs" / "stylegan_256.yaml")]))
    assert config.data.class_path == "gan_lightning.data.ImageFolderDataModule"  # from overlays/nvlabs.yaml
    assert (config.data.init_args.root, config.data.init_args.num_workers) == ("data/images", 4)
    assert (config.data.init_args.resolution, config.data.init_args.batch_size) == (256, 8)  # the preset's own
