"""The StyleGAN metric suite by NVlabs' names (stylegan2-ada-pytorch and stylegan3
``metrics/metric_main.py``): how many images each metric generates, how many real ones it reads,
and with which network (none for the equivariance metrics, ``equivariance.py``).

All generated images use truncation psi 1 and random noise (the generator's defaults there); real
images are the whole training set, each image once, without mirroring (their ``xflip=False``).
"""

from __future__ import annotations

from dataclasses import dataclass

from gan_lightning.common.errors import UserError
from gan_lightning.evaluation.detectors import Role
from gan_lightning.evaluation.equivariance import METRICS as EQUIVARIANCE


@dataclass(frozen=True)
class MetricProtocol:
    """One metric's protocol.

    Args:
        name: NVlabs' metric name.
        num_gen: generated images (PPL: image pairs).
        max_real: real images read at most (None: the whole set; 0: none).
        detector: the network role (``detectors.build_detector``); None: no network.
    """

    name: str
    num_gen: int
    max_real: int | None
    detector: Role | None


PROTOCOLS: dict[str, MetricProtocol] = {
    p.name: p
    for p in (
        MetricProtocol("fid50k_full", num_gen=50_000, max_real=None, detector="inception"),
        MetricProtocol("kid50k_full", num_gen=50_000, max_real=1_000_000, detector="inception"),
        MetricProtocol("pr50k3_full", num_gen=50_000, max_real=200_000, detector="vgg16"),
        MetricProtocol("ppl2_wend", num_gen=50_000, max_real=0, detector="lpips"),
        MetricProtocol("is50k", num_gen=50_000, max_real=0, detector="inception"),
        *(MetricProtocol(name, num_gen=50_000, max_real=0, detector=None) for name in EQUIVARIANCE),
        # stacked digits: modes covered of 1000 and KL to uniform over 26k samples (Lin et al. 2018, PacGAN)
        MetricProtocol("modes26k", num_gen=26_000, max_real=0, detector="digits"),
    )
}

# Parameters of the metrics' definitions, as in NVlabs' metric_main.py.
KID_NUM_SUBSETS, KID_MAX_SUBSET_SIZE = 100, 1000
PR_NEIGHBORHOOD = 3  # k of the k-NN manifold (Kynkäänniemi et al. 2019)
IS_NUM_SPLITS = 10
PPL_EPSILON = 1e-4  # ppl2_wend: W space, end-point sampling (t = 0), no crop, at most 256 px
PPL_MAX_RESOLUTION = 256
# Metrics of latent generators only: a translation model has no samples of its own (PPL also needs W).
LATENT_ONLY = ("ppl2_wend", "is50k", *EQUIVARIANCE)


def parse_metrics(text: str) -> list[MetricProtocol]:
    """"fid50k_full,kid50k_full" -> their protocols, in the order given."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in PROTOCOLS]
    if unknown or not names:
        raise UserError(f"unknown metric {', '.join(unknown) or repr(text)}; allowed: {', '.join(PROTOCOLS)}")
    return [PROTOCOLS[name] for name in dict.fromkeys(names)]
