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
# Model and data options added since (by class name), with the value every preset resolves to.
ADDED_SINCE: dict[str, dict[str, object]] = {
    "StyleTransfer": {"stylize_size": None},  # recorded from the data at fit; stylize resizes photos to it
    "SingleImagePairDataModule": {"style_load_size": None},  # None: the content's load_size, as before
}
# Per preset, model options changed on purpose since.
PRESET_CHANGED_SINCE: dict[str, dict[str, object]] = {
    "style_transfer_single": {"lambda_style": 1.0},  # 10 collapsed the outputs into blobs (benchmarks/results/style_collapse.md)
}
PRESETS = sorted(path.stem for path in (REPO / "configs").glob("*.yaml"))


def printed_config(config: Path, capsys: pytest.CaptureFixture) -> dict:
    with pytest.raises(SystemExit) as exit_info:
        run_cli("fit", "--config", config, "--print_config")
    assert exit_info.value.code == 0
    return yaml.safe_load(capsys.readouterr().out)


def migrated_snapshot(name: str) -> dict:
    """The snapshot as today's code names it: class paths moved, renamed model options migrated."""
    snapshot = yaml.safe_load(migrate_class_paths_in((SNAPSHOTS / f"{name}.yaml").read_text()))
    model = snapshot["model"]
    algorithm = model["class_path"].rsplit(".", 1)[-1]
    model["init_args"] = {**migrate_hparams(algorithm, model["init_args"]), **ADDED_SINCE.get(algorithm, {}), **PRESET_CHANGED_SINCE.get(name, {})}
    data = snapshot.get("data")
    if isinstance(data, dict) and "class_path" in data:
        data["init_args"] = {**data["init_args"], **ADDED_SINCE.get(data["class_path"].rsplit(".", 1)[-1], {})}
    for (section, key), value in CHANGED_SINCE.items():
        snapshot[section][key] = value
    return snapshot


def test_every_preset_has_a_snapshot() -> None:
    assert PRESETS == sorted(path.stem for path in SNAPSHOTS.glob("*.yaml"))


@pytest.mark.parametrize("name", PRESETS)
def test_preset_resolves_to_the_values_it_had(name: str, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)  # the snapshots were printed from the repository root
    assert printed_config(Path("configs") / f"{name}.yaml", capsys) == migrated_snapshot(name)
