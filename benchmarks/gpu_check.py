"""The first run on a GPU, in one command: does StyleGAN train under each precision, how fast and in
how much memory, with FID features in which dtype, against NVlabs' own loop on the same card.

    python benchmarks/gpu_check.py                                          # at most 8 minutes on one H100
    python benchmarks/gpu_check.py --nvlabs ~/src/stylegan2-ada-pytorch     # with NVlabs' loop
    python benchmarks/gpu_check.py --parts precision compile                # some parts only
    python benchmarks/gpu_check.py --dry-run                                # CPU, tiny networks, a few batches

Ours is the StyleGAN LightningModule under Lightning's Trainer at NVlabs' ``auto`` config for 256 px
on one GPU (``nvlabs_auto(256, 1)``: batch 32, channel_base 16384, lr 0.0025, R1 gamma 0.4096, EMA 10
kimg; 2 mapping layers, EMA ramp-up 0.05 as configs/stylegan_auto.yaml), ADA 'bgc' from p = 0.2, TF32
off (NVlabs' setting), random images, the shipped NonFiniteGuard on. Each run trains 4 warm-up
batches, then one whole lazy cycle (16 batches: one R1 and four path-length batches), whose wall
time gives s/kimg amortised over the lazy schedule (see compare_nvlabs_speed.py).

Parts, each with its own budget in seconds (460 in all), shared by its runs: a run stops before a
batch it has no time for, an alarm ends it at its share whatever it is doing, and the record says so.

  precision (140)  32-true, bf16-mixed, 16-mixed, fp16 layers (NVlabs' num_fp16_res 4, conv_clamp 256,
                   in 32-true as theirs), and 32-true without augmentation (the augmentation's share):
                   finite batches and skipped optimizer steps over the first 16 batches (skipped: the
                   logged train/skipped_steps when the model logs it, else the GradScaler's backoffs,
                   one per update that found inf), s/kimg, peak CUDA memory, dtype the blocks marked
                   fp16 ran in; before training, FID of the same initial weights under that precision
                   and the dtype the feature network ran in (the bundled shapes classifier, as GPU
                   machines may have no internet; --fid-weights gives Inception).
  nvlabs (150)     their per-batch loop (phases, nan_to_num of gradients, EMA, ADA) on their reference
                   ops, then their CUDA ops when they build (a third of the time for the build), in
                   fp32 and with their fp16 layers; steps whose gradients held inf or NaN counted.
  compile (120)    ours with compile true: first-batch and warm-up time, steady s/kimg.
  cuda_tests (50)  the tests in tests/ marked to skip without CUDA, run with pytest.

Results: benchmarks/results/gpu_check_<device>.json and .md (or --out-dir). ``--dry-run`` runs every
part on the CPU with tiny networks (16-mixed emulated with a CPU GradScaler), skipping what needs CUDA
and saying why; the test suite runs it (tests/test_gpu_check.py).
"""

import argparse
import ast
import contextlib
import dataclasses
import gc
import logging
import math
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Iterator
from pathlib import Path

import harness
import torch
from harness import REPO, RESULTS
from nvlabs_loop import NVlabsLoop, NVlabsLoopSettings
from lightning.pytorch import Callback, Trainer, seed_everything
from lightning.pytorch.plugins.precision import MixedPrecision
from torch import nn
from torch.utils.data import DataLoader, Dataset

from gan_lightning.core.nets.stylegan2 import DiscriminatorConfig, GeneratorConfig
from gan_lightning.training.callbacks.divergence import NonFiniteGuard
from gan_lightning.training.models.stylegan import StyleGAN
from gan_lightning.training.nvlabs_auto import nvlabs_auto

BUDGETS = {"precision": 140, "nvlabs": 150, "compile": 120, "cuda_tests": 50}  # seconds, one H100
AUGMENT_P = 0.2
FP16_LAYERS = dict(num_fp16_res=4, conv_clamp=256.0)  # what NVlabs' train.py sets for every preset
PRECISIONS = ("32-true", "bf16-mixed", "16-mixed")


@dataclasses.dataclass(frozen=True)
class Scale:
    """The networks, batch and lazy schedule a check runs at."""

    resolution: int
    batch: int
    channel_base: int
    channel_max: int
    z_dim: int
    mapping_layers: int
    mbstd_group_size: int
    lr: float
    r1_gamma: float
    ema_kimg: float
    r1_interval: int
    pl_interval: int
    warmup: int  # batches before the timed window, which is one whole lazy cycle (r1_interval batches)
    checked: int  # the first batches, whose finite batches and skipped steps are counted
    fid_images: int

    @property
    def batches(self) -> int:
        return self.warmup + self.r1_interval


