"""A user runs a preset with one `--config` and gets the configuration it always gave: every
configs/*.yaml resolves (`fit --print_config`, parse only) to the values of its snapshot in
tests/assets/print_config/, written before the presets were composed from overlays; class paths and
option names of that time are brought up to date by the checkpoint migration, as old configs are, and
the few values changed on purpose since are listed here."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gan_lightning.checkpoints.migration import migrate_hparams
from gan_lightning.cli.config_files import migrate_class_paths_in
from tests.conftest import ASSETS, REPO, run_cli

SNAPSHOTS = ASSETS / "print_config"
# Values changed on purpose since the snapshots were written (they stay as written: the record of before).
CHANGED_SINCE: dict[tuple[str, str], object] = {
    ("trainer", "benchmark"): True,  # cudnn.benchmark on, as NVlabs sets it (fastest convolution algorithms)
}
# Model and data options added since the snapshots were written (by class name), with the value
# every preset resolves to: the defaults that keep the older presets' behaviour.
ADDED_SINCE: dict[str, dict[str, object]] = {
    "VanillaGAN": {"lambda_r1": 0.0, "lambda_r2": 0.0},  # R1 / R2 of the R3GAN objective
    "StyleGAN": {
        "gan_loss": "non_saturating", "lambda_r1": 0.0, "lambda_r2": 0.0,
        "stylegan3": None, "d_lr": None, "blur_init_sigma": 0.0, "blur_fade_kimg": 200.0,
    },
    "StyleTransfer": {
        "stylize_size": None,  # recorded from the data at fit; stylize resizes photos to it
        "generator.residual": False,  # the output drawn from nothing, as the papers' generator
        "generator.init_gain": 0.02,  # CUT's initial weights
        "generator.contrast_gate": 1.0,  # no gate: the photo enters the residual output as it is
        "generator.noise": 0.0,  # no noise before the decoder's stages
        "lambda_colour": 0.0,  # no term on the output's pixel colours
        "colour_target": "style",  # the colour term's target, where it is on: the style's statistics for every crop
        "lambda_texture": 0.0,  # no second style term in colour-blind features
        "texture_network": {"network": "random_spatial", "width": 32, "weights_path": None},
    },
    "SingleImagePairDataModule": {"style_load_size": None},  # None: the content's load_size, as before
    "PhotoStyleDataModule": {"grey_fraction": 0.0},  # every content crop keeps its colours, as before
}
# Per preset, model options changed on purpose since.
# style_transfer_single's snapshot was printed again when that preset became the fast neural
# generator and losses on one pair (docs/style_transfer.md); its values before are
# style_transfer_single_cut's, whose snapshot is the earlier one under its new run folder.
PRESET_CHANGED_SINCE: dict[str, dict[str, object]] = {
    "style_transfer_single_cut": {
        "lambda_style": 1.0,  # 10 collapsed the outputs into blobs (benchmarks/results/style_collapse.md)
        "perceptual.network": "auto",  # VGG where its weights are given or cached, as the papers; random_wide offline
    },
    "style_transfer_fast_neural": {
        "perceptual.network": "auto",
        "generator.residual": True,  # starts from the photo: the preset's short training otherwise lost it (docs/style_transfer.md)
        "lambda_style": 5.0,  # with the colour term, which holds the brightness the features do not see
        "lambda_colour": 1.0,
        "generator.init_gain": 1.0,  # CUT's 0.02 left the short training noisy (docs/style_transfer.md)
        "generator.noise": 0.5,  # texture where the photo is flat: more benchmark pairs meet the bar on all three splits
        "colour_target": "mapped_photo",  # each crop keeps its light or dark place under the colour term (docs/style_transfer.md)
    },
}
PRESETS = sorted(path.stem for path in (REPO / "configs").glob("*.yaml"))


def printed_config(config: Path, capsys: pytest.CaptureFixture) -> dict:
    with pytest.raises(SystemExit) as exit_info:
        run_cli("fit", "--config", config, "--print_config")
    assert exit_info.value.code == 0
    return yaml.safe_load(capsys.readouterr().out)


def set_option(init_args: dict, option: str, value: object, keep: bool = False) -> None:
    """``init_args[option] = value`` (``keep``: only where the option is not set); a dotted option
    is a group's field."""
    *groups, field = option.split(".")
    for group in groups:
        init_args = init_args[group]
    if not (keep and field in init_args):
        init_args[field] = value


