"""Our full StyleGAN training step against NVlabs' training loop, batch by batch, in one process.

    python benchmarks/compare_nvlabs_speed.py ~/src/stylegan2-ada-pytorch            # 64 px config F, batch 4, steps 1..16
    python benchmarks/compare_nvlabs_speed.py CLONE --steps 1 2 3 4 5 6 8 12 16      # the same kinds, 9 batches
    python benchmarks/compare_nvlabs_speed.py CLONE --resolution 32 --channel-base 512 --batches 4   # smoke run
    python benchmarks/compare_nvlabs_speed.py CLONE --steps 1 2 3 4 5 6 8 12 16 --winograd   # ours with Winograd convolutions
    python benchmarks/compare_nvlabs_speed.py CLONE --profile 3                      # where the time goes

Config F networks (channel_base 32768, 8 mapping layers) in fp32, ADA 'bgc' with p = 0.2, R1 gamma 10
every 16 batches, path length every 4, EMA, on random images, one torch thread unless
OMP_NUM_THREADS says otherwise. Ours is the real StyleGAN LightningModule under Lightning's Trainer
(logging every 50 batches); theirs is a transcription of the per-batch body of their
``training_loop.py`` (phases Gmain, Greg, Dmain, Dreg with their ``StyleGAN2Loss``, nan_to_num of
the gradients, Adam with the lazy-regularization ratio, G_ema lerp, ADA p update from their
training_stats collector) on their pure-PyTorch reference ops (the CUDA plugin loader is stubbed).

The two alternate: our batch k, then their batch k, for schedule steps 1..B (B = --batches) or the
steps listed by --steps, so load on a shared machine hits both alike. Each batch's schedule step
decides which regularizers run; the reported time per batch is amortised over the lazy schedule from
the best batch of each kind: t_plain + (t_pl - t_plain) / 4 + (t_r1_pl - t_pl) / 16, and, for a
window of whole lazy cycles (steps 1..B, B a multiple of 16), the plain mean over it, which equals the
same amortisation of the window's own times (12 plain, 3 path-length and 1 R1 + path-length batch per
cycle: (12 p + 3 q + r) / 16 = p + (q - p) / 4 + (r - q) / 16). On an idle machine one 64 px batch
takes about 25 s (ours) + 28 s (theirs): steps 1..16 about 16 minutes, the 9 steps above about 9. Nothing of their code is bundled here: the clone's
path is an argument. Results: benchmarks/results/compare_nvlabs_speed.json (or --out).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import harness
import torch
from harness import RESULTS
from nvlabs_loop import NVlabsLoop, NVlabsLoopSettings

R1_INTERVAL, PL_INTERVAL, ADA_INTERVAL = 16, 4, 4
P = 0.2


def kind(step: int) -> str:
    if step % R1_INTERVAL == 0:
        return "r1_pl"
    return "pl" if step % PL_INTERVAL == 0 else "plain"


def profiled(fn, label: str, rows: int = 25) -> None:
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        fn()
    print(f"\n=== {label} ===")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows))


def schedule_steps(args) -> list[int]:
    steps = args.steps or list(range(1, args.batches + 1))
    if min(steps) < 1 or len(set(steps)) != len(steps):
        raise SystemExit(f"error: --steps must be distinct schedule steps >= 1, got {steps}")
    return steps


def whole_cycles(steps: list[int]) -> bool:
    return steps == list(range(1, len(steps) + 1)) and len(steps) % R1_INTERVAL == 0


def run(args) -> dict:
    from lightning.pytorch import Callback, Trainer
    from torch.utils.data import DataLoader, TensorDataset

    from gan_lightning.training.models.stylegan import StyleGAN
    from gan_lightning.core.nets.stylegan2 import DiscriminatorConfig, GeneratorConfig

    harness.use_nvlabs(args.clone)
    theirs = NVlabsLoop(NVlabsLoopSettings(args.resolution, channel_base=args.channel_base, augment_p=P, pl_interval=PL_INTERVAL,
                                           r1_interval=R1_INTERVAL, ada_interval=ADA_INTERVAL))
    torch.manual_seed(0)
    ours = StyleGAN(
        resolution=args.resolution, channels=3, augment_p=P, fid_features="shapes", ema_rampup=0.05, compile=args.compile, winograd=args.winograd,
        generator=GeneratorConfig(channel_base=args.channel_base), discriminator=DiscriminatorConfig(channel_base=args.channel_base),
    )  # fmt: skip
    steps = schedule_steps(args)
    images = torch.randn(args.batch_size * len(steps), 3, args.resolution, args.resolution).clamp(-1, 1)
    loader = DataLoader(TensorDataset(images, torch.zeros(len(images))), batch_size=args.batch_size, drop_last=True)
    times: dict[str, dict[int, float]] = {"ours": {}, "nvlabs": {}}

    class Schedule(Callback):
        """Puts our model at the next listed schedule step (theirs takes the same step below)."""

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            pl_module.batches_done.fill_(steps[batch_idx])

    class Alternate(harness.BatchTimer):
        """Times our batch, then runs and times theirs at the same schedule step (outside our timing)."""

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            self.step = int(pl_module.batches_done)
            super().on_train_batch_start(trainer, pl_module, batch, batch_idx)

        def timed(self, trainer, pl_module, batch, batch_idx, seconds):
            times["ours"][self.step] = seconds
            real = batch[0]
            start = time.perf_counter()
            theirs.step(real, self.step)
            times["nvlabs"][self.step] = time.perf_counter() - start
            print(f"step {self.step:3d} ({kind(self.step)}): ours {times['ours'][self.step]:.3f} s, nvlabs {times['nvlabs'][self.step]:.3f} s", file=sys.stderr, flush=True)
            if args.profile and self.step == args.profile:
                profiled(lambda: theirs.step(real, self.step), f"NVlabs, step {self.step} ({kind(self.step)})")
                trainer.should_stop = True

    class ProfileOurs(Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            if args.profile and int(pl_module.batches_done) == args.profile:
                self.prof = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU])
                self.prof.__enter__()

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            if getattr(self, "prof", None) is not None:
                self.prof.__exit__(None, None, None)
                print(f"\n=== ours, step {args.profile} ({kind(args.profile)}) ===")
                print(self.prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25))
                self.prof = None

    theirs.cur_nimg = 0
    trainer = Trainer(
        accelerator="cpu", devices=1, max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, limit_val_batches=0, callbacks=[Schedule(), ProfileOurs(), Alternate()], log_every_n_steps=50,
    )  # fmt: skip
    trainer.fit(ours, loader)

    result = {
        "resolution": args.resolution, "batch_size": args.batch_size, "channel_base": args.channel_base, "augment_p": P,
        "compile": args.compile, "winograd": args.winograd, "batches": steps, "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
        "device": f"CPU ({harness.cpu_name()})", "cpu_count": os.cpu_count(),
    }  # fmt: skip
    for name, by_step in times.items():
        best = {k: min((t for s, t in by_step.items() if kind(s) == k), default=None) for k in ("plain", "pl", "r1_pl")}
        entry = {"seconds_by_step": {str(s): round(t, 3) for s, t in sorted(by_step.items())}, "best": best}
        if None not in best.values():
            entry["amortised_best"] = best["plain"] + max(best["pl"] - best["plain"], 0) / PL_INTERVAL + max(best["r1_pl"] - best["pl"], 0) / R1_INTERVAL
        if whole_cycles(steps):
            entry["window_mean"] = statistics.mean(by_step.values())
        result[name] = entry
    if "amortised_best" in result["ours"] and "amortised_best" in result["nvlabs"]:
        result["ours_over_nvlabs_amortised_best"] = round(result["ours"]["amortised_best"] / result["nvlabs"]["amortised_best"], 3)
    if whole_cycles(steps):
        result["ours_over_nvlabs_window_mean"] = round(result["ours"]["window_mean"] / result["nvlabs"]["window_mean"], 3)
    result["load_average_1min_at_end"] = harness.load_average()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clone", type=Path, help="a stylegan2-ada-pytorch checkout")
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--channel-base", type=int, default=32768)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--batches", type=int, default=16, help="schedule steps 1..B, alternating ours and theirs")
    parser.add_argument("--steps", type=int, nargs="+", default=None, help="these schedule steps instead of 1..B")
    parser.add_argument("--compile", action="store_true", help="ours with --model.init_args.compile true")
    parser.add_argument("--winograd", action="store_true", help="ours with --model.init_args.winograd true (F(4x4, 3x3) convolutions)")
    parser.add_argument("--profile", type=int, default=0, help="print a torch.profiler table of both at this step, then stop")
    parser.add_argument("--out", type=Path, default=RESULTS / "compare_nvlabs_speed.json")
    args = parser.parse_args()
    if "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(1)
    result = run(args)
    harness.print_json(result, None if args.profile else args.out)
    if not args.profile:
        print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