def auto_scale() -> Scale:
    auto = nvlabs_auto(256, 1)
    return Scale(
        resolution=256, batch=auto.batch_per_gpu, channel_base=auto.channel_base, channel_max=512, z_dim=512, mapping_layers=2,
        mbstd_group_size=auto.mbstd_group_size, lr=auto.lr, r1_gamma=auto.r1_gamma, ema_kimg=auto.ema_kimg,
        r1_interval=16, pl_interval=4, warmup=4, checked=16, fid_images=256,
    )  # fmt: skip


# Small enough for the CPU in seconds; the lazy cycle shortened to 4 batches so the window still holds one.
DRY_SCALE = Scale(
    resolution=32, batch=4, channel_base=256, channel_max=16, z_dim=16, mapping_layers=2, mbstd_group_size=4, lr=0.0025,
    r1_gamma=0.05, ema_kimg=0.01, r1_interval=4, pl_interval=2, warmup=1, checked=5, fid_images=8,
)  # fmt: skip


# Budgets


class OutOfBudget(Exception):
    """A part's (or run's) time is up."""


class Budget:
    """Seconds for one part: ``deadline`` is when it must end; ``alarm`` interrupts whatever runs then."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.start = time.perf_counter()
        self.deadline = self.start + seconds
        self.interrupted = False  # set by the alarm: code that catches OutOfBudget may re-raise another error

    def left(self) -> float:
        return self.deadline - time.perf_counter()

    def spent(self) -> float:
        return round(time.perf_counter() - self.start, 1)

    def interruption(self) -> str:
        """What a run its alarm interrupted records."""
        return f"interrupted at its {self.seconds:.0f} s budget"

    def share(self, weight: float, weights_left: float) -> "Budget":
        """The next run's part of what is left: ``weight`` of the ``weights_left`` of the runs to go."""
        return Budget(max(self.left(), 0.0) * weight / weights_left)

    @contextlib.contextmanager
    def alarm(self) -> Iterator[None]:
        def interrupt(signum, frame):
            self.interrupted = True
            raise OutOfBudget(self.interruption())

        previous = signal.signal(signal.SIGALRM, interrupt)
        signal.setitimer(signal.ITIMER_REAL, max(self.left(), 0.01))
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)


# What a run saw


def stop_record(error: Exception, budget: Budget) -> dict[str, str]:
    """How a run that raised ``error`` under ``budget.alarm()`` ended: ``ran_out`` where the alarm
    had fired (code that catches OutOfBudget may raise another error: torch's load_state_dict wraps
    it in a RuntimeError), else ``stopped`` with the error."""
    if budget.interrupted:
        return {"ran_out": f"{budget.interruption()} (surfaced as {type(error).__name__})"}
    return {"stopped": f"{type(error).__name__}: {str(error).splitlines()[0]}"}


def gib(device: torch.device) -> float | None:
    return round(torch.cuda.max_memory_allocated(device) / 2**30, 2) if device.type == "cuda" else None


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        gc.collect()  # the previous run's networks and optimizer state
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def plain(value: float) -> float | str:
    """A float JSON can hold: NaN and inf as text."""
    return value if math.isfinite(value) else str(value)


def all_finite(tensors: list[torch.Tensor]) -> bool:
    """One device reduction, one host read."""
    return bool(torch.stack([t.isfinite().all() for t in tensors if t.is_floating_point()]).all())


def numeric_flags() -> dict:
    """TF32 and cuDNN settings as the process has them now (reading may fail where APIs were mixed)."""
    flags: dict = {"cudnn_benchmark": torch.backends.cudnn.benchmark}
    try:
        flags["tf32_matmul"] = torch.backends.cuda.matmul.allow_tf32
        flags["tf32_cudnn"] = torch.backends.cudnn.allow_tf32
        flags["float32_matmul_precision"] = torch.get_float32_matmul_precision()
    except RuntimeError as error:
        flags["error"] = str(error).splitlines()[0]
    return flags


@contextlib.contextmanager
def output_dtypes(modules: Callable[[nn.Module], bool], seen: set[str]) -> Iterator[None]:
    """Adds to ``seen`` the dtype of every tensor output of the modules ``modules`` accepts (any
    module in the process: the feature network is built inside the model's first validation step)."""

    def hook(module, inputs, output):
        if modules(module):
            first = output[0] if isinstance(output, (tuple, list)) else output
            if isinstance(first, torch.Tensor):
                seen.add(str(first.dtype).removeprefix("torch."))

    handle = nn.modules.module.register_module_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


