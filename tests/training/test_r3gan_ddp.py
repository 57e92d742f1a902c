"""`--trainer.strategy gan_ddp` with R3GAN: two processes train the weights (EMA and schedules
included) one process trains on the whole batch, sending one gradient all-reduce per phase."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.helpers.gan_ddp_script import train_single_and_gan_ddp

SCRIPT = """
import sys
import torch
from lightning.pytorch import Trainer
from gan_lightning.checkpoints.registry import GENERATORS
from gan_lightning.core.nets import r3gan as r3gan_networks
from gan_lightning.training.models import R3GAN
from tests.helpers.gan_ddp_script import GLOBAL_BATCH, FixedImages, SharedDraws, Traffic, in_float64


class SharedDrawR3GAN(R3GAN):
    def build_generator(self):
        return GENERATORS["R3GAN"](self.hparams)

    def on_train_batch_start(self, batch, batch_idx):
        if batch_idx == 0:  # the same stream on every process
            torch.manual_seed(1234)

    def training_step(self, batch, batch_idx):
        with SharedDraws():
            super().training_step(batch, batch_idx)


if __name__ == "__main__":
    torch.set_num_threads(1)
    in_float64()
    r3gan_networks.stage_dtypes = lambda config: [torch.float64] * len(config.widths)
    mode, world = sys.argv[1], 2 if sys.argv[1] == "gan_ddp" else 1
    torch.manual_seed(0)
    networks = dict(widths=(16, 16, 8, 8), cardinalities=(4, 4, 2, 2), blocks=(1, 1, 1, 1))
    # augmentation off: the geometric one pads each process's half batch by its own margins
    model = SharedDrawR3GAN(resolution=32, generator=dict(**networks, z_dim=8), discriminator=networks, ramp_kimg=0.032,
                            augment_p=dict(start=0.0, end=0.0), fid_features="shapes")
    traffic = Traffic()
    trainer = Trainer(strategy=mode if world > 1 else "auto", devices=world, accelerator="cpu", max_epochs=1, limit_train_batches=2,
                      limit_val_batches=0, logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                      use_distributed_sampler=False, callbacks=[traffic])
    trainer.fit(model, FixedImages(GLOBAL_BATCH // world))
    torch.save({"state": model.state_dict(), "traffic": traffic.batches}, f"{mode}.rank{trainer.global_rank}")
"""


@pytest.mark.slow  # four processes start Lightning: about 2 minutes on a loaded 2-core machine
def test_two_gan_ddp_processes_train_what_one_trains_on_the_whole_batch(tmp_path: Path) -> None:
    single, rank0, rank1 = train_single_and_gan_ddp(SCRIPT, tmp_path)
    assert int(single["state"]["images_seen"]) == 2 * 8  # the ramps read the same counts in both runs
    for name, value in single["state"].items():
        assert torch.equal(rank0["state"][name], rank1["state"][name]), name
        assert torch.allclose(rank0["state"][name], value, rtol=0, atol=1e-12), name
    for traffic in rank0["traffic"]:
        assert traffic["backwards"] == 2  # D phase, G phase
        assert traffic["calls"] == 2 and traffic["bytes"] == traffic["gradient_bytes"]  # one all-reduce each, its gradients only
