"""A run killed while it writes a checkpoint, here with the system temp folder on another
filesystem (tmpfs, as on many clusters): last.ckpt is always a complete file, no temporary file
is left behind once the next run starts, and an unreadable last.ckpt met by `--ckpt_path last`
gets one line naming it and the newest readable checkpoint."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.conftest import REPO, run_cli
from tests.helpers.reliability import CONFIG, load

# Writes a 24 MB checkpoint over and over with the checkpoint writer the shipped configs use.
WRITER = """
import sys, torch, yaml
from lightning.pytorch.plugins.io import TorchCheckpointIO
plugins = yaml.safe_load(open(sys.argv[2]))["trainer"].get("plugins") or []
if plugins:
    module, name = plugins[0]["class_path"].rsplit(".", 1)
    io = getattr(__import__(module, fromlist=[name]), name)()
else:
    io = TorchCheckpointIO()
state = {"state_dict": {"w": torch.randn(6_000_000)}}
step = 0
while True:
    step += 1
    state["global_step"] = step
    io.save_checkpoint(state, sys.argv[1])
"""


def leftover_bytes(*folders: Path, keep: Path) -> int:
    return sum(p.stat().st_size for folder in folders for p in folder.rglob("*") if p.is_file() and p != keep)


def test_killed_during_a_save_never_leaves_a_truncated_or_leaked_file(tmp_path: Path) -> None:
    other_filesystem = Path("/dev/shm") if Path("/dev/shm").is_dir() else tmp_path  # tmpfs on Linux
    temp_folder = other_filesystem / f"gan_tmp_{os.getpid()}"
    temp_folder.mkdir(parents=True, exist_ok=True)
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    target = folder / "last.ckpt"
    env = dict(os.environ, TMPDIR=str(temp_folder), PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    rng = random.Random(0)
    try:
        for kill in range(3):
            before = target.stat().st_mtime_ns if target.exists() else None
            writer = subprocess.Popen([sys.executable, "-c", WRITER, str(target), str(REPO / "configs" / "base" / "trainer.yaml")], env=env)
            deadline = time.monotonic() + 60
            while (not target.exists() or target.stat().st_mtime_ns == before) and time.monotonic() < deadline:
                time.sleep(0.02)  # until this writer has finished one save
            time.sleep(rng.uniform(0.0, 0.4))  # somewhere inside a save: each takes a few hundred ms
            writer.send_signal(signal.SIGKILL)
            writer.wait()
            assert load(target)["state_dict"]["w"].numel() == 6_000_000, f"last.ckpt unreadable after kill {kill}"
        from gan_lightning.training.callbacks.checkpoint_writing import remove_stale_partials  # what the next run does first

        remove_stale_partials(folder)
        assert leftover_bytes(folder, temp_folder, keep=target) == 0
    finally:
        for path in temp_folder.rglob("*"):
            path.unlink()
        temp_folder.rmdir()


def test_resume_from_an_unreadable_last_names_it_and_the_newest_readable(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    torch.save({"state_dict": {}}, folder / "last-v1.ckpt")  # an older, complete one
    (folder / "last.ckpt").write_bytes((folder / "last-v1.ckpt").read_bytes()[:100])  # truncated by a kill
    os.utime(folder / "last-v1.ckpt", (time.time() - 60, time.time() - 60))
    with pytest.raises(SystemExit) as exit_info:
        run_cli("fit", "--config", CONFIG, "--trainer.default_root_dir", tmp_path, "--trainer.logger", "false", "--ckpt_path", "last")
    assert exit_info.value.code == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("error:") and str(folder / "last.ckpt") in line and str(folder / "last-v1.ckpt") in line, line