class Repeated(Dataset):
    """``length`` items cycling through a few random images in [-1, 1] (the data costs nothing)."""

    def __init__(self, scale: Scale, length: int, seed: int = 0) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.images = torch.rand(min(length, 4 * scale.batch), 3, scale.resolution, scale.resolution, generator=generator) * 2 - 1
        self.length = length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int):
        return self.images[index % len(self.images)], 0


def loader(scale: Scale, batches: int) -> DataLoader:
    return DataLoader(Repeated(scale, batches * scale.batch), batch_size=scale.batch, drop_last=True, pin_memory=torch.cuda.is_available())


class AllBatches(harness.BatchTimer):
    """The harness's timer, keeping every batch's time too (warm-up batches hold compilation)."""

    def __init__(self, warmup: int) -> None:
        super().__init__(warmup)
        self.all_seconds: list[float] = []

    def timed(self, trainer, pl_module, batch, batch_idx, seconds):
        self.all_seconds.append(seconds)
        super().timed(trainer, pl_module, batch, batch_idx, seconds)


class Observer(Callback):
    """After each batch, outside the timed span: whether losses, weights and buffers are finite, the
    GradScaler's scale, the logged skipped steps; then raises OutOfBudget when the next batch would
    not fit the row's budget."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self.finite: list[bool] = []
        self.scales: list[float] = []
        self.skipped_logged: list[float] = []
        self.last_end = time.perf_counter()

    @staticmethod
    def scaler(trainer):
        scaler = getattr(trainer.precision_plugin, "scaler", None)
        return scaler if scaler is not None and scaler.is_enabled() else None

    def on_train_start(self, trainer, pl_module):
        if self.scaler(trainer) is not None:
            self.scales.append(float(self.scaler(trainer).get_scale()))
        self.last_end = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        metrics = trainer.callback_metrics
        losses = [metrics[k] for k in ("train/d_loss", "train/g_loss") if k in metrics]
        self.finite.append(all_finite([*losses, *pl_module.parameters(), *pl_module.buffers()]))
        if self.scaler(trainer) is not None:
            self.scales.append(float(self.scaler(trainer).get_scale()))
        if "train/skipped_steps" in metrics:
            self.skipped_logged.append(float(metrics["train/skipped_steps"]))
        now = time.perf_counter()
        batch_seconds, self.last_end = now - self.last_end, now
        if self.budget.left() < batch_seconds and batch_idx + 1 < trainer.num_training_batches:
            raise OutOfBudget(f"stopped after {batch_idx + 1} batches: the next would not fit its {self.budget.seconds:.0f} s")

    def backoffs(self, batches: int) -> int:
        """Scale halvings over the first ``batches`` batches: one per scaler update that found inf
        (growth comes only after 2000 clean updates)."""
        pairs = zip(self.scales[:batches], self.scales[1 : batches + 1])
        return sum(round(math.log2(before / after)) for before, after in pairs if after < before)


def window_result(timer: harness.BatchTimer, scale: Scale, whole: int) -> dict:
    """s/kimg over the timed window (its wall time, data and callbacks included), amortised over the
    lazy schedule when the window is a whole cycle."""
    if not timer.seconds:
        return {"s_per_kimg": None, "timed_batches": 0}
    return {
        "s_per_kimg": round(timer.window_seconds / (len(timer.seconds) * scale.batch) * 1000, 3),
        "timed_batches": len(timer.seconds),
        "whole_lazy_cycle": len(timer.seconds) == whole,
        "median_batch_s": round(statistics.median(timer.seconds), 4),
    }


# Ours


@dataclasses.dataclass(frozen=True)
class Row:
    name: str
    precision: str
    fp16_layers: bool = False
    augment: bool = True


PRECISION_ROWS = (
    Row("32-true", "32-true"),
    Row("bf16-mixed", "bf16-mixed"),
    Row("16-mixed", "16-mixed"),
    Row("fp16 layers", "32-true", fp16_layers=True),
    Row("32-true, no augmentation", "32-true", augment=False),
)


def our_model(scale: Scale, row: Row, fid_weights: Path | None, compile_backend: str | None = None) -> StyleGAN:
    fp16 = FP16_LAYERS if row.fp16_layers else {}
    seed_everything(0, verbose=False)  # the same initial weights in every row
    return StyleGAN(
        resolution=scale.resolution, channels=3,
        generator=GeneratorConfig(z_dim=scale.z_dim, w_dim=scale.z_dim, mapping_layers=scale.mapping_layers, channel_base=scale.channel_base, channel_max=scale.channel_max, **fp16),
        discriminator=DiscriminatorConfig(channel_base=scale.channel_base, channel_max=scale.channel_max, mbstd_group_size=scale.mbstd_group_size, **fp16),
        lr=scale.lr, r1_gamma=scale.r1_gamma, r1_interval=scale.r1_interval, pl_interval=scale.pl_interval, ema_kimg=scale.ema_kimg, ema_rampup=0.05,
        ada=row.augment, augment_p=AUGMENT_P if row.augment else 0.0, num_fixed_samples=4, tf32=False,
        fid_features="inception" if fid_weights else "shapes", fid_weights_path=str(fid_weights) if fid_weights else None, fid_num_samples=scale.fid_images,
        compile=compile_backend is not None, compile_backend=compile_backend or "inductor",
    )  # fmt: skip


def our_trainer(precision: str, device: torch.device, batches: int, callbacks: list[Callback], out: Path) -> Trainer:
    """A Trainer as the presets make one, with 16-mixed on a CPU emulated as on CUDA (float16 autocast
    and a GradScaler: ``Trainer(precision="16-mixed")`` on a CPU runs bf16)."""
    emulated = precision == "16-mixed" and device.type == "cpu"
    numeric = {"plugins": [MixedPrecision("16-mixed", "cpu", scaler=torch.amp.GradScaler("cpu"))]} if emulated else {"precision": precision}
    return Trainer(
        accelerator="gpu" if device.type == "cuda" else "cpu", devices=1, max_epochs=1, limit_train_batches=batches, limit_val_batches=1.0,
        num_sanity_val_steps=0, logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        default_root_dir=out, callbacks=callbacks, **numeric,
    )  # fmt: skip


def fid_under(model: StyleGAN, row: Row, scale: Scale, device: torch.device, out: Path) -> dict:
    """val/fid of the model's initial weights under the row's precision, and the dtypes the feature
    network's convolutions and linear layers computed in."""
    own = set(map(id, model.modules()))
    dtypes: set[str] = set()
    reals = DataLoader(Repeated(scale, scale.fid_images, seed=1), batch_size=scale.batch)
    seed_everything(0, verbose=False)
    with output_dtypes(lambda m: id(m) not in own and isinstance(m, (nn.Conv2d, nn.Linear)), dtypes):
        [metrics] = our_trainer(row.precision, device, 0, [], out).validate(model, reals, verbose=False)
    return {"fid": plain(float(metrics["val/fid"])), "fid_dtype": sorted(dtypes)}


