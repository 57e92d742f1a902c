"""SIGTERM or Ctrl-C to `prepare`: its worker processes (and theirs) end with it instead of writing
chunks into --out after it exited, which then exits 143 or 130 with one line (a rerun into that
--out is refused, as for any folder that is not empty)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, write_rgb_images


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if parent == pid:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the worker processes in /proc")
@pytest.mark.parametrize("sent", ["SIGTERM", "SIGINT"])
def test_prepare_stopped_by_a_signal_stops_its_workers(sent: str, tmp_path: Path) -> None:
    write_rgb_images(tmp_path / "images", 400, size=(160, 160))  # about 2 s of work for 2 workers
    out = tmp_path / "prepared"
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    command = [sys.executable, "-m", "gan_lightning", "prepare", "--source", str(tmp_path / "images"), "--out", str(out),
               "--resolution", "32", "--workers", "2"]  # fmt: skip
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    workers: list[int] = []
    deadline = time.monotonic() + 120
    while process.poll() is None and time.monotonic() < deadline and not (len(workers) >= 2 and all(children(w) for w in workers)):
        workers = children(process.pid)
        time.sleep(0.01)
    descendants = workers + [grandchild for worker in workers for grandchild in children(worker)]
    assert process.poll() is None and len(descendants) >= 2, "prepare finished before its workers could be seen"
    process.send_signal(signal.Signals[sent])
    _, stderr = process.communicate(timeout=120)

    left = [pid for pid in descendants if Path(f"/proc/{pid}").exists() and "gan_lightning" in Path(f"/proc/{pid}/cmdline").read_text()]
    assert left == [], f"still running after prepare exited: {left}"
    assert process.returncode == 128 + signal.Signals[sent], stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    name = "Ctrl-C" if sent == "SIGINT" else sent
    assert stderr.count(f"prepare stopped by {name} (exit {128 + signal.Signals[sent]}); {out} is incomplete") == 1, stderr[-3000:]
