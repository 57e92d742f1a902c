import math

import pytest
import torch

from gan_lightning.core import losses


def test_adversarial_losses_known_values() -> None:
    real = torch.tensor([2.0, 0.0])
    fake = torch.tensor([-1.0, 1.0])
    sp = lambda v: math.log1p(math.exp(v))  # softplus
    assert losses.d_logistic_loss(real, fake).item() == pytest.approx((sp(-2) + sp(0)) / 2 + (sp(-1) + sp(1)) / 2)
    assert losses.g_nonsaturating_loss(fake).item() == pytest.approx((sp(1) + sp(-1)) / 2)
    # hinge: relu(1-2)=0, relu(1-0)=1 -> 0.5; relu(1-1)=0, relu(1+1)=2 -> 1.0
    assert losses.d_hinge_loss(real, fake).item() == pytest.approx(1.5)
    assert losses.g_hinge_loss(fake).item() == pytest.approx(0.0)
    # least squares: 0.5*(((1)^2+(-1)^2)/2 + (1+1)/2) = 1.0 ; generator 0.5*((4+0)/2) = 1.0
    assert losses.d_least_squares_loss(real, fake).item() == pytest.approx(1.0)
    assert losses.g_least_squares_loss(fake).item() == pytest.approx(1.0)
    assert losses.d_wasserstein_loss(real, fake).item() == pytest.approx(0.0 - 1.0)
    assert losses.g_wasserstein_loss(fake).item() == pytest.approx(0.0)


def test_unknown_loss_name_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown adversarial loss 'wasserstein'; allowed: non_saturating"):
        losses.discriminator_loss("wasserstein", torch.zeros(1), torch.zeros(1))


def test_r1_penalty_of_a_linear_discriminator() -> None:
    # D(x) = <w, x>: grad = w for every sample, so R1 = ||w||^2.
    w = torch.tensor([1.0, -2.0, 3.0])
    x = torch.randn(5, 3, requires_grad=True)
    assert losses.r1_penalty(x @ w, x).item() == pytest.approx(14.0)


def test_r1_penalty_of_a_float16_discriminator_is_its_float32_value() -> None:
    # The input gradient is taken unscaled: in float16 it holds the plain gradient (here w), which a
    # loss scale of 65536 would push past float16's largest value
    w = torch.full((3, 8, 8), 2.0)
    x = torch.randn(4, 3, 8, 8, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.float16):
        logits = torch.nn.functional.conv2d(x, w[None]).flatten()
        assert logits.dtype == torch.float16
        penalty = losses.r1_penalty(logits, x)
    assert penalty.item() == pytest.approx(w.square().sum().item(), rel=1e-3)


def test_wgan_gradient_penalty_is_zero_for_unit_gradients() -> None:
    x = torch.randn(3, 4, requires_grad=True)
    w = torch.tensor([0.6, 0.8, 0.0, 0.0])  # ||w|| = 1
    assert losses.wgan_gradient_penalty(x @ w, x).item() == pytest.approx(0.0, abs=1e-10)
    assert losses.wgan_gradient_penalty(x @ (3 * w), x).item() == pytest.approx(4.0)


def test_path_length_penalty_of_a_linear_map() -> None:
    # images = 3 * sum_k ws[:, k] (per pixel) -> J^T y = 3y for each of the num_ws rows, so the
    # path length is 3 * ||y|| with y = noise / sqrt(H*W); the same seed reproduces the noise.
    ws = torch.randn(8, 2, 16, requires_grad=True)  # (N, num_ws, w_dim); images of 1x4x4 = 16 pixels
    images = (3.0 * ws.sum(dim=1)).view(8, 1, 4, 4)
    torch.manual_seed(0)
    penalty, lengths, new_mean = losses.path_length_penalty(images, ws, torch.tensor(0.0), decay=0.5)
    torch.manual_seed(0)
    y = torch.randn_like(images) / 4.0
    torch.testing.assert_close(lengths, 3.0 * y.flatten(1).norm(dim=1))
    assert new_mean.item() == pytest.approx(0.5 * lengths.mean().item())
    assert penalty.item() == pytest.approx((lengths - new_mean).square().mean().item())


def test_path_length_penalty_backpropagates_to_the_generator() -> None:
    ws = torch.randn(4, 2, 16, requires_grad=True)
    images = ws.sum(dim=1).square().view(4, 1, 4, 4)  # non-linear: the Jacobian depends on ws
    penalty, _, _ = losses.path_length_penalty(images, ws, torch.tensor(1.0))
    (grad,) = torch.autograd.grad(penalty, ws)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_path_length_penalty_gradient_flows_through_the_running_mean_update() -> None:
    # images = s * L(ws) with L linear: lengths l_i = s * c_i, a' = (1 - d) a + d * mean(l), and
    # d/ds mean((l_i - a')^2) = 2 mean((l_i - a') * (c_i - d * mean(c))), as NVlabs' Greg (a' not detached)
    ws = torch.randn(6, 2, 16)
    s = torch.tensor(1.5, requires_grad=True)
    ws.requires_grad_(True)
    images = (s * ws.sum(dim=1)).view(6, 1, 4, 4)
    a, d = torch.tensor(0.7), 0.5
    penalty, lengths, new_mean = losses.path_length_penalty(images, ws, a, decay=d)
    (grad,) = torch.autograd.grad(penalty, s)
    c = lengths / s.detach()
    expected = 2 * ((lengths - new_mean) * (c - d * c.mean())).mean()
    assert grad.item() == pytest.approx(expected.item(), rel=1e-4)
