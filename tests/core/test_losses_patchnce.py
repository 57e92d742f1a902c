"""PatchNCE loss against a direct, loop-by-loop computation of the paper's equation."""

import math

import pytest
import torch

from gan_lightning.core.losses import patch_nce_loss


def unit(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(dim=-1, keepdim=True)


def direct_patch_nce(query, key, temperature):
    # For every patch: -log( exp(q.k+/t) / sum over all keys of the same group exp(q.k/t) )
    losses = []
    for g in range(query.shape[0]):
        for p in range(query.shape[1]):
            q = query[g, p]
            positive = math.exp(float(q @ key[g, p]) / temperature)
            total = positive + sum(
                math.exp(float(q @ key[g, n]) / temperature) for n in range(key.shape[1]) if n != p
            )
            losses.append(-math.log(positive / total))
    return sum(losses) / len(losses)


@pytest.mark.parametrize("temperature", [0.07, 0.5])
def test_patch_nce_matches_direct_computation(temperature):
    torch.manual_seed(0)
    query = unit(torch.randn(2, 9, 16, dtype=torch.float64))
    key = unit(query + 0.3 * torch.randn_like(query))
    got = patch_nce_loss(query, key, temperature=temperature)
    assert got.item() == pytest.approx(direct_patch_nce(query, key, temperature), rel=1e-5)


def test_negatives_come_only_from_the_same_image():
    torch.manual_seed(1)
    query = unit(torch.randn(2, 5, 8))
    key = unit(torch.randn(2, 5, 8))
    per_image = patch_nce_loss(query, key)
    # changing the other image's keys does not change image 0's loss
    key2 = key.clone()
    key2[1] = unit(torch.randn(5, 8))
    assert patch_nce_loss(query[:1], key[:1]).item() == pytest.approx(patch_nce_loss(query[:1], key2[:1]).item())
    # pooling the batch into one group adds negatives, so the loss differs
    pooled = patch_nce_loss(query.reshape(1, 10, 8), key.reshape(1, 10, 8))
    assert pooled.item() != pytest.approx(per_image.item())


def test_matching_patches_give_low_loss_and_mismatched_high():
    torch.manual_seed(2)
    key = unit(torch.randn(1, 64, 256))
    assert patch_nce_loss(key, key).item() < 0.01
    assert patch_nce_loss(key.roll(1, dims=1), key).item() > math.log(64)


def test_gradient_flows_to_query_only():
    query = unit(torch.randn(1, 6, 4)).requires_grad_()
    key = unit(torch.randn(1, 6, 4)).requires_grad_()
    patch_nce_loss(query, key).backward()
    assert query.grad is not None and query.grad.abs().sum() > 0
    assert key.grad is None


def test_bf16_inputs_give_float32_loss():
    query = unit(torch.randn(2, 7, 16)).bfloat16()
    loss = patch_nce_loss(query, query)
    assert loss.dtype == torch.float32 and torch.isfinite(loss)


def test_bad_shapes_and_temperature_are_rejected():
    with pytest.raises(ValueError, match="query"):
        patch_nce_loss(torch.randn(4, 8), torch.randn(4, 8))
    with pytest.raises(ValueError, match="temperature"):
        patch_nce_loss(torch.randn(1, 4, 8), torch.randn(1, 4, 8), temperature=0.0)
