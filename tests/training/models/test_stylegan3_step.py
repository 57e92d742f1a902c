"""One StyleGAN3 training batch draws and steps as NVlabs' stylegan3 loop does (their code itself is
compared in benchmarks/compare_nvlabs3_step.py): latents for its three phases (Gboth, Dmain, Dreg)
in one draw, and the lazy R1 step gives gradients only to the weights R1 reaches, so Adam leaves the
others' state alone."""

from __future__ import annotations

from pathlib import Path

import torch
from lightning.pytorch import Callback
from torch.utils.data import DataLoader, TensorDataset

from gan_lightning.core.losses import r1_penalty
from tests.training.models.test_stylegan import trainer
from tests.training.models.test_stylegan3_training import TINY_SG3, sg3_model
from tests.training.models.test_stylegan_step import StepRecorder


class SeededLatents(Callback):
    """Seeds each batch and records the latents every mapping call of the step receives."""

    def __init__(self, seed: int) -> None:
        self.seed, self.latents = seed, []

    def on_train_start(self, trainer, module) -> None:
        module.generator.mapping.register_forward_pre_hook(lambda _m, args: self.latents.append(args[0].detach().clone()))

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        torch.manual_seed(self.seed)


def one_batch(tmp_path: Path, callback: Callback, **kwargs):
    torch.manual_seed(0)
    model = sg3_model(**kwargs)
    reals = torch.rand(8, 3, 32, 32) * 2 - 1
    trainer(tmp_path, limit_train_batches=1, callbacks=[callback]).fit(model, DataLoader(TensorDataset(reals), batch_size=8))
    return model, reals


def test_latents_of_gmain_and_dmain_are_the_first_two_of_one_draw_for_three_phases(tmp_path: Path) -> None:
    recorder = SeededLatents(seed=5)
    one_batch(tmp_path, recorder)
    torch.manual_seed(5)
    z_gboth, z_dmain, _ = torch.randn(3 * 8, TINY_SG3.z_dim).split(8)
    assert len(recorder.latents) == 2  # Gmain, Dmain: no style mixing
    assert torch.equal(recorder.latents[0], z_gboth)
    assert torch.equal(recorder.latents[1], z_dmain)


def test_lazy_r1_gives_gradients_only_to_the_weights_r1_reaches(tmp_path: Path) -> None:
    recorder = StepRecorder()
    model, reals = one_batch(tmp_path, recorder, r1_interval=1)
    (_, _, _), (_, _, _), (name, dreg_grads, weights_before) = recorder.steps
    assert name == "D"
    discriminator = model.discriminator
    discriminator.load_state_dict(weights_before, strict=False)
    x = reals.clone().requires_grad_(True)
    names, params = zip(*discriminator.named_parameters())
    grads = torch.autograd.grad(r1_penalty(discriminator(x), x), params, allow_unused=True)
    reached = {n for n, g in zip(names, grads) if g is not None}
    assert reached < set(names)  # the output bias has no part in R1
    assert set(dreg_grads) == reached
