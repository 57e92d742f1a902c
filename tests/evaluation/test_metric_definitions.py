"""Each metric equals a direct computation of its paper's definition on small fixed inputs: FID
(Heusel et al. 2017), KID (Binkowski et al. 2018), improved precision/recall with k = 3
(Kynkäänniemi et al. 2019), IS (Salimans et al. 2016) and ppl2_wend (Karras et al. 2019/2020, with
NVlabs' epsilon, end-point sampling in W, no crop, 1st/99th percentile cut)."""

from __future__ import annotations


import numpy as np
import pytest
import scipy.linalg
import torch
from torch import Tensor, nn

from gan_lightning.evaluation import formulas
from gan_lightning.evaluation.protocols import PPL_EPSILON, PROTOCOLS
from gan_lightning.core.nets.stylegan2 import Generator, GeneratorConfig


def features(n: int, dim: int, seed: int, shift: float = 0.0) -> Tensor:
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) + shift


def test_fid_is_the_frechet_distance_of_two_gaussians() -> None:
    gen, real = features(40, 6, 0), features(50, 6, 1, shift=0.5)
    mu_g, mu_r = gen.mean(0).numpy(), real.mean(0).numpy()
    cov_g, cov_r = np.cov(gen.numpy(), rowvar=False), np.cov(real.numpy(), rowvar=False)
    direct = ((mu_g - mu_r) ** 2).sum() + np.trace(cov_g + cov_r - 2 * scipy.linalg.sqrtm(cov_g @ cov_r).real)
    assert formulas.frechet_distance(gen, real) == pytest.approx(direct, rel=1e-6)


def test_kid_is_the_unbiased_mmd_with_the_cubic_kernel() -> None:
    # Subsets as large as the sets are the sets themselves (MMD does not depend on the order).
    gen, real = features(30, 5, 2), features(30, 5, 3, shift=0.3)
    d = gen.shape[1]
    k = lambda x, y: (x @ y.T / d + 1) ** 3  # noqa: E731
    m = gen.shape[0]
    k_gg, k_rr, k_gr = k(gen, gen), k(real, real), k(gen, real)
    direct = (k_gg.sum() - k_gg.diag().sum()) / (m * (m - 1)) + (k_rr.sum() - k_rr.diag().sum()) / (m * (m - 1)) - 2 * k_gr.mean()
    assert formulas.kernel_distance(gen, real) == pytest.approx(direct.item(), rel=1e-6)


def test_precision_and_recall_are_the_k3_nearest_neighbour_manifolds() -> None:
    gen, real = features(25, 4, 4).float(), features(30, 4, 5, shift=0.8).float()

    def inside(samples: Tensor, reference: Tensor, k: int = 3) -> float:
        """Share of samples within some reference point's distance to its k-th nearest other reference point."""
        radii = [sorted(float((r - o).norm()) for j, o in enumerate(reference) if j != i)[k - 1] for i, r in enumerate(reference)]
        hits = [any(float((s - r).norm()) <= radius for r, radius in zip(reference, radii)) for s in samples]
        return sum(hits) / len(hits)

    precision, recall = formulas.precision_recall(gen, real)
    assert precision == pytest.approx(inside(gen, real), abs=1e-6)  # float32 mean; one sample is 1/25
    assert recall == pytest.approx(inside(real, gen), abs=1e-6)
    assert 0 < precision < 1 and 0 < recall < 1  # the inputs make both non-trivial


def test_inception_score_is_exp_mean_kl_over_ten_consecutive_splits() -> None:
    logits = (features(50, 7, 6) * 3).float()  # float32, as detectors give them
    p = logits.double().softmax(1)
    scores = []
    for part in p.chunk(10):
        marginal = part.mean(0, keepdim=True)
        scores.append(float(torch.exp((part * (part.log() - marginal.log())).sum(1).mean())))
    mean, std = formulas.inception_score(logits)
    assert mean == pytest.approx(np.mean(scores), rel=1e-9)
    assert std == pytest.approx(np.std(scores), rel=1e-9)


