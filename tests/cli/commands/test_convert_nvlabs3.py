"""`convert --from nvlabs` on snapshot pickles written by NVlabs' stylegan3 code (configs T and R,
tests/assets/nvlabs_stylegan3_*.pkl, see tests/assets/README.md): read without running anything
from the file, numpy values included."""

from __future__ import annotations

from pathlib import Path

import numpy
import pytest

from gan_lightning.checkpoints.formats.nvlabs import load_nvlabs_pickle
from tests.conftest import REPO
from tests.helpers.nvlabs_pickles import with_embedded_source

ASSETS = REPO / "tests" / "assets"
CONFIGS = ("t", "r")


def asset(config: str) -> Path:
    return ASSETS / f"nvlabs_stylegan3_{config}16.pkl"


@pytest.mark.parametrize("config", CONFIGS)
def test_stylegan3_snapshots_are_read_with_their_numpy_sizes_and_rates(config: str) -> None:
    snapshot = load_nvlabs_pickle(asset(config))
    synthesis = snapshot["G_ema"].modules["synthesis"]
    assert synthesis.class_name == "SynthesisNetwork" and synthesis.modules["input"].class_name == "SynthesisInput"
    first = synthesis.modules["L0_36_8" if config == "t" else "L0_36_16"].state
    assert isinstance(first["in_size"], numpy.ndarray) and first["in_size"].tolist() == [36, 36]
    assert synthesis.modules["input"].state["sampling_rate"] == 16.0  # a numpy float64 in the file
    assert first["down_radial"] is (config == "r")


def test_a_stylegan3_pickle_whose_embedded_source_touches_a_file_never_runs_it(tmp_path: Path) -> None:
    marker = tmp_path / "pwned.txt"
    source = f"open({str(marker)!r}, 'w').write('the pickle ran code')\n"
    pkl = with_embedded_source(asset("t"), source, tmp_path / "evil.pkl")
    snapshot = load_nvlabs_pickle(pkl)
    assert snapshot["G_ema"].modules["synthesis"].modules["L0_36_8"].state["in_size"].tolist() == [36, 36]
    assert not marker.exists()
    # The fixture is live: NVlabs' loader exec()s this very text, which makes the file.
    exec(compile(snapshot["G"].module_src, "snapshot", "exec"), {})
    assert marker.exists()