def train_row(row: Row, scale: Scale, device: torch.device, budget: Budget, out: Path, fid_weights: Path | None, compile_backend: str | None = None) -> dict:
    """One training run of ours: what it saw, with what its budget allowed."""
    result: dict = {"run": f"ours, {row.name}" + (", compiled" if compile_backend else ""), "precision": row.precision, "fp16_layers": row.fp16_layers}
    result["augment_p"] = AUGMENT_P if row.augment else 0.0
    if row.precision == "16-mixed" and device.type == "cpu":
        result["emulated"] = "MixedPrecision('16-mixed', 'cpu', GradScaler('cpu'))"
    model = our_model(scale, row, fid_weights, compile_backend)
    timer, observer = AllBatches(scale.warmup), Observer(budget)
    blocks: set[str] = set()
    try:
        with budget.alarm():
            if compile_backend is None:
                result.update(fid_under(model, row, scale, device, out))
            reset_peak(device)
            trainer = our_trainer(row.precision, device, scale.batches, [NonFiniteGuard("stop"), timer, observer], out)
            fp16_blocks = {id(m) for m in model.modules() if getattr(m, "use_fp16", False)}
            with output_dtypes(lambda m: id(m) in fp16_blocks, blocks):
                trainer.fit(model, loader(scale, scale.batches))
    except OutOfBudget as stop:
        result["ran_out"] = str(stop)
    except Exception as error:  # a divergence stop (UserError) or a crash is a finding: record it
        result.update(stop_record(error, budget))
        result["stopped_in_batch"] = len(observer.finite)
    checked = observer.finite[: scale.checked]
    result.update(batches_run=len(observer.finite), checked_batches=len(checked), finite_batches=sum(checked))
    if observer.scales:
        result["scaler_backoffs"] = observer.backoffs(scale.checked)
        result["loss_scale_first_last"] = [observer.scales[0], observer.scales[-1]]
        if observer.skipped_logged:
            result["skipped_steps"] = observer.skipped_logged[: scale.checked][-1]
            result["skipped_steps_from"] = "train/skipped_steps, as logged after the last checked batch"
            result["skipped_steps_logged"] = True
        else:
            result["skipped_steps"] = result["scaler_backoffs"]
            result["skipped_steps_from"] = "GradScaler backoffs (no train/skipped_steps logged)"
            result["skipped_steps_logged"] = False
    result["pl_mean"] = plain(float(model.pl_mean))
    if row.fp16_layers:
        result["fp16_block_dtype"] = sorted(blocks)
    result.update(window_result(timer, scale, scale.r1_interval))
    if compile_backend is not None and timer.all_seconds:
        result["compile_backend"] = compile_backend
        result["first_batch_s"] = round(timer.all_seconds[0], 2)
        warm = timer.all_seconds[: scale.warmup]
        if timer.seconds:  # warm-up time beyond what its batches take once compiled
            result["compile_s"] = round(sum(warm) - len(warm) * statistics.mean(timer.seconds), 2)
    result["peak_memory_gib"] = gib(device)
    result["numeric_flags"] = numeric_flags()
    result["seconds"] = budget.spent()
    return result


