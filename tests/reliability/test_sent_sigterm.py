"""A scheduler (a cloud spot reclaim, SLURM's preemption) sends SIGTERM, or the user presses Ctrl-C: the
run writes last.ckpt at the next batch boundary and exits 143 or 130 (killed, not done), and
`--ckpt_path last` continues it."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.helpers.reliability import fit_process, load, tiny_fit_args

HELPERS = "tests.helpers.reliability"


def test_sent_sigterm_saves_last_and_exits_143(tmp_path: Path) -> None:
    marker = tmp_path / "training"
    args = tiny_fit_args(tmp_path / "run", "--trainer.max_epochs", "1000", "--trainer.limit_val_batches", "0",
                         f"--trainer.callbacks+={HELPERS}.MarkBatch", "--trainer.callbacks.marker", str(marker))  # fmt: skip
    process = fit_process(args, cwd=tmp_path)
    deadline = time.monotonic() + 120
    while not marker.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert marker.exists(), process.communicate()[1][-3000:]
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)

    assert process.returncode == 143, stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    assert "SIGTERM" in stderr.strip().splitlines()[-1]
    last = load(tmp_path / "run" / "checkpoints" / "last.ckpt")
    assert last["global_step"] >= 4  # the batches trained before the signal (2 optimizer steps each)
    assert not list((tmp_path / "run" / "checkpoints").glob(".*"))  # no temporary files left


def test_ctrl_c_saves_last_and_exits_130(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Ctrl-C (SIGINT) during `fit`: the batch it lands in is finished, last.ckpt written, exit 130
    with SIGTERM's one line; Ctrl-C behaves as before once training has stopped."""
    before = signal.getsignal(signal.SIGINT)
    args = tiny_fit_args(tmp_path / "run", "--trainer.max_epochs", "1000", "--trainer.limit_val_batches", "0",
                         f"--trainer.callbacks+={HELPERS}.SignalAtBatch", "--trainer.callbacks.at_batch", "2",
                         "--trainer.callbacks.signal_name", "SIGINT")  # fmt: skip
    with pytest.raises(SystemExit) as stopped:
        run_cli(*args)

    assert stopped.value.code == 130
    assert capsys.readouterr().err.strip().splitlines()[-1] == "stopped by Ctrl-C (exit 130); continue with --ckpt_path last"
    assert load(tmp_path / "run" / "checkpoints" / "last.ckpt")["global_step"] == 6  # batches 0-2, 2 optimizer steps each
    assert signal.getsignal(signal.SIGINT) is before
