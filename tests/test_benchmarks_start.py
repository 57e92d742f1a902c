"""Every script in benchmarks/ imports and answers --help (none is run: they take minutes or need
reference checkouts), and the harness they share times, records and sets paths as they rely on."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
SCRIPTS = sorted(p.stem for p in BENCHMARKS.glob("*.py") if p.stem != "harness")


@pytest.fixture
def harness(monkeypatch):
    # As `python benchmarks/NAME.py` has it: the script's folder first on sys.path.
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import harness

    return harness


@pytest.mark.parametrize("name", SCRIPTS)
def test_script_imports_and_answers_help(name, harness, monkeypatch, capsys):
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # as an imported module is (dataclasses look it up)
    spec.loader.exec_module(module)
    monkeypatch.setattr(sys, "argv", [f"benchmarks/{name}.py", "--help"])
    with pytest.raises(SystemExit) as exit:
        module.main()
    assert exit.value.code == 0
    assert "usage:" in capsys.readouterr().out


def test_harness_puts_this_checkout_on_the_path(harness):
    assert harness.REPO == BENCHMARKS.parent
    assert str(harness.REPO) in sys.path
    assert harness.child_environment(OMP_NUM_THREADS="1")["PYTHONPATH"] == str(harness.REPO)
    assert harness.RESULTS == BENCHMARKS / "results"


def test_batch_timer_keeps_batches_from_warmup_on(harness):
    timer = harness.BatchTimer(warmup=2)
    module = SimpleNamespace(device=torch.device("cpu"))
    for batch_idx in range(5):
        timer.on_train_batch_start(None, module, None, batch_idx)
        timer.on_train_batch_end(None, module, None, None, batch_idx)
    assert len(timer.seconds) == 3 and timer.batches == 5
    assert timer.window_seconds >= sum(timer.seconds) > 0


def test_markdown_table_head_written_once(harness, tmp_path):
    path = tmp_path / "results" / "table.md"
    for row in ("| 1 | 2 |", "| 3 | 4 |"):
        harness.append_rows(path, "Title", "Measured by a script.", ["a", "b"], [row])
    assert path.read_text() == "# Title\n\nMeasured by a script.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n| 3 | 4 |\n"


def test_reference_checkout_without_its_marker_file_is_refused(harness, tmp_path):
    with pytest.raises(SystemExit, match="has no model.py; pass a rosinality/stylegan2-pytorch checkout"):
        harness.use_checkout(tmp_path, "model.py", "rosinality/stylegan2-pytorch")
