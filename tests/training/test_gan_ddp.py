"""`--trainer.strategy gan_ddp`: two processes train the weights one process trains on the whole
batch, and each backward sends only the gradients it produced (the network its phase trains)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

from tests.conftest import REPO

SCRIPT = REPO / "tests" / "helpers" / "gan_ddp_script.py"


def test_two_processes_train_what_one_trains_on_the_whole_batch_and_send_only_trained_gradients(tmp_path: Path) -> None:
    # StyleGAN with lazy R1 and path length (batches 0 and 2), ADA updating p after every batch,
    # style mixing and EMA: 4 batches of 8 in one process, and of 4 + 4 in two, in float64 (see the script).
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    for mode in ("gan_ddp", "single"):
        result = subprocess.run([sys.executable, str(SCRIPT), mode, str(tmp_path / mode)], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=600)  # fmt: skip
        assert result.returncode == 0, result.stderr[-3000:]
    single, rank0, rank1 = (torch.load(tmp_path / name, weights_only=False) for name in ("single.rank0", "gan_ddp.rank0", "gan_ddp.rank1"))

    for name, value in single["state"].items():
        # both processes hold the same model, buffers included (w_avg, p, the path-length mean)
        assert torch.equal(rank0["state"][name], rank1["state"][name]), name
        if name != "ada_stats":  # emptied at each ADA update; in between, each process holds its share
            assert value.dtype != torch.float32, name  # the float64 run
            assert torch.allclose(rank0["state"][name], value, rtol=0, atol=1e-12), name  # measured: 1.2e-15
    assert float(single["state"]["augment.p"]) != 0.3  # ADA did move p

    for batch, traffic in enumerate(rank0["traffic"]):
        regularized = batch % 2 == 0
        assert traffic["backwards"] == (4 if regularized else 2)
        # one all-reduce per backward carrying exactly its gradients; then the buffers each process
        # updated from its own batch, ADA's (sum, count) for the update and, after path length, its running mean
        assert traffic["calls"] == traffic["backwards"] + 1 + 1 + regularized
        assert traffic["bytes"] == traffic["gradient_bytes"] + rank0["per_process_buffer_bytes"] + 2 * 8 + 8 * regularized
    # those buffers are ADA's (sum, count) and w_avg (w_dim 16) in G and G_ema, 8 bytes a number;
    # constant noise, fixed latents and filters are not sent
    assert rank0["per_process_buffer_bytes"] == (2 + 16 + 16) * 8 < rank0["float_buffer_bytes"] / 10


STYLE_TRANSFER_SCRIPT = """
import torch
from lightning.pytorch import Callback, Trainer
from gan_lightning.data import ShapesStyleDataModule
from gan_lightning.training.distributed import per_process_buffers
from gan_lightning.training.models import StyleTransfer
from tests.helpers.gan_ddp_script import Traffic


class Seen(Callback):
    def __init__(self):
        self.content = []

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        self.content += [round(float(x), 3) for x in batch[0].flatten(1).sum(1)]


if __name__ == "__main__":
    torch.manual_seed(0)
    model = StyleTransfer(resolution=32, generator=dict(width=8, blocks=1), style_network=dict(width=8), num_patches=16, fid_features="shapes", fid_num_samples=8)
    data = ShapesStyleDataModule(resolution=32, num_content=8, num_style=6, num_val=4, batch_size=2, num_workers=0)
    traffic, seen = Traffic(), Seen()
    trainer = Trainer(strategy="gan_ddp", devices=2, accelerator="cpu", max_epochs=1, limit_train_batches=2,
                      limit_val_batches=0, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                      enable_model_summary=False, callbacks=[traffic, seen])
    trainer.fit(model, data)
    buffer_bytes = sum(b.numel() * b.element_size() for b in per_process_buffers(model))
    torch.save({"state": model.state_dict(), "traffic": traffic.batches, "per_process_buffer_bytes": buffer_bytes, "content": seen.content},
               f"out.rank{trainer.global_rank}")
"""


def test_style_transfer_trains_its_three_networks_identically_in_two_gan_ddp_processes(tmp_path: Path) -> None:
    # The style network's backward, then one backward for the generator and the content network.
    (tmp_path / "train.py").write_text(STYLE_TRANSFER_SCRIPT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "train.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    rank0, rank1 = (torch.load(tmp_path / f"out.rank{rank}", weights_only=False) for rank in (0, 1))
    for name, value in rank0["state"].items():
        assert torch.equal(value, rank1["state"][name]), name
    # the processes split one shuffled order: the epoch's 8 content images, each once
    assert len(set(rank0["content"]) | set(rank1["content"])) == len(rank0["content"] + rank1["content"]) == 8
    for traffic in rank0["traffic"]:
        assert traffic["backwards"] == 3  # optimizer steps: style; generator and content after one backward
        assert traffic["calls"] == 2 + (rank0["per_process_buffer_bytes"] > 0)
        assert traffic["bytes"] == traffic["gradient_bytes"] + rank0["per_process_buffer_bytes"]