def migrated_snapshot(name: str) -> dict:
    """The snapshot as today's code names it: class paths moved, renamed model options migrated."""
    snapshot = yaml.safe_load(migrate_class_paths_in((SNAPSHOTS / f"{name}.yaml").read_text()))
    model = snapshot["model"]
    algorithm = model["class_path"].rsplit(".", 1)[-1]
    model["init_args"] = migrate_hparams(algorithm, model["init_args"])
    for option, value in ADDED_SINCE.get(algorithm, {}).items():
        set_option(model["init_args"], option, value, keep=True)
    for option, value in PRESET_CHANGED_SINCE.get(name, {}).items():
        set_option(model["init_args"], option, value)
    data = snapshot.get("data")
    if isinstance(data, dict) and "class_path" in data:
        for option, value in ADDED_SINCE.get(data["class_path"].rsplit(".", 1)[-1], {}).items():
            set_option(data["init_args"], option, value, keep=True)
    for (section, key), value in CHANGED_SINCE.items():
        snapshot[section][key] = value
    return snapshot


def test_every_preset_has_a_snapshot() -> None:
    assert PRESETS == sorted(path.stem for path in SNAPSHOTS.glob("*.yaml"))


@pytest.mark.parametrize("name", PRESETS)
def test_preset_resolves_to_the_values_it_had(name: str, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)  # the snapshots were printed from the repository root
    assert printed_config(Path("configs") / f"{name}.yaml", capsys) == migrated_snapshot(name)


def test_a_preset_is_named_by_its_name_or_its_path_from_any_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An installed package has no configs/ beside the user's folder: `--config stylegan_256`, the
    checkout's path `configs/stylegan_256.yaml` and the file itself give the same values; overlays too."""
    from gan_lightning.cli.config_files import config_values

    def values(value: str) -> list:  # each --config value a file or YAML text: compare what they hold
        found, _ = config_values(value)
        return [yaml.safe_load(Path(item).read_text() if Path(item).is_file() else item) for item in found]

    monkeypatch.chdir(tmp_path)
    assert not Path("configs").exists()
    for name, file in (("stylegan_256", REPO / "configs" / "stylegan_256.yaml"), ("fastcut", REPO / "configs" / "overlays" / "fastcut.yaml")):
        assert values(str(file)) == values(name) == values(f"configs/{file.relative_to(REPO / 'configs')}")
    assert values("overlays/fastcut") == values("fastcut") and values("fastcut")[0]["model"]["init_args"]["lambda_nce"] == 10.0
    assert values("stylegan_256")[-1]["trainer"]["default_root_dir"] == "runs/stylegan_256"


def test_an_unknown_preset_is_one_line_naming_the_presets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        run_cli("fit", "--config", "stylegam", "--print_config")
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2 and "\n" not in err
    assert "'stylegam'" in err and "stylegan_256" in err and "vanilla_gan" in err


def test_presets_lists_every_preset_and_overlay_on_one_line(capsys: pytest.CaptureFixture) -> None:
    run_cli("presets")
    lines = capsys.readouterr().out.splitlines()
    files = sorted(REPO.glob("configs/*.yaml")) + sorted(REPO.glob("configs/overlays/*.yaml"))
    assert [line.split()[0] for line in lines] == [path.stem for path in files]
    assert all(len(line.split()) > 2 for line in lines)  # each says what it is
    fastcut = next(line for line in lines if line.startswith("fastcut "))
    assert "overlay" in fastcut and "FastCUT" in fastcut


def test_preset_names_are_unique_across_folders() -> None:
    """A name finds one file: a preset and an overlay may not share a stem."""
    stems = [path.stem for path in REPO.glob("configs/**/*.yaml") if path.parent.name != "base"]
    assert len(stems) == len(set(stems))