def test_path_length_keeps_values_between_the_1st_lower_and_99th_higher_percentile() -> None:
    values = torch.tensor([float(v) for v in range(1, 251)])  # 250 values: index 2.49 -> "lower" 3, 246.51 -> "higher" 248
    assert formulas.path_length(values) == pytest.approx(np.mean(range(3, 249)))


class MeanSquare(nn.Module):
    """A small stand-in for LPIPS: mean squared pixel difference per image."""

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        return (a - b).square().flatten(1).mean(1)


def test_ppl2_wend_is_the_w_space_end_point_distance_over_epsilon_squared() -> None:
    assert PPL_EPSILON == 1e-4 and PROTOCOLS["ppl2_wend"].num_gen == 50_000
    torch.manual_seed(0)
    generator = Generator(32, 3, GeneratorConfig(z_dim=8, w_dim=8, mapping_layers=2, channel_base=64, channel_max=8)).eval()
    z0, z1 = torch.randn(6, 8), torch.randn(6, 8)
    stored_noise = [b.clone() for b in generator.synthesis.noise_buffers()]

    torch.manual_seed(1)
    ours = formulas.path_length_distances(generator, MeanSquare(), z0, z1)
    assert all(torch.equal(a, b) for a, b in zip(stored_noise, generator.synthesis.noise_buffers()))  # left as found

    torch.manual_seed(1)
    direct = []
    with torch.no_grad():
        # Float32 rounding differs between batch shapes, and an eps = 1e-4 step magnifies it to ~1e-3:
        # map all z in one call and make each pair's two images in one call, as NVlabs does.
        w0s, w1s = generator.mapping(torch.cat([z0, z1])).chunk(2)
        for w0, w1 in zip(w0s.split(1), w1s.split(1)):
            w_t, w_t_eps = w0, w0 + PPL_EPSILON * (w1 - w0)  # t = 0: the path's end point, in W
            for buffer in generator.synthesis.noise_buffers():  # the same noise for both images
                buffer.copy_(torch.randn_like(buffer))
            image, image_eps = generator.synthesis(torch.cat([w_t, w_t_eps]), noise_mode="const").chunk(2)
            direct.append(float(MeanSquare()(image, image_eps)) / PPL_EPSILON**2)
    assert ours.tolist() == pytest.approx(direct, rel=1e-5)


def test_ppl_looks_at_256_pixels_at_most() -> None:
    images = torch.arange(2 * 3 * 512 * 512, dtype=torch.float32).reshape(2, 3, 512, 512)
    small = formulas._at_most_256(images)
    assert small.shape == (2, 3, 256, 256)
    assert small[0, 0, 0, 0] == images[0, 0, :2, :2].mean()
    assert torch.equal(formulas._at_most_256(images[..., :256, :256]), images[..., :256, :256])


NVLABS_MAX_REAL = {"fid50k_full": None, "kid50k_full": 1_000_000, "pr50k3_full": 200_000, "ppl2_wend": 0, "is50k": 0,
                   "eqt50k_int": 0, "eqt50k_frac": 0, "eqr50k": 0}  # fmt: skip


@pytest.mark.parametrize("name", list(NVLABS_MAX_REAL))
def test_protocols_are_nvlabs_sample_counts(name: str) -> None:
    protocol = PROTOCOLS[name]
    assert protocol.num_gen == 50_000
    assert protocol.max_real == NVLABS_MAX_REAL[name]
    assert (protocol.detector is None) == name.startswith("eq")  # the equivariance metrics compare pixels


def test_the_only_metric_beyond_nvlabs_is_the_stacked_digits_mode_count() -> None:
    assert set(PROTOCOLS) == set(NVLABS_MAX_REAL) | {"modes26k"}
    assert PROTOCOLS["modes26k"].num_gen == 26_000 and PROTOCOLS["modes26k"].max_real == 0
