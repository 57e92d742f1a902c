"""Trains a tiny StyleGAN for a few batches, either in one process on a batch of GLOBAL_BATCH or in
two gloo processes (``gan_ddp``) on half of it each, and saves rank 0's weights and per-batch
communication to ``OUT``. Run by tests/training/test_gan_ddp.py:

    python tests/helpers/gan_ddp_script.py single|gan_ddp OUT    # writes OUT.rank0 (and OUT.rank1)

Every random draw inside a training step with a batch dimension is drawn for the global batch
from an RNG seeded the same on every process, and each process keeps the rows of its samples
(rows rank::world, the rows Lightning's distributed sampler gives it of the global batch): one
process and two then see the same latents, noise and augmentations for the same images.

Both run in float64 (``in_float64``): in float32 the batch of 4 and of 8 sum the convolution
gradients in other orders, and Adam's first steps (about lr * sign(g), so a gradient element near
zero can move its weight by up to lr either way) turn that rounding into weight differences of up
to ~1e-4 (measured 1.1e-4 after 4 batches, the same on every rerun: not load-dependent). In float64
the two runs agree to ~1e-15: what two processes compute is what one computes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch
import torch.distributed
from lightning.pytorch import Callback, LightningDataModule, Trainer
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from gan_lightning.training.models.stylegan import StyleGAN
from gan_lightning.core.nets.stylegan2 import DiscriminatorConfig, GeneratorConfig
from gan_lightning.checkpoints.registry import GENERATORS
from gan_lightning.training.distributed import per_process_buffers

GLOBAL_BATCH = 8
BATCHES = 4
DRAWS = {name: getattr(torch, name) for name in ("rand", "randn", "randint")}
RANDN_LIKE = torch.randn_like


def rank_and_world() -> tuple[int, int]:
    if torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def _global_rows(draw, size, *args, **kwargs):
    size = tuple(size)
    rank, world = rank_and_world()
    if not size or world == 1:
        return draw(*args, size, **kwargs)
    return draw(*args, (world * size[0], *size[1:]), **kwargs)[rank::world].contiguous()


def _size(args):
    return args[0] if len(args) == 1 and isinstance(args[0], (tuple, list, torch.Size)) else args


class SharedDraws:
    """Inside: torch.rand/randn/randint/randn_like draw the global batch's rows, as above."""

    def __enter__(self):
        torch.rand = lambda *size, **kw: _global_rows(DRAWS["rand"], _size(size), **kw)
        torch.randn = lambda *size, **kw: _global_rows(DRAWS["randn"], _size(size), **kw)
        torch.randint = lambda *args, **kw: _global_rows(DRAWS["randint"], args[-1], *args[:-1], **kw)
        torch.randn_like = lambda t, **kw: torch.randn(t.shape, dtype=kw.get("dtype", t.dtype), device=t.device)

    def __exit__(self, *exc):
        for name, draw in DRAWS.items():
            setattr(torch, name, draw)
        torch.randn_like = RANDN_LIKE


class SharedDrawStyleGAN(StyleGAN):
    def build_generator(self):
        return GENERATORS["StyleGAN"](self.hparams)

    def on_train_batch_start(self, batch, batch_idx: int) -> None:
        if batch_idx == 0:  # the same stream on every process (GANModule gives each its own)
            torch.manual_seed(1234)

    def training_step(self, batch, batch_idx: int) -> None:
        with SharedDraws():
            super().training_step(batch, batch_idx)


