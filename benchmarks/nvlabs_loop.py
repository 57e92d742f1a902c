"""The per-batch body of NVlabs' stylegan2-ada-pytorch ``training_loop.py``, for the scripts that race
or check ours against it (compare_nvlabs_speed.py, gpu_check.py): phases Gmain, Greg, Dmain, Dreg
with their ``StyleGAN2Loss``, nan_to_num of the gradients, Adam with the lazy-regularization ratio,
the G_ema lerp with its ramp-up and the ADA p update from their training_stats collector. One
process, batch_gpu = batch. Call ``harness.use_nvlabs(clone)`` first: their modules are imported
from the clone, nothing of their code is bundled here.

    python benchmarks/nvlabs_loop.py --help      # a library for the scripts above; it runs nothing
"""

from __future__ import annotations

import argparse
import copy
from dataclasses import dataclass

import harness
import numpy as np
import torch


@dataclass(frozen=True)
class NVlabsLoopSettings:
    """Their networks and schedule; defaults are config F at full precision, as their paper runs."""

    resolution: int
    z_dim: int = 512
    mapping_layers: int = 8
    channel_base: int = 32768
    channel_max: int = 512
    mbstd_group_size: int = 4
    fp16_layers: bool = False  # their num_fp16_res 4, conv_clamp 256
    lr: float = 0.002
    r1_gamma: float = 10.0
    pl_interval: int = 4
    r1_interval: int = 16
    ema_kimg: float = 10.0
    augment_p: float = 0.0
    ada_interval: int = 4


class NVlabsLoop:
    """Their training loop's batch on ``device``; ``count_cleaned`` records, per optimizer step,
    whether nan_to_num had non-finite gradients to clean (a device bool: no wait in the loop)."""

    def __init__(self, settings: NVlabsLoopSettings, device: torch.device = torch.device("cpu"), count_cleaned: bool = False) -> None:
        from torch_utils import misc, training_stats  # type: ignore[import-not-found]
        from training import augment, loss, networks  # type: ignore[import-not-found]

        self.misc, self.settings, self.device = misc, settings, device
        torch.manual_seed(0)
        fp16 = dict(num_fp16_res=4, conv_clamp=256) if settings.fp16_layers else dict(num_fp16_res=0, conv_clamp=None)
        widths = dict(channel_base=settings.channel_base, channel_max=settings.channel_max)
        G = networks.Generator(z_dim=settings.z_dim, c_dim=0, w_dim=settings.z_dim, img_resolution=settings.resolution, img_channels=3,
                               mapping_kwargs=dict(num_layers=settings.mapping_layers), synthesis_kwargs=dict(**widths, **fp16))  # fmt: skip
        D = networks.Discriminator(c_dim=0, img_resolution=settings.resolution, img_channels=3, **widths, **fp16,
                                   epilogue_kwargs=dict(mbstd_group_size=settings.mbstd_group_size))  # fmt: skip
        self.G, self.D = G.train().requires_grad_(False).to(device), D.train().requires_grad_(False).to(device)
        self.G_ema = copy.deepcopy(self.G).eval()
        self.augment_pipe = augment.AugmentPipe(**harness.NVLABS_BGC).train().requires_grad_(False).to(device)
        self.augment_pipe.p.copy_(torch.as_tensor(settings.augment_p))
        self.ada_stats = training_stats.Collector(regex="Loss/signs/real")
        self.loss = loss.StyleGAN2Loss(device, self.G.mapping, self.G.synthesis, self.D, augment_pipe=self.augment_pipe, r1_gamma=settings.r1_gamma)
        self.phases = []
        for name, module, interval in (("G", self.G, settings.pl_interval), ("D", self.D, settings.r1_interval)):
            ratio = interval / (interval + 1)
            opt = torch.optim.Adam(module.parameters(), lr=settings.lr * ratio, betas=(0.0, 0.99**ratio), eps=1e-8)
            self.phases += [(name + "main", module, opt, 1), (name + "reg", module, opt, interval)]
        self.cur_nimg = 0
        self.cleaned: list[torch.Tensor] | None = [] if count_cleaned else None

    def step(self, real: torch.Tensor, batch_idx: int) -> None:
        batch = real.shape[0]
        c = torch.zeros(batch, 0, device=self.device)
        all_gen_z = torch.randn([len(self.phases) * batch, self.G.z_dim], device=self.device).split(batch)
        for (name, module, opt, interval), gen_z in zip(self.phases, all_gen_z):
            if batch_idx % interval != 0:
                continue
            opt.zero_grad(set_to_none=True)
            module.requires_grad_(True)
            self.loss.accumulate_gradients(phase=name, real_img=real, real_c=c, gen_z=gen_z, gen_c=c, sync=True, gain=interval)
            module.requires_grad_(False)
            grads = [p.grad for p in module.parameters() if p.grad is not None]
            if self.cleaned is not None:
                self.cleaned.append(~torch.stack([g.isfinite().all() for g in grads]).all())
            for grad in grads:
                self.misc.nan_to_num(grad, nan=0, posinf=1e5, neginf=-1e5, out=grad)
            opt.step()
        ema_beta = 0.5 ** (batch / max(min(self.settings.ema_kimg * 1000, self.cur_nimg * 0.05), 1e-8))
        with torch.no_grad():
            for p_ema, p in zip(self.G_ema.parameters(), self.G.parameters()):
                p_ema.copy_(p.lerp(p_ema, ema_beta))
            for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers()):
                b_ema.copy_(b)
        self.cur_nimg += batch
        if (batch_idx + 1) % self.settings.ada_interval == 0:  # their batch_idx counts this batch already
            self.ada_stats.update()
            adjust = np.sign(self.ada_stats["Loss/signs/real"] - 0.6) * (batch * self.settings.ada_interval) / (500 * 1000)
            self.augment_pipe.p.copy_((self.augment_pipe.p + adjust).max(torch.zeros([], device=self.device)))


def main() -> None:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()


if __name__ == "__main__":
    main()