def precision_part(scale: Scale, device: torch.device, budget: Budget, out: Path, fid_weights: Path | None, record: Callable[[list], None]) -> dict:
    rows: list[dict] = []
    for index, row in enumerate(PRECISION_ROWS):
        rows.append(train_row(row, scale, device, budget.share(1, len(PRECISION_ROWS) - index), out, fid_weights))
        record(rows)
    same_weights = {r["precision"]: r["fid"] for r in rows if isinstance(r.get("fid"), float) and not r["fp16_layers"] and r["augment_p"] > 0}
    part: dict = {"rows": rows}
    if "32-true" in same_weights:
        base = same_weights["32-true"]
        part["fid_relative_to_32_true"] = {p: abs(f - base) / max(abs(base), 1e-12) for p, f in same_weights.items()}
    with_aug = next((r for r in rows if r["precision"] == "32-true" and not r["fp16_layers"] and r["augment_p"] > 0), None)
    without = next((r for r in rows if r["augment_p"] == 0), None)
    if with_aug and without and with_aug.get("s_per_kimg") and without.get("s_per_kimg"):
        part["augment_share_32_true"] = round(1 - without["s_per_kimg"] / with_aug["s_per_kimg"], 3)
    return part


def compile_part(scale: Scale, device: torch.device, budget: Budget, out: Path) -> dict:
    backend = "inductor" if device.type == "cuda" else "eager"  # inductor on a CPU builds C++ for minutes
    part = {"rows": [train_row(Row("32-true", "32-true"), scale, device, budget, out, None, compile_backend=backend)]}
    if device.type == "cpu":
        part["note"] = "dry run: the eager backend (Dynamo capture only: runs no faster); the GPU run uses inductor"
    return part


# NVlabs


def nvlabs_loop(scale: Scale, fp16_layers: bool, device: torch.device) -> NVlabsLoop:
    """Their loop at ``scale``'s auto settings."""
    settings = NVlabsLoopSettings(
        scale.resolution, z_dim=scale.z_dim, mapping_layers=scale.mapping_layers, channel_base=scale.channel_base, channel_max=scale.channel_max,
        mbstd_group_size=scale.mbstd_group_size, fp16_layers=fp16_layers, lr=scale.lr, r1_gamma=scale.r1_gamma, pl_interval=scale.pl_interval,
        r1_interval=scale.r1_interval, ema_kimg=scale.ema_kimg, augment_p=AUGMENT_P,
    )  # fmt: skip
    return NVlabsLoop(settings, device, count_cleaned=True)


def nvlabs_finite(loop: NVlabsLoop) -> bool:
    return all_finite([*loop.G.parameters(), *loop.D.parameters(), *loop.G_ema.parameters()])