class FixedImages(LightningDataModule):
    """64 fixed random images in order; process r gets images r::world of each global batch, the
    rows the shared draws give it."""

    def __init__(self, batch_size: int) -> None:
        super().__init__()
        self.batch_size = batch_size
        images = torch.rand(64, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
        self.images = TensorDataset(images, torch.zeros(64, dtype=torch.int64))

    def train_dataloader(self) -> DataLoader:
        # in order (Lightning's own distributed sampler would shuffle): process r gets images r::world
        world, rank = self.trainer.world_size, self.trainer.global_rank
        order = DistributedSampler(self.images, num_replicas=world, rank=rank, shuffle=False)
        return DataLoader(self.images, batch_size=self.batch_size, sampler=order, drop_last=True)


class Traffic(Callback):
    """Per training batch: all_reduce calls and bytes, and the bytes of the gradients the optimizers
    stepped with (each step follows one backward whose gradients are all new: zero_grad(set_to_none))."""

    def __init__(self) -> None:
        self.batches: list[dict[str, int]] = []
        self._all_reduce = torch.distributed.all_reduce

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        record = {"calls": 0, "bytes": 0, "gradient_bytes": 0, "backwards": 0}
        self.batches.append(record)

        def counted(tensor, *args, **kwargs):
            record["calls"] += 1
            record["bytes"] += tensor.numel() * tensor.element_size()
            return self._all_reduce(tensor, *args, **kwargs)

        torch.distributed.all_reduce = counted

    def on_before_optimizer_step(self, trainer, module, optimizer) -> None:
        grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        self.batches[-1]["gradient_bytes"] += sum(g.numel() * g.element_size() for g in grads)
        self.batches[-1]["backwards"] += 1

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        torch.distributed.all_reduce = self._all_reduce


def in_float64() -> None:
    """Every tensor the training makes in float64: the default dtype, and the networks' own float32
    casts (``Tensor.float``, the synthesis blocks' dtype) widened. For this script's processes only."""
    from gan_lightning.core.nets import stylegan2

    torch.set_default_dtype(torch.float64)
    torch.Tensor.float = lambda self, *args, **kwargs: self.double()
    stylegan2.block_dtype = lambda use_fp16, device: torch.float64


def train(mode: str, out: str) -> None:
    """mode: "single" (one process, the global batch) or "gan_ddp" (two, half each)."""
    world = 2 if mode == "gan_ddp" else 1
    torch.manual_seed(0)
    model = SharedDrawStyleGAN(
        resolution=32, channels=3,
        generator=GeneratorConfig(z_dim=16, w_dim=16, mapping_layers=2, channel_base=256, channel_max=16),
        discriminator=DiscriminatorConfig(channel_base=256, channel_max=16, mbstd_group_size=2),
        # lazy R1 and path length on batches 0 and 2; p updated after every batch from a start of 0.3.
        # pl_decay 0 keeps the path-length target a at 0: with a decay each process moves a by its own
        # batch's mean (as NVlabs), which one process on the whole batch does not.
        # Colour augmentation only: the geometric one reflection-pads each batch by the margin its
        # own transforms need (as NVlabs' AugmentPipe), so half a batch is padded differently and its
        # images differ at the 1e-5 level from the same rows of the whole batch.
        r1_interval=2, pl_interval=2, pl_decay=0.0, ada_interval=1, ada_kimg=0.1, augment_p=0.3,
        augment_geometric=False, ema_kimg=0.01, fid_features="shapes",
    )  # fmt: skip
    traffic = Traffic()
    trainer = Trainer(
        strategy=mode if world > 1 else "auto", devices=world, accelerator="cpu", max_epochs=1,
        limit_train_batches=BATCHES, limit_val_batches=0, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, use_distributed_sampler=False, callbacks=[traffic],
    )  # fmt: skip
    trainer.fit(model, FixedImages(GLOBAL_BATCH // world))
    report = {"state": model.state_dict(), "traffic": traffic.batches,
              "per_process_buffer_bytes": sum(b.numel() * b.element_size() for b in per_process_buffers(model)),
              "float_buffer_bytes": sum(b.numel() * b.element_size() for b in model.buffers() if b.is_floating_point())}  # fmt: skip
    torch.save(report, f"{out}.rank{trainer.global_rank}")


def train_single_and_gan_ddp(script: str, folder: Path) -> tuple[dict, dict, dict]:
    """Runs ``script`` (which takes the mode and saves ``{mode}.rank{rank}``) in ``folder`` as
    ``gan_ddp`` on two processes, then on one; returns the saved states: single, rank 0, rank 1."""
    (folder / "train.py").write_text(script)
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")])}
    for mode in ("gan_ddp", "single"):
        result = subprocess.run([sys.executable, "train.py", mode], cwd=folder, env=env, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr[-3000:]
    return tuple(torch.load(folder / name, weights_only=False) for name in ("single.rank0", "gan_ddp.rank0", "gan_ddp.rank1"))


if __name__ == "__main__":
    torch.set_num_threads(1)  # the machine's cores are shared by the test's processes
    in_float64()
    train(sys.argv[1], sys.argv[2])
