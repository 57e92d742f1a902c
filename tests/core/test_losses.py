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


def test_relativistic_losses_pair_each_real_with_its_fake() -> None:
    real = torch.tensor([2.0, 0.0, -1.0])
    fake = torch.tensor([-1.0, 1.0, -1.0])
    sp = lambda v: math.log1p(math.exp(v))  # softplus
    # D: softplus(-(D(x_i) - D(G(z_i)))): differences 3, -1, 0
    assert losses.d_relativistic_loss(real, fake).item() == pytest.approx((sp(-3) + sp(1) + sp(0)) / 3)
    assert losses.discriminator_loss("relativistic", real, fake).item() == pytest.approx((sp(-3) + sp(1) + sp(0)) / 3)
    # G, the pair swapped: softplus(-(D(G(z_i)) - D(x_i))): differences -3, 1, 0
    assert losses.generator_loss("relativistic", fake, real).item() == pytest.approx((sp(3) + sp(-1) + sp(0)) / 3)
    # only the difference counts: shifting both logits changes nothing (unlike the logistic loss)
    assert losses.d_relativistic_loss(real + 5, fake + 5).item() == pytest.approx(losses.d_relativistic_loss(real, fake).item())
    with pytest.raises(ValueError, match="needs the real logits"):
        losses.generator_loss("relativistic", fake)


def test_relativistic_is_for_the_gan_algorithms_only() -> None:
    # the per-logit losses (style transfer's choice) do not include it; the G/D algorithms' do
    with pytest.raises(ValueError, match="unknown adversarial loss 'relativistic'; allowed: non_saturating, hinge, least_squares, wgan_gp$"):
        losses.check_adversarial_loss("relativistic")
    assert losses.check_adversarial_loss("relativistic", losses.GAN_LOSSES) == "relativistic"
    assert losses.needs_real_logits("relativistic") and not losses.needs_real_logits("non_saturating")
    with pytest.raises(ValueError, match=r"lambda_r2=-1.0 is invalid; allowed: >= 0"):
        losses.check_penalty_weights(1.0, -1.0)


class TinyDiscriminator(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.head = torch.nn.Linear(4 * 4 * 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.nn.functional.leaky_relu(self.conv(x), 0.2).flatten(1)).squeeze(1)


@pytest.mark.parametrize("penalty", [losses.r1_penalty, losses.r2_penalty])
def test_r1_and_r2_are_the_mean_squared_input_gradient_norm_of_each_sample(penalty) -> None:
    torch.manual_seed(0)
    d = TinyDiscriminator().double()
    x = torch.randn(5, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    # each sample's gradient on its own (torch.autograd per sample, no batch sum)
    expected = sum(torch.autograd.grad(d(x[i : i + 1]).sum(), x)[0][i].square().sum() for i in range(5)) / 5
    assert penalty(d(x), x).item() == pytest.approx(expected.item(), rel=1e-6)  # the penalty is summed in float32


def test_gradient_of_a_zero_centred_penalty_with_respect_to_the_weights_is_the_double_backward() -> None:
    # the penalty trains D: its weight gradient (through create_graph) against finite differences
    torch.manual_seed(0)
    d = TinyDiscriminator().double()
    x = torch.randn(3, 3, 4, 4, dtype=torch.float64)
    weight, bias = d.head.weight.detach().clone(), d.head.bias.detach().clone()

    def penalty_of(head_weight: torch.Tensor, conv_weight: torch.Tensor) -> torch.Tensor:
        inputs = x.clone().requires_grad_(True)
        hidden = torch.nn.functional.leaky_relu(torch.nn.functional.conv2d(inputs, conv_weight, d.conv.bias, padding=1), 0.2)
        return losses.r1_penalty(hidden.flatten(1) @ head_weight.T + bias, inputs)

    inputs = (weight.requires_grad_(True), d.conv.weight.detach().clone().requires_grad_(True))
    # tolerances for the penalty's float32 sum: finite differences of 1e-4 see its rounding (~1e-8) as ~1e-4
    assert torch.autograd.gradcheck(penalty_of, inputs, eps=1e-4, atol=1e-3, rtol=1e-3)
