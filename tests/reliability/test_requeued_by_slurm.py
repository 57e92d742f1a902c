"""SLURM sends its requeue signal (SIGUSR1 with `#SBATCH --signal=SIGUSR1@90`): Lightning writes
hpc_ckpt_N.ckpt and requeues the job; the job is then killed. The requeued job's `--ckpt_path last`
must continue from that newest state, not from an older last.ckpt (or from scratch)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from tests.helpers.reliability import fit_process, load, run_fit, tiny_fit_args

HELPERS = "tests.helpers.reliability"


def test_requeued_by_slurm_resumes_from_the_newest_state(tmp_path: Path, monkeypatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    requeued = tmp_path / "requeued"
    (bin_dir / "scontrol").write_text(f"#!/bin/sh\necho \"$@\" > {requeued}\n")
    (bin_dir / "scontrol").chmod(0o755)
    slurm = {"SLURM_JOB_ID": "4242", "SLURM_NTASKS": "1", "SLURM_JOB_NAME": "gan", "SLURM_PROCID": "0",
             "SLURM_LOCALID": "0", "SLURM_NODEID": "0", "SLURM_NODELIST": "node1"}  # fmt: skip
    for key, value in {**slurm, "PATH": f"{bin_dir}:{os.environ['PATH']}"}.items():
        monkeypatch.setenv(key, value)
    run = tmp_path / "run"
    marker = tmp_path / "training"
    common = ["--trainer.limit_val_batches", "0"]
    process = fit_process(tiny_fit_args(run, *common, "--trainer.max_epochs", "1000", f"--trainer.callbacks+={HELPERS}.MarkBatch",
                                        "--trainer.callbacks.marker", str(marker), "--trainer.callbacks.at_batch", "3"), cwd=tmp_path)  # fmt: skip
    deadline = time.monotonic() + 120
    while not marker.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert marker.exists(), process.communicate()[1][-3000:]
    process.send_signal(signal.SIGUSR1)
    while not requeued.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    process.send_signal(signal.SIGKILL)  # the time limit: killed with no chance to save again
    stderr = process.communicate()[1]
    assert requeued.read_text().split() == ["requeue", "4242"], stderr[-3000:]
    hpc = sorted(run.glob("hpc_ckpt_*.ckpt"))
    assert len(hpc) == 1, stderr[-3000:]
    images_at_requeue = int(load(hpc[0])["state_dict"]["images_seen"])
    assert images_at_requeue >= 24
    assert load(hpc[0])["global_step"] == images_at_requeue // 8 * 2  # saved between batches, not inside one

    # The requeued job: the same command with --ckpt_path last, here for one more batch.
    batches = int(load(hpc[0])["global_step"]) // 2
    record = tmp_path / "first_batch"
    resumed = run_fit(tiny_fit_args(run, *common, "--trainer.max_steps", str(2 * batches + 2), "--ckpt_path", "last",
                                    f"--trainer.callbacks+={HELPERS}.RecordFirstBatch", "--trainer.callbacks.record", str(record)),
                      cwd=tmp_path)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert int(record.read_text()) == batches  # continued where the requeue signal saved, not from the start
    assert int(load(run / "checkpoints" / "last.ckpt")["state_dict"]["images_seen"]) == images_at_requeue + 8
