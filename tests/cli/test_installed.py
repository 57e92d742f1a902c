"""A user who installed the package runs it from an empty folder, with no checkout around: a preset by
name trains with the shared trainer settings (TensorBoard logs, an atomically written last.ckpt),
`generate` reads the result, `--help` answers; `gan-lightning` is the command they type. What the
wheel carries besides the code (presets, the shapes classifier's weights) is named in pyproject.toml.

.ci/run does the same with the built wheel in a fresh virtual environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from tests.conftest import REPO

PACKAGE = REPO / "gan_lightning"
CONSOLE_COMMAND = Path(sys.executable).parent / "gan-lightning"  # pip writes it beside the interpreter


def gan_lightning(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    # PYTHONPATH: this checkout's code even where the installed command was written for another one.
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    result = subprocess.run([str(CONSOLE_COMMAND), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_a_preset_by_name_trains_from_an_empty_folder_and_generate_reads_it(tmp_path: Path) -> None:
    assert CONSOLE_COMMAND.exists(), f"no {CONSOLE_COMMAND}: install the package as the README says"
    gan_lightning("fit", "--config", "vanilla_gan", "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "4", cwd=tmp_path)
    run = tmp_path / "runs" / "vanilla_gan"
    assert list((run / "version_0").glob("events.out.tfevents.*")), "no TensorBoard logs"
    assert "AtomicCheckpointIO" in (run / "version_0" / "config.yaml").read_text()  # the shared trainer settings applied
    assert [path.name for path in (run / "checkpoints").iterdir()] == ["last.ckpt"]  # no partial file left beside it
    assert torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)["global_step"] == 8  # 4 batches, G and D

    gan_lightning("generate", "--ckpt", "runs/vanilla_gan/checkpoints/last.ckpt", "--num", "4", "--out", "grid.png", cwd=tmp_path)
    assert Image.open(tmp_path / "grid.png").size == (2 * 32 + 3 * 2, 2 * 32 + 3 * 2)
    assert "fit" in gan_lightning("--help", cwd=tmp_path).stdout


def test_the_wheel_carries_every_preset_and_the_shipped_weights() -> None:
    """pyproject.toml's package data names each file under gan_lightning/ that is not code."""
    tomllib = pytest.importorskip("tomllib")
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["gan_lightning"]
    shipped = {path for pattern in patterns for path in PACKAGE.glob(pattern)}
    presets = {path for path in (PACKAGE / "configs").rglob("*") if path.is_file()}
    assert presets and presets <= shipped
    assert PACKAGE / "evaluation" / "shapes_classifier.pt" in shipped


def test_the_version_is_the_installed_distributions() -> None:
    import gan_lightning

    tomllib = pytest.importorskip("tomllib")
    assert gan_lightning.__version__ == tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
