"""VanillaGAN training throughput (images/s) at 64 px: our LightningModule under a Trainer against a
plain PyTorch loop doing the same D and G steps on the same networks and data.

    python benchmarks/vanilla_gan_throughput.py [--device cpu|cuda] [--batch-size 64] [--steps 30] [--compile]

With --compile, a third variant joins the alternation: the LightningModule with
``compile=True`` (torch.compile, inductor); its warm-up batches include compiling.

Both runs read the same pre-made batches from memory, so data loading is not measured. The plain loop
does what VanillaGAN.training_step does (D step on real and detached fake, G step with D frozen);
the Lightning run includes its logging of losses every 50 batches. Runs alternate (plain, Lightning,
plain, Lightning, ...) and the median per variant is reported, so a busy machine affects both alike.
Results are appended to benchmarks/results/vanilla_gan_throughput.md.
"""

from __future__ import annotations

import argparse
import statistics
import time

import harness
import torch
import torch.nn.functional as F
from lightning.pytorch import Trainer
from torch.utils.data import DataLoader, TensorDataset

from gan_lightning.training.models import VanillaGAN

RESULTS = harness.RESULTS / "vanilla_gan_throughput.md"


def make_batches(count: int, batch_size: int, resolution: int) -> torch.Tensor:
    return torch.rand(count * batch_size, 3, resolution, resolution, generator=torch.Generator().manual_seed(0)) * 2 - 1


def plain_loop(images: torch.Tensor, batch_size: int, warmup: int, device: torch.device) -> float:
    """The same steps as VanillaGAN.training_step, written directly in PyTorch."""
    torch.manual_seed(0)
    model = VanillaGAN(resolution=64, channels=3, fid_features="shapes").to(device)
    generator, discriminator = model.generator, model.discriminator
    opt_g = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    batches = images.split(batch_size)
    start = 0.0
    for i, real in enumerate(batches):
        if i == warmup:
            harness.synchronize(device)
            start = time.perf_counter()
        real = real.to(device, non_blocking=True)
        with torch.no_grad():
            fake = generator(torch.randn(batch_size, 100, device=device))
        d_loss = F.softplus(-discriminator(real)).mean() + F.softplus(discriminator(fake)).mean()
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        discriminator.requires_grad_(False)
        g_loss = F.softplus(-discriminator(generator(torch.randn(batch_size, 100, device=device)))).mean()
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        discriminator.requires_grad_(True)
    harness.synchronize(device)
    return (len(batches) - warmup) * batch_size / (time.perf_counter() - start)


def lightning_loop(images: torch.Tensor, batch_size: int, warmup: int, device: torch.device, compile: bool = False) -> float:
    torch.manual_seed(0)
    model = VanillaGAN(resolution=64, channels=3, fid_features="shapes", compile=compile)
    loader = DataLoader(TensorDataset(images, torch.zeros(len(images))), batch_size=batch_size, shuffle=False)
    timer = harness.BatchTimer(warmup)
    trainer = Trainer(
        accelerator=device.type, devices=1, max_epochs=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0, log_every_n_steps=50,
        callbacks=[timer],
    )  # fmt: skip
    trainer.fit(model, train_dataloaders=loader)
    return (timer.batches - warmup) * batch_size / timer.window_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=30, help="timed batches per run")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3, help="runs per variant, alternating")
    parser.add_argument("--compile", action="store_true", help="also time the compiled LightningModule")
    args = parser.parse_args()
    device = torch.device(args.device)
    images = make_batches(args.warmup + args.steps, args.batch_size, 64)
    plain, lightning, compiled = [], [], []
    for _ in range(args.repeats):
        plain.append(plain_loop(images, args.batch_size, args.warmup, device))
        lightning.append(lightning_loop(images, args.batch_size, args.warmup, device))
        if args.compile:
            compiled.append(lightning_loop(images, args.batch_size, args.warmup, device, compile=True))
        print(f"plain {plain[-1]:.1f} img/s   lightning {lightning[-1]:.1f} img/s" + (f"   compiled {compiled[-1]:.1f} img/s" if compiled else ""))
    p, l = statistics.median(plain), statistics.median(lightning)
    overhead = (p / l - 1) * 100
    line = (
        f"| {harness.today()} | {harness.device_name(device)} | torch {torch.__version__} | batch {args.batch_size}, "
        f"{args.steps} timed batches x {args.repeats} | {p:.1f} | {l:.1f} | {overhead:+.1f}% |"
    )
    print(f"median: plain {p:.1f} img/s, lightning {l:.1f} img/s, Lightning overhead {overhead:+.1f}%")
    if compiled:
        c = statistics.median(compiled)
        line += f" compiled: {c:.1f} img/s ({c / l:.2f}x eager) |"
        print(f"median: compiled {c:.1f} img/s, {c / l:.2f}x the eager LightningModule")
    harness.append_rows(
        RESULTS,
        "VanillaGAN throughput at 64 px (images/s, higher is better)",
        "Measured by `python benchmarks/vanilla_gan_throughput.py`. Overhead = plain / Lightning - 1.",
        ["date", "device", "software", "setting", "plain PyTorch", "Lightning", "overhead"],
        [line],
    )


if __name__ == "__main__":
    main()