def use_nvlabs_ops(ops: str) -> dict:
    """Their bias_act and upfirdn2d on their CUDA kernels ('cuda': built, or read from PyTorch's
    extension cache, as their loop does on first use) or their PyTorch reference ('reference'). Each
    module keeps its plugin in ``_inited``/``_plugin``: set here so both run in one process."""
    from torch_utils.ops import bias_act, upfirdn2d  # type: ignore[import-not-found]

    start = time.perf_counter()
    for module in (bias_act, upfirdn2d):
        module._inited, module._plugin = ops == "reference", None
        if ops == "cuda":
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                built = module._init()
            if not built:
                details = [str(w.message) for w in caught] or ["no reason given"]
                raise RuntimeError(f"their CUDA ops did not build: {details[-1].strip().splitlines()[-1]}")
    return {"build_s": round(time.perf_counter() - start, 1)} if ops == "cuda" else {}


def nvlabs_row(ops: str, fp16_layers: bool, scale: Scale, device: torch.device, budget: Budget) -> dict:
    result: dict = {"run": f"NVlabs, {ops} ops, {'fp16 layers' if fp16_layers else 'fp32'}", "fp16_layers": fp16_layers, "augment_p": AUGMENT_P}
    if fp16_layers:
        result.update(FP16_LAYERS)
    finite: list[bool] = []
    timer = harness.BatchTimer(scale.warmup)
    loop = None
    try:
        with budget.alarm():
            use_nvlabs_ops(ops)
            reset_peak(device)
            loop = nvlabs_loop(scale, fp16_layers, device)
            data = loader(scale, scale.batches)
            last_end = time.perf_counter()
            for batch_idx, (real, _) in enumerate(data):
                timer.on_train_batch_start(None, loop, None, batch_idx)
                loop.step(real.to(device, non_blocking=True), batch_idx)
                timer.on_train_batch_end(None, loop, None, None, batch_idx)
                finite.append(nvlabs_finite(loop))
                now = time.perf_counter()
                if budget.left() < now - last_end and batch_idx + 1 < scale.batches:
                    raise OutOfBudget(f"stopped after {batch_idx + 1} batches: the next would not fit its {budget.seconds:.0f} s")
                last_end = now
    except OutOfBudget as stop:
        result["ran_out"] = str(stop)
    except Exception as error:
        result.update(stop_record(error, budget))
        result["stopped_in_batch"] = len(finite)
    checked = finite[: scale.checked]
    result.update(batches_run=len(finite), checked_batches=len(checked), finite_batches=sum(checked))
    if loop is not None and loop.cleaned:
        steps_per_batch = len(loop.cleaned) / max(len(finite), 1)
        result["steps_with_non_finite_gradients_cleaned"] = int(torch.stack(loop.cleaned[: round(steps_per_batch * len(checked))]).sum())
    result.update(window_result(timer, scale, scale.r1_interval))
    result["peak_memory_gib"] = gib(device)
    result["numeric_flags"] = numeric_flags()
    result["seconds"] = budget.spent()
    return result


@contextlib.contextmanager
def nvlabs_settings() -> Iterator[None]:
    """Their training_loop's process settings (cuDNN autotuning on, TF32 off: ours runs with tf32 false
    too), restored after."""
    backends = torch.backends
    saved = (backends.cudnn.benchmark, backends.cuda.matmul.allow_tf32, backends.cudnn.allow_tf32)
    backends.cudnn.benchmark, backends.cuda.matmul.allow_tf32, backends.cudnn.allow_tf32 = True, False, False
    try:
        yield
    finally:
        backends.cudnn.benchmark, backends.cuda.matmul.allow_tf32, backends.cudnn.allow_tf32 = saved


