"""One StyleGAN training batch follows NVlabs' recipe, pinned by direct computations (the comparison
with NVlabs' own code is benchmarks/compare_nvlabs_step.py): phase order Gmain, Greg, Dmain, Dreg;
the lazy R1 step's gradient is that of gamma/2 * interval * E||grad_x D(x)||^2; the regularization
steps give every weight a gradient, as theirs do."""

from __future__ import annotations

import torch
from lightning.pytorch import Callback
from torch.utils.data import DataLoader, TensorDataset

from tests.training.models.test_stylegan import tiny_model, trainer


class StepRecorder(Callback):
    """Records, at every optimizer step, which network steps, its gradients and its weights before the step."""

    def __init__(self) -> None:
        self.steps: list[tuple[str, dict, dict]] = []

    def on_train_start(self, trainer, module) -> None:
        for name, opt, network in zip("GD", trainer.optimizers, (module.generator, module.discriminator)):

            def before(optimizer, args, kwargs, name=name, network=network) -> None:
                grads = {k: p.grad.clone() for k, p in network.named_parameters() if p.grad is not None}
                weights = {k: p.detach().clone() for k, p in network.named_parameters()}
                self.steps.append((name, grads, weights))

            opt.register_step_pre_hook(before)


def one_batch(tmp_path, **kwargs):
    torch.manual_seed(0)
    model = tiny_model(ada=False, augment_p=0.0, **kwargs)
    reals = torch.rand(8, 3, 32, 32) * 2 - 1
    recorder = StepRecorder()
    trainer(tmp_path, limit_train_batches=1, callbacks=[recorder]).fit(model, DataLoader(TensorDataset(reals), batch_size=8))
    return model, reals, recorder.steps


def test_a_batch_runs_gmain_greg_dmain_dreg_and_regularizers_reach_every_weight(tmp_path) -> None:
    model, _, steps = one_batch(tmp_path)
    assert [name for name, _, _ in steps] == ["G", "G", "D", "D"]
    (_, _, _), (_, greg_grads, _), (_, _, _), (_, dreg_grads, _) = steps
    assert set(greg_grads) == {k for k, p in model.generator.named_parameters()}
    assert set(dreg_grads) == {k for k, p in model.discriminator.named_parameters()}


def test_lazy_r1_step_is_gamma_over_two_times_interval_times_the_squared_input_gradient(tmp_path) -> None:
    gamma, interval = 3.0, 16
    model, reals, steps = one_batch(tmp_path, r1_gamma=gamma, r1_interval=interval)
    _, dreg_grads, weights_before = steps[3]
    discriminator = model.discriminator
    discriminator.load_state_dict(weights_before, strict=False)
    x = reals.clone().requires_grad_(True)
    (input_grads,) = torch.autograd.grad(discriminator(x).sum(), x, create_graph=True)
    loss = gamma / 2 * input_grads.square().sum(dim=[1, 2, 3]).mean() * interval
    expected = torch.autograd.grad(loss, list(discriminator.parameters()), allow_unused=True)
    for (name, p), grad in zip(discriminator.named_parameters(), expected):
        grad = torch.zeros_like(p) if grad is None else grad  # the output bias: no part in R1
        torch.testing.assert_close(dreg_grads[name], grad, rtol=1e-4, atol=1e-7, msg=name)
