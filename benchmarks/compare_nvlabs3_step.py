"""Check one StyleGAN3 training iteration (configs T and R) against NVlabs' stylegan3 code itself, and
record it in benchmarks/results.

    python benchmarks/compare_nvlabs3_step.py ~/src/stylegan3 --config t --out benchmarks/results/compare_nvlabs3_step_t32.json
    python benchmarks/compare_nvlabs3_step.py ~/src/stylegan3 --config r --out benchmarks/results/compare_nvlabs3_step_r32.json

The step: their G (``networks_stylegan3``, train.py's G_kwargs for the config and batch) and D
(``networks_stylegan2``) with perturbed weights (``compare_nvlabs3.their_networks``), converted to our
StyleGAN through a snapshot pickle and our restricted reader; then one iteration on both sides from
the same torch seed and the same real images:

- theirs: ``training/loss.py`` StyleGAN2Loss with train.py's stylegan3 settings (pl_weight 0, style
  mixing 0, config R's blur of D's input: sigma 10 fading out over batch * 200 / 32 kimg), driven by
  the per-iteration lines of their ``training_loop.py`` (``compare_nvlabs_step.their_iteration``): G
  has no lazy phase (G_reg_interval None: one Gboth phase, Adam unscaled), D lazy R1 every 16 (Adam
  scaled by 16/17), lr 0.0025 (G) and 0.002 (D, their --dlr default), betas (0, 0.99); latents for
  the three phases drawn in one call; then G_ema with their ramp-up and G's buffers copied;
- ours: ``StyleGAN.training_step`` run by a Lightning Trainer for one batch.

Reports the losses, every phase's gradients and the weights after each Adam step, and after the
iteration the magnitude EMAs (moved by G's forward pass in Dmain), w_avg and G_ema, each beside the
same figure between their step and their step with their weights scaled by 1 -+ 2**-19 (the float
floor, as ``compare_nvlabs_step.py`` explains). Their CUDA ops are not built (reference PyTorch
paths); fp16 layers run in fp32 on the CPU on both sides; augmentation off on both sides.
"""

from __future__ import annotations

import argparse
import functools
from pathlib import Path

import harness
import torch
from compare_nvlabs3 import import_nvlabs3, read_as_snapshot, their_networks
from compare_nvlabs_step import PhaseRecorder, nudged_copies, pair_parameters, phase_failures, phase_figures, their_iteration
from lightning.pytorch import Trainer
from torch.utils.data import DataLoader, TensorDataset

from gan_lightning.checkpoints.formats.nvlabs import convert_nvlabs
from gan_lightning.training.models.stylegan import StyleGAN

# our phase -> their phase (no lazy G: their Gboth, which is Gmain when pl_weight is 0)
PHASES = {"Gmain": "Gboth", "Dmain": "Dmain", "Dreg": "Dreg"}
# their training_stats names -> ours (self.log keys) for the losses compared
LOSSES = {"Loss/G/loss": "train/g_loss", "Loss/D/loss": "train/d_loss", "Loss/r1_penalty": "train/r1_penalty"}


def their_settings(config: str, batch: int, r1_gamma: float) -> dict:
    """train.py's values for --cfg=stylegan3-CONFIG at this batch (defaults of --glr/--dlr; training
    loop defaults for what train.py leaves: D_reg_interval 16, ema_rampup 0.05)."""
    settings = dict(
        G_lr=0.0025, D_lr=0.002, betas=(0.0, 0.99), G_reg_interval=None, D_reg_interval=16,
        ema_kimg=batch * 10 / 32, ema_rampup=0.05, r1_gamma=r1_gamma, blur_init_sigma=0.0, blur_fade_kimg=0.0,
    )  # fmt: skip
    if config == "r":
        settings.update(blur_init_sigma=10.0, blur_fade_kimg=batch * 200 / 32)
    return settings


def recorded_losses() -> dict[str, list[float]]:
    """From now on, the means of the loss values their StyleGAN2Loss reports (training_stats.report)
    go into the returned dict, by name, in order (until the next call)."""
    import training.loss as their_loss_file  # type: ignore[import-not-found]

    stats = their_loss_file.training_stats
    if not hasattr(stats, "sink"):
        report = stats.report

        def record(name, value):
            if name in LOSSES:
                stats.sink.setdefault(name, []).append(value.detach().float().mean().item())
            return report(name, value)

        stats.report = record
    stats.sink = {}
    return stats.sink