@contextlib.contextmanager
def quiet_lightning() -> Iterator[None]:
    """No banners and tips for each of the Trainers made here; the loggers' levels restored after."""
    loggers = [logging.getLogger(name) for name in ("lightning.pytorch", "lightning.fabric")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", ".*(does not have many workers|LightningModule.log|no `val_dataloader`|LeafSpec).*")
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def build_nvlabs_ops(budget: Budget) -> dict:
    try:
        with budget.alarm():
            return use_nvlabs_ops("cuda")
    except (OutOfBudget, RuntimeError) as error:  # their loader catches our alarm too: its message says so
        return {"error": str(error), "seconds": budget.spent()}


def nvlabs_part(clone: Path | None, scale: Scale, device: torch.device, budget: Budget, record: Callable[[list], None]) -> dict:
    if clone is None:
        return {"skipped": "no --nvlabs checkout given"}
    harness.use_checkout(clone, "training/networks.py", "stylegan2-ada-pytorch")
    # (ops, fp16 layers, share of the time): the build of their CUDA ops gets two shares
    plan = [("reference", False, 1), ("reference", True, 1), ("build", False, 2), ("cuda", False, 1), ("cuda", True, 1)]
    if device.type == "cpu":
        plan = plan[:1]
    part: dict = {"clone": str(clone), "rows": []}
    with nvlabs_settings():
        for index, (ops, fp16, weight) in enumerate(plan):
            share = budget.share(weight, sum(w for *_, w in plan[index:]))
            if ops == "build":
                part["cuda_ops"] = build_nvlabs_ops(share)
            elif ops == "cuda" and "error" in part["cuda_ops"]:
                part["rows"].append({"run": f"NVlabs, cuda ops, {'fp16 layers' if fp16 else 'fp32'}", "skipped": "their CUDA ops did not build (cuda_ops)"})
            else:
                part["rows"].append(nvlabs_row(ops, fp16, scale, device, share))
            record(part["rows"])
    if device.type == "cpu":
        part["not_run"] = "their fp16 layers and CUDA ops: need CUDA"
    return part


# The CUDA-only tests


def cuda_only_tests(tests: Path = REPO / "tests") -> list[str]:
    """pytest node ids of the test functions with a skip marker whose condition names cuda."""
    found = []
    for path in sorted(tests.rglob("test_*.py")):
        source = path.read_text()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
                markers = [ast.get_source_segment(source, d) or "" for d in node.decorator_list]
                if any("skip" in m and "cuda" in m for m in markers):
                    found.append(f"{path.relative_to(REPO)}::{node.name}")
    return found


def junit_outcomes(report: Path) -> dict[str, str]:
    """Test (module.name) -> passed / failed: first line / skipped: reason, from pytest's JUnit XML."""
    outcomes = {}
    for case in ElementTree.parse(report).iter("testcase"):
        outcome = "passed"
        for kind in ("failure", "error", "skipped"):
            element = case.find(kind)
            if element is not None:
                message = (element.get("message") or "").splitlines()
                outcome = f"{'failed' if kind != 'skipped' else 'skipped'}: {message[0] if message else kind}"
        name, module = case.get("name", "?"), case.get("classname")
        outcomes[f"{module}.{name}" if module else name] = outcome
    return outcomes


def cuda_tests_part(device: torch.device, budget: Budget) -> dict:
    tests = cuda_only_tests()
    if device.type != "cuda":
        return {"tests": tests, "skipped": "no CUDA device: each is marked to skip without one"}
    return run_pytest(tests, budget)


def run_pytest(tests: list[str], budget: Budget) -> dict:
    """The tests, in a pytest of their own (a clean process, as the suite runs them), within the budget."""
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "junit.xml"
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}", *tests]
        try:
            done = subprocess.run(command, cwd=REPO, env=harness.child_environment(), capture_output=True, text=True, timeout=max(budget.left(), 1))
        except subprocess.TimeoutExpired:
            return {"tests": tests, "ran_out": f"pytest did not finish in its {budget.seconds:.0f} s budget", "seconds": budget.spent()}
        outcomes = junit_outcomes(report) if report.is_file() else {}
    return {"tests": tests, "exit_code": done.returncode, "outcomes": outcomes, "output_tail": done.stdout[-1500:], "seconds": budget.spent()}


# The record


def device_slug(device: torch.device) -> str:
    return "cpu" if device.type == "cpu" else re.sub(r"[^a-z0-9]+", "_", torch.cuda.get_device_name(device).lower()).strip("_")


