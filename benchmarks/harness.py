"""What every benchmark shares: where the checkout and its results are, batch timing, the JSON and
markdown records, the machine's description, and loading the reference repositories the
comparisons run against.

Scripts run as ``python benchmarks/NAME.py``. Python then puts ``benchmarks/`` first on sys.path,
so a plain ``import harness`` finds this file; importing it puts the checkout's root next, so
``gan_lightning`` is the package beside the script even where another checkout is the one installed
(an editable install elsewhere would otherwise be measured). The child processes some scripts start
re-run their own file, so they get the same path; ``child_environment`` carries it to any other.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import torch
from lightning.pytorch import Callback

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"

if str(REPO) not in sys.path:
    sys.path.insert(1, str(REPO))


def child_environment(**variables: str) -> dict[str, str]:
    """This process's environment for a child that imports gan_lightning from this checkout."""
    return dict(os.environ, PYTHONPATH=str(REPO), **variables)


# Timing


def synchronize(device: torch.device) -> None:
    """Waits for the work queued on a CUDA device, so that a wall-clock reading includes it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class BatchTimer(Callback):
    """Wall time of each training batch, on_train_batch_start to on_train_batch_end, the model's device
    synchronised at both ends. Batches before ``warmup`` are timed but not kept in ``seconds``; a
    subclass that keys times otherwise overrides ``timed``."""

    def __init__(self, warmup: int = 0) -> None:
        self.warmup = warmup
        self.seconds: list[float] = []
        self.window_start = self.window_end = 0.0  # start of batch ``warmup``, end of the latest batch
        self.batches = 0
        self._start = 0.0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        synchronize(pl_module.device)
        self._start = time.perf_counter()
        if batch_idx == self.warmup:
            self.window_start = self._start

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        synchronize(pl_module.device)
        self.window_end = time.perf_counter()
        self.batches = batch_idx + 1
        self.timed(trainer, pl_module, batch, batch_idx, self.window_end - self._start)

    def timed(self, trainer, pl_module, batch, batch_idx: int, seconds: float) -> None:
        if batch_idx >= self.warmup:
            self.seconds.append(seconds)

    @property
    def window_seconds(self) -> float:
        """From the first kept batch's start to the last batch's end, time between batches included."""
        return self.window_end - self.window_start


def median_seconds(call: Callable[[], object], warmup: int, repeats: int, sync: torch.device | None = None) -> float:
    """Median wall time of ``repeats`` calls after ``warmup`` untimed ones (``sync``: a CUDA device
    waited for before and after each timed call)."""
    for _ in range(warmup):
        call()
    times = []
    for _ in range(repeats):
        if sync is not None:
            synchronize(sync)
        start = time.perf_counter()
        call()
        if sync is not None:
            synchronize(sync)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# Records


def cpu_name() -> str:
    return platform.processor() or platform.machine()


def device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU's with the torch thread count."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{cpu_name()} CPU, {torch.get_num_threads()} threads"


def load_average() -> float:
    """The 1-minute load average: times taken while it is high are not an idle machine's."""
    return round(os.getloadavg()[0], 2)


def command_line() -> str:
    return " ".join(sys.argv)


def today() -> str:
    return f"{datetime.now(timezone.utc):%Y-%m-%d}"


def write_json(path: Path | str, record: object, indent: int = 2) -> Path:
    """``record`` as JSON with a final newline; the folder is made if missing."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=indent) + "\n")
    return path


def print_json(record: object, out: Path | str | None = None) -> None:
    """Prints ``record`` as JSON, and writes it to ``out`` when given."""
    print(json.dumps(record, indent=2))
    if out is not None:
        write_json(out, record)


def append_rows(path: Path, title: str, about: str, columns: list[str], rows: list[str]) -> None:
    """Appends rows to a markdown table; a new file starts with the title, the text ``about`` the
    measurement and the table's head."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text(f"# {title}\n\n{about}\n\n| {' | '.join(columns)} |\n|{'---|' * len(columns)}\n")
    with path.open("a") as f:
        f.writelines(row + "\n" for row in rows)


# Reference repositories: nothing of them is bundled; a checkout's path is an argument.

# NVlabs' 'bgc' augmentation set: every geometric and colour transform.
NVLABS_BGC = dict(xflip=1, rotate90=1, xint=1, scale=1, rotate=1, aniso=1, xfrac=1, brightness=1, contrast=1, lumaflip=1, hue=1, saturation=1)


def use_checkout(clone: Path, marker: str, repository: str) -> None:
    """Makes a reference checkout importable, after checking that it holds ``marker``."""
    if not (clone / marker).is_file():
        raise SystemExit(f"error: {clone} has no {marker}; pass a {repository} checkout")
    if str(clone) not in sys.path:
        sys.path.insert(0, str(clone))


def _no_extensions(*args, **kwargs):
    raise RuntimeError("CUDA extensions are not built for this comparison")


def use_nvlabs(clone: Path) -> None:
    """A stylegan2-ada-pytorch checkout, importable, with its CUDA plugin loader stubbed so that their
    reference PyTorch ops run (``training``, ``torch_utils`` and ``dnnlib`` import after this)."""
    use_checkout(clone, "training/networks.py", "stylegan2-ada-pytorch")
    from torch_utils import custom_ops  # type: ignore[import-not-found]

    custom_ops.get_plugin = _no_extensions


def use_rosinality(clone: Path) -> None:
    """A rosinality/stylegan2-pytorch checkout, importable; its op/ modules build CUDA kernels when
    imported, so the build is stubbed and their pure-PyTorch CPU fallbacks run."""
    use_checkout(clone, "model.py", "rosinality/stylegan2-pytorch")
    import torch.utils.cpp_extension as cpp_extension

    cpp_extension.load = lambda *args, **kwargs: None


def use_cut(clone: Path) -> None:
    """A taesungp/contrastive-unpaired-translation checkout, importable."""
    use_checkout(clone, "models/cut_model.py", "contrastive-unpaired-translation")
