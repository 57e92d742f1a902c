"""A training batch that is not a logging step reads no tensor back to Python and copies no Python
values into tensors (on a GPU, each read waits for all queued kernels, and each small copy from the
host is a synchronous transfer): counted on the CPU by wrapping Tensor.item, float(), int(), bool(),
tolist() and cpu(), and torch.tensor / torch.as_tensor / Tensor.new_tensor given Python values. The
trainer runs with the callbacks every run gets (configs/base/trainer.yaml)."""

from __future__ import annotations

import traceback
from pathlib import Path

import pytest
import torch
import yaml
from lightning.pytorch import Callback, Trainer, seed_everything
from lightning.pytorch.cli import instantiate_class

from tests.conftest import REPO

from tests.training.models import test_stylegan, test_vanilla_gan

pytestmark = pytest.mark.usefixtures("one_thread")

READS = ("item", "__float__", "__int__", "__bool__", "__index__", "tolist", "cpu")
COPIES_FROM_HOST = ((torch, "tensor"), (torch, "as_tensor"), (torch.Tensor, "new_tensor"))
# Reads of tensors that live on the CPU even in GPU training, so nothing waits: style mixing's coin
# and cutoff (drawn from the CPU generator), Adam's step count (torch.optim keeps it on the CPU) and
# Lightning's conversion of the progress-bar values after every batch (GANModule.log_progress hands
# it CPU copies, made on logging steps; a CPU-only test cannot tell those apart from device tensors).
CPU_ONLY = {"mapped_latents", "_get_value", "to_item", "collate_int_fn"}
# Known waits, kept on purpose: the geometric augmentation reflection-pads each batch by the margin its
# drawn transforms need (as NVlabs' AugmentPipe does), and padding takes Python ints: one read per
# augmented D input. A fixed worst-case margin would avoid it at the cost of padding every batch more.
KNOWN_WAITS = {"apply_geometric"}
# Lightning makes a logged key's state tensors the first time the key is logged (here the lazy
# regularisers' keys, whose first batch is the watched one): once per key, not per batch.
FIRST_LOG = "(result.py:"


class CountReads(Callback):
    """Records where tensors are read back during batch ``watched`` (from its start to the next batch's start)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, watched: int) -> None:
        self.watched, self.active, self.sites = watched, False, []
        for name in READS:
            original = getattr(torch.Tensor, name)

            def counted(tensor, *args, _original=original, _name=name, **kwargs):
                if self.active:
                    caller = traceback.extract_stack()[-2]
                    self.sites.append(f"{_name} in {caller.name} ({Path(caller.filename).name}:{caller.lineno})")
                return _original(tensor, *args, **kwargs)

            monkeypatch.setattr(torch.Tensor, name, counted)
        for owner, name in COPIES_FROM_HOST:
            original = getattr(owner, name)

            def copied(*args, _original=original, _name=name, **kwargs):
                data = args[1] if _name == "new_tensor" else (args[0] if args else kwargs.get("data"))
                if self.active and not isinstance(data, torch.Tensor):
                    caller = traceback.extract_stack()[-2]
                    self.sites.append(f"{_name} in {caller.name} ({Path(caller.filename).name}:{caller.lineno})")
                return _original(*args, **kwargs)

            monkeypatch.setattr(owner, name, copied)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        self.active = batch_idx == self.watched

    def on_train_end(self, trainer, pl_module) -> None:
        self.active = False


def shipped_callbacks(root: Path) -> list[Callback]:
    """The callbacks of configs/base/trainer.yaml, writing under ``root``."""
    text = (REPO / "configs" / "base" / "trainer.yaml").read_text().replace("${trainer.default_root_dir}", str(root))
    return [instantiate_class((), spec) for spec in yaml.safe_load(text)["trainer"]["callbacks"]]


def reads_in_second_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model, data) -> list[str]:
    seed_everything(0)
    callbacks = shipped_callbacks(tmp_path)
    counter = CountReads(monkeypatch, watched=1)
    trainer = Trainer(
        default_root_dir=tmp_path, logger=False, enable_progress_bar=False,
        enable_model_summary=False, max_epochs=1, limit_train_batches=3, limit_val_batches=0, num_sanity_val_steps=0,
        accelerator="cpu", log_every_n_steps=50, callbacks=[counter, *callbacks],
    )  # fmt: skip
    trainer.fit(model, data)
    assert not model.logging_step(1)  # the watched batch is not a logging step
    return [site for site in counter.sites if site.split(" in ")[1].split(" ")[0] not in CPU_ONLY | KNOWN_WAITS and FIRST_LOG not in site]


def test_stylegan_batch_with_r1_path_length_ada_and_ema_reads_nothing_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = test_stylegan.tiny_model(augment_p=0.2, ada_interval=4)
    model.batches_done.fill_(15)  # the watched batch is step 16: Dmain, R1, Gmain, path length, EMA
    assert reads_in_second_batch(tmp_path, monkeypatch, model, test_stylegan.tiny_data()) == []


def test_vanilla_gan_batch_with_ema_reads_nothing_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = test_vanilla_gan.tiny_model(ema_decay=0.999)
    assert reads_in_second_batch(tmp_path, monkeypatch, model, test_vanilla_gan.tiny_data()) == []