def cell(value, digits: int = 2) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def markdown(record: dict) -> str:
    head = ["run", "finite / checked batches", "skipped steps", "s/kimg", "peak GiB", "FID dtype", "notes"]
    lines = [
        f"# GPU check: {record['device']}",
        "",
        f"`{record['command']}` on {record['date']}, torch {record['torch']}. {record['about']}",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for part in ("precision", "compile", "nvlabs"):
        for row in record.get(part, {}).get("rows", []):
            notes = [row[k] for k in ("emulated", "ran_out", "stopped", "skipped") if k in row]
            if "fp16_block_dtype" in row:
                notes.append(f"fp16 blocks ran in {', '.join(row['fp16_block_dtype']) or 'nothing'}")
            if "compile_s" in row:
                notes.append(f"compile ~{row['compile_s']} s, first batch {row['first_batch_s']} s")
            if "steps_with_non_finite_gradients_cleaned" in row:
                notes.append(f"{row['steps_with_non_finite_gradients_cleaned']} steps cleaned non-finite gradients")
            if "fid" in row:
                notes.append(f"FID {cell(row['fid'], 4)}")
            if not row.get("whole_lazy_cycle", True):
                notes.append("partial lazy cycle")
            checked = f"{row['finite_batches']} / {row['checked_batches']}" if "checked_batches" in row else "-"
            skipped = f"{cell(row.get('skipped_steps'))} ({'logged' if row.get('skipped_steps_logged') else 'scaler'})" if "skipped_steps" in row else "-"
            values = [row["run"], checked, skipped, cell(row.get("s_per_kimg")), cell(row.get("peak_memory_gib")), ", ".join(row.get("fid_dtype", [])) or "-", "; ".join(notes)]
            lines.append("| " + " | ".join(values) + " |")
    lines.append("")
    for part in ("precision", "compile", "nvlabs", "cuda_tests"):
        entry = record.get(part, {})
        summary = {k: v for k, v in entry.items() if k not in ("rows", "output_tail")}
        lines.append(f"- **{part}** ({record['budgets_s'].get(part, '-')} s budget): `{summary}`")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nvlabs", type=Path, default=None, help="a stylegan2-ada-pytorch checkout: also run their loop")
    parser.add_argument("--parts", nargs="+", choices=list(BUDGETS), default=list(BUDGETS), help="run only these parts")
    parser.add_argument("--fid-weights", type=Path, default=None, help="torch-fidelity's Inception weights (.pth): FID on Inception instead of the bundled shapes classifier")
    parser.add_argument("--dry-run", action="store_true", help="CPU, tiny networks, a few batches; skips what needs CUDA")
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.dry_run:
        device, scale = torch.device("cpu"), DRY_SCALE
    elif torch.cuda.is_available():
        device, scale = torch.device("cuda", 0), auto_scale()
    else:
        raise SystemExit("error: no CUDA device; run with --dry-run to check the script on the CPU")
    out = args.out_dir / f"gpu_check_{device_slug(device)}"
    record: dict = {
        "command": harness.command_line() or "gpu_check.py", "date": harness.today(), "device": harness.device_name(device), "dry_run": args.dry_run,
        "torch": torch.__version__, "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version() if device.type == "cuda" else None,
        "scale": dataclasses.asdict(scale), "budgets_s": {p: BUDGETS[p] for p in args.parts},
        "about": (f"Ours at NVlabs' auto config for {scale.resolution} px, batch {scale.batch}, ADA p from {AUGMENT_P}, TF32 off; "
                  f"s/kimg over one lazy cycle after {scale.warmup} warm-up batches; finite batches and skipped steps over the first {scale.checked}."),
    }  # fmt: skip
    if device.type == "cuda":
        record["nvlabs_published"] = "21.6-24.2 s/kimg at 256 px on one V100 (their README; CUDA ops, fp16 layers)"
    if device.type == "cpu":
        record["not_measured"] = {"peak_memory": "CPU: no allocator statistics", "fp16 layers": "NVlabs' fp16 layers run on CUDA"}

    def save(part: str, rows: list | None = None, entry: dict | None = None) -> None:
        record[part] = entry if entry is not None else {"rows": rows, "unfinished": True}
        harness.write_json(out.with_suffix(".json"), record)

    folder = Path(tempfile.mkdtemp(prefix="gpu_check_"))
    parts: dict[str, Callable[[Budget], dict]] = {
        "precision": lambda b: precision_part(scale, device, b, folder, args.fid_weights, lambda rows: save("precision", rows)),
        "nvlabs": lambda b: nvlabs_part(args.nvlabs, scale, device, b, lambda rows: save("nvlabs", rows)),
        "compile": lambda b: compile_part(scale, device, b, folder),
        "cuda_tests": lambda b: cuda_tests_part(device, b),
    }
    for name in args.parts:
        budget = Budget(BUDGETS[name])
        print(f"gpu_check: {name} ({BUDGETS[name]} s budget)", file=sys.stderr, flush=True)
        try:
            with quiet_lightning():
                entry = parts[name](budget)
        except OutOfBudget as stop:
            entry = {**record.get(name, {}), "ran_out": str(stop)}
        entry["seconds"] = budget.spent()
        save(name, entry=entry)
    record["load_average_1min_at_end"] = harness.load_average()
    harness.write_json(out.with_suffix(".json"), record)
    out.with_suffix(".md").write_text(markdown(record))
    print(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.md')}", file=sys.stderr)
    return record


if __name__ == "__main__":
    main()