def magnitude_emas(module: torch.nn.Module) -> list[torch.Tensor]:
    """The synthesis layers' magnitude EMA buffers in layer order (both sides register them so)."""
    return [b for name, b in module.named_buffers() if name.endswith("magnitude_ema")]


def step(clone: Path, args) -> dict:
    import_nvlabs3(clone)
    from training.loss import StyleGAN2Loss  # type: ignore[import-not-found]

    settings = their_settings(args.config, args.batch, args.r1_gamma)
    G, D, G_ema, _ = their_networks(
        clone, args.config, args.resolution, z_dim=args.z_dim, channel_base=args.channel_base, channel_max=args.channel_max,
        num_layers=args.num_layers, batch=args.batch, mbstd_group=4, seed=args.seed,
    )  # fmt: skip
    _, read = read_as_snapshot(G, D, G_ema, args.resolution)
    converted = convert_nvlabs(read)

    def their_loss(g, d):
        return StyleGAN2Loss(
            device=torch.device("cpu"), G=g, D=d, augment_pipe=None, r1_gamma=settings["r1_gamma"], style_mixing_prob=0, pl_weight=0,
            blur_init_sigma=settings["blur_init_sigma"], blur_fade_kimg=settings["blur_fade_kimg"],
        )  # fmt: skip

    hp = converted["hyper_parameters"]
    model = StyleGAN(
        resolution=hp["resolution"], channels=hp["channels"], stylegan3=hp["stylegan3"], discriminator=hp["discriminator"],
        lr=settings["G_lr"], d_lr=settings["D_lr"], betas=settings["betas"], r1_gamma=settings["r1_gamma"],
        r1_interval=settings["D_reg_interval"], pl_weight=0.0, style_mixing_prob=0.0, ema_kimg=settings["ema_kimg"],
        ema_rampup=settings["ema_rampup"], blur_init_sigma=settings["blur_init_sigma"], blur_fade_kimg=settings["blur_fade_kimg"] or 200.0,
        ada=False, augment_p=0.0, num_fixed_samples=1, fid_features="shapes",
    )  # fmt: skip
    state = converted["state_dict"]
    for prefix in ("generator", "generator_ema", "discriminator"):
        getattr(model, prefix).load_state_dict({k[len(prefix) + 1 :]: v for k, v in state.items() if k.startswith(prefix + ".")})
    cur_nimg = int(args.cur_kimg * 1000)
    model.images_seen.fill_(cur_nimg)
    pairs = {"G": pair_parameters(model.generator, G), "D": pair_parameters(model.discriminator, D)}
    ema_pairs = pair_parameters(model.generator_ema, G_ema)
    magnitudes_before = [b.clone() for b in magnitude_emas(G)]

    torch.manual_seed(args.seed + 3)
    real = torch.rand(args.batch, 3, args.resolution, args.resolution) * 2 - 1
    runs = []  # their (G, D, G_ema, records, losses): nudged twice, then as is
    for factor in (1 + 2.0**-19, 1 - 2.0**-19, None):
        g, d, g_ema = (G, D, G_ema) if factor is None else nudged_copies((G, D, G_ema), factor)
        loss = their_loss(g, d)
        losses = recorded_losses()
        accumulate = functools.partial(loss.accumulate_gradients, cur_nimg=cur_nimg)
        runs.append((g, d, g_ema, their_iteration(g, d, g_ema, accumulate, real, settings, args.seed, cur_nimg), losses))
    *nudged, (_, _, _, theirs, their_losses) = runs

    recorder = PhaseRecorder(args.seed)
    trainer = Trainer(
        accelerator="cpu", max_epochs=1, limit_train_batches=1, limit_val_batches=0, num_sanity_val_steps=0,
        logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False, callbacks=[recorder],
    )  # fmt: skip
    trainer.fit(model, DataLoader(TensorDataset(real, torch.zeros(args.batch, dtype=torch.long)), batch_size=args.batch))

    results: dict = {
        "config": args.config, "resolution": args.resolution, "batch": args.batch, "seed": args.seed, "cur_kimg": args.cur_kimg,
        "settings": settings, "generator": hp["stylegan3"], "augmentation": "off on both sides",
        "blur_sigma": max(1 - cur_nimg / (settings["blur_fade_kimg"] * 1e3), 0) * settings["blur_init_sigma"] if settings["blur_fade_kimg"] else 0.0,
    }  # fmt: skip
    results["phases"] = phase_figures(PHASES, pairs, recorder.records, theirs, [(g, d, rec) for g, d, _, rec, _ in nudged], G, D)

    def figure_and_floor(name: str, figure) -> None:
        """figure(their G, their G_ema, their losses) -> difference to ours; floor: to their own, nudged."""
        results[name] = figure(G, G_ema, their_losses, model.generator, model.generator_ema, ours_losses)
        results[f"theirs_vs_theirs_nudged_{name}"] = max(figure(G, G_ema, their_losses, g, g_ema, nudged_losses) for g, _, g_ema, _, nudged_losses in nudged)

    ours_losses = {theirs_name: [trainer.callback_metrics[ours_name].item()] for theirs_name, ours_name in LOSSES.items()}
    # Dmain reports Loss/D/loss once; r1_penalty comes from Dreg; G's loss from Gboth.
    results["losses"] = {name: {"theirs": values, "ours": ours_losses[name]} for name, values in their_losses.items()}
    for name in LOSSES:
        figure_and_floor(f"loss_abs_diff {name}", lambda _g, _e, theirs_l, _og, _oe, ours_l, name=name: abs(theirs_l[name][-1] - ours_l[name][-1]))
    figure_and_floor(
        "magnitude_ema_max_abs_diff",
        lambda g, _e, _tl, og, _oe, _ol: max((a - b).abs().item() for a, b in zip(magnitude_emas(g), magnitude_emas(og), strict=True)),
    )
    figure_and_floor("w_avg_max_abs_diff", lambda g, _e, _tl, og, _oe, _ol: (g.mapping.w_avg - og.mapping.w_avg).abs().max().item())

    def ema_diff(parameter_pairs, ema, other_ema) -> float:
        """Max abs difference of G_ema's weights (given pairs) and magnitude EMAs (in layer order)."""
        weights = max((p - q).abs().max().item() for p, q in parameter_pairs)
        return max(weights, max((a - b).abs().item() for a, b in zip(magnitude_emas(ema), magnitude_emas(other_ema), strict=True)))

    # ours paired with theirs by value before the step; their nudged copies by order
    results["G_ema_max_abs_diff"] = ema_diff([(p, q) for _, p, q in ema_pairs], G_ema, model.generator_ema)
    results["theirs_vs_theirs_nudged_G_ema_max_abs_diff"] = max(
        ema_diff(zip(G_ema.parameters(), g_ema.parameters(), strict=True), G_ema, g_ema) for _, _, g_ema, _, _ in nudged
    )
    results["magnitude_ema_moved_by_the_step"] = max((a - b).abs().item() for a, b in zip(magnitude_emas(G), magnitudes_before))
    results["ema_beta"] = model.ema_beta(args.batch)
    return results


