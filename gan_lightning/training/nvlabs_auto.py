"""NVlabs' ``auto`` preset (stylegan2-ada-pytorch train.py, ``--cfg=auto``): batch size, minibatch-std
group, widths, learning rate, R1 gamma and EMA half-life chosen from the resolution and GPU count.

configs/stylegan_auto.yaml turns it on (``nvlabs_auto: true``); the CLI then fills these values into
the run's config before building it, except options given on the command line (as NVlabs' --batch
and --gamma override the rule). The other ``auto`` values (2 mapping layers, EMA ramp-up 0.05,
25000 kimg) do not depend on the run and are in the preset file.
"""

from __future__ import annotations

from dataclasses import dataclass

from gan_lightning.common.errors import UserError


@dataclass(frozen=True)
class AutoSettings:
    batch: int  # global batch, all GPUs together
    batch_per_gpu: int
    mbstd_group_size: int
    channel_base: int
    lr: float
    r1_gamma: float
    ema_kimg: float


def nvlabs_auto(resolution: int, gpus: int) -> AutoSettings:
    """The rule of NVlabs' ``auto`` config for images of side ``resolution`` on ``gpus`` GPUs."""
    if resolution < 1 or gpus < 1:
        raise UserError(f"the auto preset needs a resolution and a GPU count >= 1, got {resolution} and {gpus}")
    batch = max(min(gpus * min(4096 // resolution, 32), 64), gpus)  # at most 32 per GPU, 64 in all
    return AutoSettings(
        batch=batch,
        batch_per_gpu=batch // gpus,
        mbstd_group_size=min(batch // gpus, 4),
        channel_base=32768 if resolution >= 512 else 16384,
        lr=0.002 if resolution >= 1024 else 0.0025,
        r1_gamma=0.0002 * resolution**2 / batch,
        ema_kimg=batch * 10 / 32,
    )


# Where each value goes in a fit config, as (section, dotted key under init_args).
AUTO_TARGETS = {
    "batch_per_gpu": [("data", "batch_size")],
    "mbstd_group_size": [("model", "discriminator.mbstd_group_size")],
    "channel_base": [("model", "generator.channel_base"), ("model", "discriminator.channel_base")],
    "lr": [("model", "lr")],
    "r1_gamma": [("model", "r1_gamma")],
    "ema_kimg": [("model", "ema_kimg")],
}
