"""Shared fixtures: small image folders made on the spot, and running the CLI in-process."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gan_lightning.cli.main import main

REPO = Path(__file__).resolve().parents[1]
ASSETS = REPO / "tests" / "assets"  # checkpoints written by earlier code, see its README
CONFIGS = sorted((REPO / "configs").glob("*.yaml"))

# Runs and tests never block on a W&B login and never reach the network.
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
# Remembered image checks go to a folder of this test session, not the user's ~/.cache.
os.environ.setdefault("GAN_LIGHTNING_CACHE", tempfile.mkdtemp(prefix="gan_lightning_cache_"))
# pytest-xdist workers share the cores: PyTorch's default of one thread per core in each worker (and
# in the processes tests start) oversubscribes them, and small tensor work slows down many times over.
XDIST_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if XDIST_WORKERS > 1:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    WORKER_THREADS = max(1, cores // XDIST_WORKERS)
    torch.set_num_threads(WORKER_THREADS)
    os.environ.setdefault("OMP_NUM_THREADS", str(WORKER_THREADS))


def write_rgb_images(folder: Path, count: int, size: tuple[int, int] = (40, 48), suffix: str = ".png", seed: int = 0) -> list[Path]:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        array = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
        path = folder / f"img{i:03d}{suffix}"
        Image.fromarray(array).save(path)
        paths.append(path)
    return paths


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """12 small RGB PNGs and JPEGs in nested folders."""
    root = tmp_path / "images"
    write_rgb_images(root, 8, suffix=".png")
    write_rgb_images(root / "nested", 4, suffix=".jpg", seed=1)
    return root


@pytest.fixture
def one_thread():
    """One intra-op thread for the test: the machine's cores are shared, and small networks run
    faster without oversubscription (10x was seen)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def run_notebook(path: Path, workdir: Path, shorter: dict[str, str], timeout: int = 900) -> list[dict]:
    """Run a notebook top to bottom in ``workdir`` and return its cells' outputs. ``shorter`` replaces
    the text of its training lengths with smaller ones (each must occur once): the suite checks that
    every cell runs and shows its pictures; how well the trainings learn is tested elsewhere."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    for old, new in shorter.items():
        cells = [cell for cell in notebook.cells if cell.cell_type == "code" and old in cell.source]
        assert len(cells) == 1 and cells[0].source.count(old) == 1, f"{path.name} no longer has {old!r} once"
        cells[0].source = cells[0].source.replace(old, new)
    NotebookClient(notebook, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(workdir)}}).execute()
    return [output for cell in notebook.cells for output in cell.get("outputs", [])]


def run_cli(*args: str) -> None:
    """The CLI in this process, as `python -m gan_lightning ARGS` would run it."""
    main([str(a) for a in args])


def run_cli_subprocess(*args: str, cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run(
        [sys.executable, "-m", "gan_lightning", *map(str, args)],
        cwd=cwd or REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# Trainer flags that make a CLI run fast and keep its files in a temporary folder.
def fit_one_epoch(model, data, tmp_path: Path):
    """Trains ``model`` on CPU for one epoch with one validation batch at its end (the collapse
    detector's moment), writing and printing nothing; returns the Trainer."""
    from lightning.pytorch import Trainer

    trainer = Trainer(
        accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        max_epochs=1, limit_val_batches=1, num_sanity_val_steps=0, default_root_dir=tmp_path,
    )
    trainer.fit(model, data)
    return trainer


def preset_model_options(preset: str) -> dict:
    """configs/PRESET's model options after the files it includes (its `config:` key) and over
    theirs, a group's fields merged, as `fit --config` composes them; FID on the offline shapes
    features at one learning rate, as the slow trainings of the style presets run."""
    import yaml

    from gan_lightning.cli.config_files import included_configs

    options: dict = {}
    for path, _ in included_configs(REPO / "configs" / preset):
        for key, value in yaml.safe_load(path.read_text())["model"]["init_args"].items():
            options[key] = {**options[key], **value} if isinstance(value, dict) and isinstance(options.get(key), dict) else value
    options.pop("fid_features")
    return {**options, "fid_features": "shapes", "fid_num_samples": 4, "lr_constant_epochs": 1, "lr_decay_epochs": 0}


def fast_trainer_args(tmp_path: Path) -> list[str]:
    return [
        "--trainer.logger", "false",
        "--trainer.enable_progress_bar", "false",
        "--trainer.enable_model_summary", "false",
        "--trainer.default_root_dir", str(tmp_path),
        "--data.init_args.num_workers", "0",
    ]  # fmt: skip
