"""What a GAN module needs under data parallelism, whichever strategy runs it: plain DDP must allow
parameters without gradients, and each process must draw its own random numbers."""

from __future__ import annotations

import torch
from lightning.pytorch import Trainer
from torch.nn.parallel import DistributedDataParallel
from lightning.pytorch.strategies import DDPStrategy
from lightning.pytorch.utilities import rank_zero_info

from gan_lightning.training.distributed import GANDDPStrategy  # also registers --trainer.strategy gan_ddp


def allow_unused_parameters(trainer: Trainer) -> None:
    """Each GAN phase leaves the other network's parameters without gradients, which plain DDP
    rejects; its find-unused mode handles it. Its broadcast of rank 0's buffers before every forward
    would also replace each process's own accumulators (StyleGAN's ADA statistics, which the model
    sums over the processes when it updates p): those are left out of it. Called before the strategy
    wraps the module, so every way of building a Trainer (CLI, script, notebook) gets it. gan_ddp
    needs none of it."""
    strategy = trainer.strategy
    own = list(getattr(trainer.lightning_module, "per_process_buffer_names", ()))
    if isinstance(strategy, DDPStrategy) and not isinstance(strategy, GANDDPStrategy) and own:
        DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(trainer.lightning_module, own)
    if isinstance(strategy, DDPStrategy) and not isinstance(strategy, GANDDPStrategy) and not strategy._ddp_kwargs.get("find_unused_parameters"):
        strategy._ddp_kwargs["find_unused_parameters"] = True
        rank_zero_info(
            "DDP: find_unused_parameters=True (each GAN phase leaves the other network's parameters unused); "
            "--trainer.strategy gan_ddp sends only the gradients each phase produced"
        )


def seed_per_process(trainer: Trainer) -> None:
    """seed_everything gives every DDP process the same seed: without this, each would draw the same
    latents (and augmentations), wasting the extra GPUs on identical fake batches."""
    if trainer.world_size > 1:
        torch.manual_seed(torch.initial_seed() + 1_000_003 * trainer.global_rank)