def failures(results: dict) -> list[str]:
    """The step's figures beyond 10x their own nudged floor or float precision."""
    bad = phase_failures(results["phases"])
    for name in [k for k in results if k.startswith(("loss_abs_diff", "magnitude_ema_max", "w_avg_max", "G_ema_max"))]:
        if results[name] > max(10 * results[f"theirs_vs_theirs_nudged_{name}"], 1e-6):
            bad.append(name)
    return bad


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clone", type=Path, help="a checkout of NVlabs/stylegan3 outside this repository")
    parser.add_argument("--config", choices=("t", "r"), default="t")
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--channel-base", type=int, default=1024, help="config T's; R doubles it, as their train.py does")
    parser.add_argument("--channel-max", type=int, default=32)
    parser.add_argument("--z-dim", type=int, default=32)
    parser.add_argument("--num-layers", type=int, default=14)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--r1-gamma", type=float, default=1.0)
    parser.add_argument("--cur-kimg", type=float, default=1.0, help="images seen before the iteration (EMA ramp-up, R's blur fade)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="optional JSON file for the figures")
    args = parser.parse_args()
    torch.set_num_threads(1)
    clone = args.clone.expanduser().resolve()
    results = {"machine": harness.cpu_name(), "command": harness.command_line(), **step(clone, args)}
    harness.print_json(results, args.out)
    bad = failures(results)
    if bad:
        raise SystemExit("FAIL: " + "; ".join(bad))
    print("OK: losses, gradients, weights, magnitude EMAs, w_avg and G_ema equal to float tolerance")


if __name__ == "__main__":
    main()
