"""The metrics' values from extracted features: FID, KID, precision/recall and IS by torch-fidelity's
own functions (so the figures are torch-fidelity's for the same features), PPL by hand (no library
samples W-space end points with one noise draw per pair, as NVlabs' ``ppl2_wend`` does)."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn
from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric
from torch_fidelity.metric_isc import isc_features_to_metric
from torch_fidelity.metric_kid import kid_features_to_metric
from torch_fidelity.metric_prc import prc_features_to_metric

from gan_lightning.common.errors import UserError
from gan_lightning.evaluation.protocols import IS_NUM_SPLITS, KID_MAX_SUBSET_SIZE, KID_NUM_SUBSETS, PPL_EPSILON, PPL_MAX_RESOLUTION, PR_NEIGHBORHOOD


def _need(features: Tensor, at_least: int, what: str) -> None:
    if features.shape[0] < at_least:
        raise UserError(f"{what} needs at least {at_least} images, got {features.shape[0]}")


def frechet_distance(generated: Tensor, real: Tensor) -> float:
    """FID (Heusel et al. 2017): ||mu_r - mu_g||^2 + Tr(S_r + S_g - 2 (S_r S_g)^1/2)."""
    _need(generated, 2, "FID"), _need(real, 2, "FID")
    stats = [fid_features_to_statistics(f.float().cpu()) for f in (generated, real)]  # float32 as torch-fidelity gets them
    return fid_statistics_to_metric(stats[0], stats[1], verbose=False)["frechet_inception_distance"]


def kernel_distance(generated: Tensor, real: Tensor, seed: int = 0, max_subset_size: int = KID_MAX_SUBSET_SIZE) -> float:
    """KID (Binkowski et al. 2018): unbiased MMD^2 with the cubic polynomial kernel, averaged over
    100 random subsets of min(max_subset_size, real, generated) images each (NVlabs' 1000)."""
    _need(generated, 2, "KID"), _need(real, 2, "KID")
    size = min(max_subset_size, generated.shape[0], real.shape[0])
    result = kid_features_to_metric(
        generated.float().cpu(), real.float().cpu(), kid_subsets=KID_NUM_SUBSETS, kid_subset_size=size, rng_seed=seed, verbose=False
    )
    return result["kernel_inception_distance_mean"]


def precision_recall(generated: Tensor, real: Tensor) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019), k = 3: precision is the share of
    generated samples inside some real sample's k-NN ball, recall the converse."""
    _need(generated, PR_NEIGHBORHOOD + 1, "precision/recall"), _need(real, PR_NEIGHBORHOOD + 1, "precision/recall")
    result = prc_features_to_metric(generated.float().cpu(), real.float().cpu(), prc_neighborhood=PR_NEIGHBORHOOD, verbose=False)
    return result["precision"], result["recall"]


def inception_score(logits: Tensor) -> tuple[float, float]:
    """IS (Salimans et al. 2016): exp E[KL(p(y|x) || p(y))] in 10 consecutive splits (NVlabs does not
    shuffle), mean and standard deviation."""
    _need(logits, IS_NUM_SPLITS, "IS")
    result = isc_features_to_metric(logits.float().cpu(), splits=IS_NUM_SPLITS, shuffle=False)
    return result["inception_score_mean"], result["inception_score_std"]


def path_length(distances: Tensor) -> float:
    """PPL (Karras et al. 2019): the mean of the scaled LPIPS distances between the 1st ("lower")
    and 99th ("higher") percentiles, as NVlabs discards outliers."""
    _need(distances, 2, "PPL")
    values = distances.double().cpu().numpy()
    lo = np.percentile(values, 1, method="lower")
    hi = np.percentile(values, 99, method="higher")
    return float(values[(values >= lo) & (values <= hi)].mean())


def _at_most_256(images: Tensor) -> Tensor:
    """NVlabs' PPL looks at 256 px: larger images are box-downsampled by an integer factor."""
    factor = images.shape[-1] // PPL_MAX_RESOLUTION
    if factor <= 1:
        return images
    n, c, h, w = images.shape
    return images.reshape(n, c, h // factor, factor, w // factor, factor).mean(dim=(3, 5))


@torch.no_grad()
def path_length_distances(generator: nn.Module, distance: nn.Module, z0: Tensor, z1: Tensor, epsilon: float = PPL_EPSILON) -> Tensor:
    """ppl2_wend's per-pair distances d(G(lerp(w0, w1, 0)), G(lerp(w0, w1, eps))) / eps^2 for latent
    pairs (z0, z1): W space, t = 0, no crop, each pair's two images with the same noise draw.

    ``generator`` is a StyleGAN2 ``Generator`` (``mapping`` and ``synthesis``, truncation psi 1);
    ``distance`` takes two batches in [-1, 1] (LPIPS)."""
    w0, w1 = generator.mapping(torch.cat([z0, z1])).chunk(2)
    wt0, wt1 = w0, w0.lerp(w1, epsilon)  # t = 0 ("end" sampling)
    buffers = generator.synthesis.noise_buffers()
    stored = [buffer.clone() for buffer in buffers]
    results = []
    try:
        for a, b in zip(wt0.split(1), wt1.split(1)):
            for buffer in buffers:  # one fresh noise draw, shared by the pair's two images
                buffer.copy_(torch.randn_like(buffer))
            images = _at_most_256(generator.synthesis(torch.cat([a, b]), noise_mode="const").float())
            if images.shape[1] == 1:
                images = images.expand(-1, 3, -1, -1)
            results.append(distance(images[:1], images[1:]) / epsilon**2)
    finally:
        for buffer, value in zip(buffers, stored):
            buffer.copy_(value)
    return torch.cat(results)
