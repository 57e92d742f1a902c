"""Check one StyleGAN training iteration against NVlabs' stylegan2-ada-pytorch code itself.

    python benchmarks/compare_nvlabs_step.py ~/src/stylegan2-ada-pytorch --resolution 32 \
        --out benchmarks/results/compare_nvlabs_step_32.json

Builds NVlabs' G and D (``training/networks.py`` from the given checkout, imported at run time,
nothing of it bundled here) with perturbed weights, converts them to our StyleGAN with
``formats/nvlabs.py`` (as ``compare_nvlabs.py`` does), then runs one iteration on both sides from
the same torch seed and the same real images:

- theirs: ``training/loss.py`` StyleGAN2Loss driven by the phase logic of their
  ``training/training_loop.py`` (that function itself needs CUDA and a dataset, so its per-iteration
  lines are restated here: one Adam per network with lr * c and betas ** c, c = interval /
  (interval + 1); phases Gmain, Greg (interval pl_interval), Dmain, Dreg (interval r1_interval),
  each zero_grad / accumulate_gradients(gain=interval) / nan_to_num / step; then G_ema with their
  ramp-up; latents for all phases drawn in one call before the phases);
- ours: ``StyleGAN.training_step`` run by a Lightning Trainer for one batch, the torch seed set at
  the start of the batch.

Reports the max abs difference of every phase's gradients (taken just before each optimizer step),
of the weights after each step, of pl_mean, w_avg and G_ema after the iteration, next to the same
figures for their own step run again with their weights scaled by 1 + 2**-19 and 1 - 2**-19 (the float
floor: a leaky-ReLU input near 0 that changes side under rounding changes a gradient visibly, and
Adam's first step lr * g / (|g| + 1e-8) magnifies tiny gradients). Passes when every figure is
within 10x of that floor or of float precision. Augmentation is
off on both sides (p = 0; their ``augment_pipe=None``): the augmentation is compared on its own.
Their custom CUDA ops are not built (reference PyTorch paths run); fp16 blocks run in fp32 as ours
do on the CPU; single process (their rounds = 1, batch_gpu = batch).
"""

from __future__ import annotations

import argparse
import copy
import functools
import tempfile
from pathlib import Path

import harness
import torch
from compare_nvlabs import import_nvlabs, snapshot_arguments, write_snapshot
from lightning.pytorch import Callback, Trainer
from torch.utils.data import DataLoader, TensorDataset

from gan_lightning.checkpoints.formats.nvlabs import convert_nvlabs, load_nvlabs_pickle
from gan_lightning.training.models.stylegan import StyleGAN

PHASES = ("Gmain", "Greg", "Dmain", "Dreg")


def their_iteration(G, D, G_ema, accumulate, real, settings: dict, seed: int, cur_nimg: int) -> dict:
    """One iteration of NVlabs' training loop (single process), recording grads and weights per phase.

    ``accumulate(phase, real_img, real_c, gen_z, gen_c, gain)`` is their loss's accumulate_gradients;
    ``settings`` holds G_lr, D_lr, betas, G_reg_interval, D_reg_interval (None: no lazy phase, one
    "both" phase with unscaled settings, as their loop), ema_kimg, ema_rampup."""
    records: dict = {}
    phases = []
    for name, module in (("G", G), ("D", D)):
        interval, lr, betas = settings[name + "_reg_interval"], settings[name + "_lr"], settings["betas"]
        if interval is None:
            opt = torch.optim.Adam(module.parameters(), lr=lr, betas=betas, eps=1e-8)
            phases += [(name + "both", module, opt, 1)]
            continue
        ratio = interval / (interval + 1)
        opt = torch.optim.Adam(module.parameters(), lr=lr * ratio, betas=[b**ratio for b in betas], eps=1e-8)
        phases += [(name + "main", module, opt, 1), (name + "reg", module, opt, interval)]
    batch = real.shape[0]
    torch.manual_seed(seed)
    all_gen_z = torch.randn([len(phases) * batch, G.z_dim]).split(batch)
    real_c = gen_c = torch.zeros([batch, 0])
    batch_idx = 0
    for (name, module, opt, interval), gen_z in zip(phases, all_gen_z):
        if batch_idx % interval != 0:
            continue
        opt.zero_grad(set_to_none=True)
        module.requires_grad_(True)
        accumulate(phase=name, real_img=real, real_c=real_c, gen_z=gen_z, gen_c=gen_c, gain=interval)
        module.requires_grad_(False)
        for param in module.parameters():
            if param.grad is not None:
                torch.nan_to_num(param.grad, nan=0, posinf=1e5, neginf=-1e5, out=param.grad)
        records[name] = {"grads": {id(p): p.grad.clone() for p in module.parameters() if p.grad is not None}}
        opt.step()
        records[name]["weights"] = {id(p): p.detach().clone() for p in module.parameters()}
    ema_nimg = settings["ema_kimg"] * 1000
    if settings["ema_rampup"] is not None:
        ema_nimg = min(ema_nimg, cur_nimg * settings["ema_rampup"])
    ema_beta = 0.5 ** (batch / max(ema_nimg, 1e-8))
    with torch.no_grad():
        for p_ema, p in zip(G_ema.parameters(), G.parameters()):
            p_ema.copy_(p.lerp(p_ema, ema_beta))
        for b_ema, b in zip(G_ema.buffers(), G.buffers()):
            b_ema.copy_(b)
    return records


def nudged_copies(modules, factor: float) -> list[torch.nn.Module]:
    """Deep copies of their networks with every weight scaled by ``factor`` (1 -+ 2**-19, about 2e-6,
    the relative size of the float difference between their forward pass and ours): run through their
    step, they show how far it moves under float-level changes alone (a leaky ReLU input near 0
    changes side)."""
    copies = [copy.deepcopy(m) for m in modules]
    with torch.no_grad():
        for m in copies:
            for q in m.parameters():
                q.mul_(factor)
    return copies


def phase_figures(phase_names: dict[str, str], pairs: dict, ours: dict, theirs: dict, nudged: list, G, D) -> dict:
    """Per phase (our name -> their record's name): max abs and relative L2 difference of gradients
    and of the weights after the step, each beside the same figure between their step and their
    nudged steps (``nudged``: (their nudged G, D, records) per nudge, the larger figure kept)."""

    def floor(figure) -> float:
        values = []
        for g2, d2, records in nudged:
            same = {id(a): b for m, m2 in ((G, g2), (D, d2)) for a, b in zip(m.parameters(), m2.parameters())}
            self_pairs = {side: [(name, same[id(q)], q) for name, _, q in pairs[side]] for side in pairs}
            values.append(figure(self_pairs, records))
        return max(values)

    figures: dict = {}
    for phase, their_phase in phase_names.items():
        if their_phase not in theirs or phase not in ours:
            raise SystemExit(f"FAIL: phase {phase} ran on {'neither side' if their_phase not in theirs else 'their side only'}")
        side, mine, ref = pairs[phase[0]], ours[phase], theirs[their_phase]
        grad_diff, grad_scale, missing = max_diff(side, mine["grads"], ref["grads"])
        figures[phase] = {
            "grad_max_abs_diff": grad_diff,
            "grad_abs_max": grad_scale,
            "grads_missing_on_one_side": missing,
            "grad_relative_l2_diff": relative_l2(side, mine["grads"], ref["grads"]),
            "theirs_vs_theirs_nudged_grad_relative_l2_diff": floor(lambda sp, rec: relative_l2(sp[phase[0]], rec[their_phase]["grads"], ref["grads"])),
            "weights_after_step_max_abs_diff": max_diff(side, mine["weights"], ref["weights"])[0],
            "theirs_vs_theirs_nudged_grad_max_abs_diff": floor(lambda sp, rec: max_diff(sp[phase[0]], rec[their_phase]["grads"], ref["grads"])[0]),
            "theirs_vs_theirs_nudged_weights_max_abs_diff": floor(lambda sp, rec: max_diff(sp[phase[0]], rec[their_phase]["weights"], ref["weights"])[0]),
        }  # fmt: skip
    return figures


def phase_failures(figures: dict) -> list[str]:
    """Equal: each figure within 10x of how far their own step moves when their weights are nudged by
    2e-6, or within float precision (1e-5 relative for gradients, 1e-6 for weights)."""
    bad = [
        f"{phase} {kind}"
        for phase, v in figures.items()
        for kind, ours, floor in (
            ("gradients", v["grad_max_abs_diff"], max(10 * v["theirs_vs_theirs_nudged_grad_max_abs_diff"], 1e-5 * v["grad_abs_max"])),
            ("weights", v["weights_after_step_max_abs_diff"], max(10 * v["theirs_vs_theirs_nudged_weights_max_abs_diff"], 1e-6)),
            ("gradients (relative L2)", v["grad_relative_l2_diff"], max(10 * v["theirs_vs_theirs_nudged_grad_relative_l2_diff"], 1e-5)),
        )
        if ours > floor
    ]
    return bad + [f"{phase} gradients present on one side only" for phase, v in figures.items() if v["grads_missing_on_one_side"]]


class PhaseRecorder(Callback):
    """Seeds the batch and records each optimizer step's gradients (before) and weights (after)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.records: dict = {}

    def on_train_start(self, trainer, module) -> None:
        opt_g, opt_d = trainer.optimizers
        for opt, names in ((opt_g, ["Gmain", "Greg"]), (opt_d, ["Dmain", "Dreg"])):
            params = [p for group in opt.param_groups for p in group["params"]]
            queue = list(names)

            def before(optimizer, args, kwargs, params=params, queue=queue) -> None:
                self.records[queue[0]] = {"grads": {id(p): p.grad.clone() for p in params if p.grad is not None}}

            def after(optimizer, args, kwargs, params=params, queue=queue) -> None:
                self.records[queue.pop(0)]["weights"] = {id(p): p.detach().clone() for p in params}

            opt.register_step_pre_hook(before)
            opt.register_step_post_hook(after)

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        torch.manual_seed(self.seed)


def pair_parameters(ours: torch.nn.Module, theirs: torch.nn.Module) -> list[tuple[str, torch.nn.Parameter, torch.nn.Parameter]]:
    """(our name, our parameter, their parameter), paired by equal values (converted weights are copies)."""
    their_params = list(theirs.parameters())
    pairs = []
    for name, p in ours.named_parameters():
        matches = [q for q in their_params if q.shape == p.shape and torch.equal(q.detach(), p.detach())]
        if len(matches) != 1:
            raise SystemExit(f"cannot pair our parameter {name}: {len(matches)} candidates")
        pairs.append((name, p, matches[0]))
    return pairs


def max_diff(pairs, ours: dict, theirs: dict, where: dict | None = None) -> tuple[float, float, int]:
    """Max abs difference over paired tensors (only where ``where[id]`` is True, if given), the largest
    magnitude, and how many tensors are missing on one side."""
    worst, scale, missing = 0.0, 0.0, 0
    for _, p, q in pairs:
        a, b = ours.get(id(p)), theirs.get(id(q))
        if a is None or b is None:
            missing += int((a is None) != (b is None))
            continue
        if where is not None:
            a, b = a[where[id(q)]], b[where[id(q)]]
            if a.numel() == 0:
                continue
        worst = max(worst, (a - b).abs().max().item())
        scale = max(scale, b.abs().max().item())
    return worst, scale, missing


def relative_l2(pairs, ours: dict, theirs: dict) -> float:
    """||ours - theirs|| / ||theirs|| over all paired tensors together: a dense difference (a wrong
    formula) shows here, a few elements changed by rounding (a leaky ReLU input at 0) barely do."""
    diff = scale = 0.0
    for _, p, q in pairs:
        a, b = ours.get(id(p)), theirs.get(id(q))
        if a is not None and b is not None:
            diff += (a - b).double().square().sum().item()
            scale += b.double().square().sum().item()
    return (diff / max(scale, 1e-30)) ** 0.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    snapshot_arguments(parser, resolution=32, channel_base=1024, channel_max=32, z_dim=32, mapping_layers=2)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--r1-gamma", type=float, default=1.0)
    parser.add_argument("--style-mixing-prob", type=float, default=0.9)
    parser.add_argument("--cur-kimg", type=float, default=1.0, help="images seen before the iteration (EMA ramp-up)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="optional JSON file for the figures")
    args = parser.parse_args()
    torch.set_num_threads(1)

    dnnlib, networks, augment = import_nvlabs(args.clone.expanduser().resolve())
    from training.loss import StyleGAN2Loss  # type: ignore[import-not-found]

    args.c_dim, args.d_architecture = 0, "resnet"
    with tempfile.TemporaryDirectory() as tmp:
        pkl = Path(tmp) / "network-snapshot-000000.pkl"
        snapshot = write_snapshot(pkl, args, dnnlib, networks, augment)
        converted = convert_nvlabs(load_nvlabs_pickle(pkl))
    G, D, G_ema = (snapshot[k] for k in ("G", "D", "G_ema"))
    for module in (G, D, G_ema):
        for layer in module.modules():
            if hasattr(layer, "use_fp16"):
                layer.use_fp16 = False  # fp32 on the CPU, as ours
    G.train().requires_grad_(False)
    D.train().requires_grad_(False)
    settings = dict(G_lr=0.0025, D_lr=0.0025, betas=(0.0, 0.99), G_reg_interval=4, D_reg_interval=16, ema_kimg=10.0, ema_rampup=0.05)
    pl_mean_start = 0.3  # a running mean already away from 0, so its decay is exercised

    def their_loss(g, d):
        loss = StyleGAN2Loss(
            device=torch.device("cpu"), G_mapping=g.mapping, G_synthesis=g.synthesis, D=d, augment_pipe=None,
            style_mixing_prob=args.style_mixing_prob, r1_gamma=args.r1_gamma, pl_batch_shrink=2, pl_decay=0.01, pl_weight=2.0,
        )  # fmt: skip
        loss.pl_mean.fill_(pl_mean_start)
        return loss

    loss = their_loss(G, D)
    hp = converted["hyper_parameters"]
    model = StyleGAN(
        resolution=hp["resolution"], channels=hp["channels"], generator=hp["generator"], discriminator=hp["discriminator"],
        lr=settings["G_lr"], betas=settings["betas"], r1_gamma=args.r1_gamma, r1_interval=settings["D_reg_interval"],
        pl_weight=2.0, pl_interval=settings["G_reg_interval"], pl_decay=0.01, pl_batch_shrink=2,
        style_mixing_prob=args.style_mixing_prob, ema_kimg=settings["ema_kimg"], ema_rampup=settings["ema_rampup"],
        ada=False, augment_p=0.0, num_fixed_samples=1, fid_features="shapes",
    )  # fmt: skip
    state = converted["state_dict"]
    for prefix in ("generator", "generator_ema", "discriminator"):
        getattr(model, prefix).load_state_dict({k[len(prefix) + 1 :]: v for k, v in state.items() if k.startswith(prefix + ".")})
    model.pl_mean.fill_(pl_mean_start)
    cur_nimg = int(args.cur_kimg * 1000)
    model.images_seen.fill_(cur_nimg)
    pairs = {"G": pair_parameters(model.generator, G), "D": pair_parameters(model.discriminator, D)}
    ema_pairs = pair_parameters(model.generator_ema, G_ema)

    torch.manual_seed(args.seed + 3)
    real = torch.rand(args.batch, 3, args.resolution, args.resolution) * 2 - 1
    nudged = []  # (their networks scaled, their loss, their records) for both nudges
    for factor in (1 + 2.0**-19, 1 - 2.0**-19):
        g2, d2, g_ema2 = nudged_copies((G, D, G_ema), factor)
        loss2 = their_loss(g2, d2)
        nudged.append(((g2, d2, g_ema2), loss2, their_iteration(g2, d2, g_ema2, functools.partial(loss2.accumulate_gradients, sync=True), real, settings, args.seed, cur_nimg)))
    theirs = their_iteration(G, D, G_ema, functools.partial(loss.accumulate_gradients, sync=True), real, settings, args.seed, cur_nimg)

    recorder = PhaseRecorder(args.seed)
    trainer = Trainer(
        accelerator="cpu", max_epochs=1, limit_train_batches=1, limit_val_batches=0, num_sanity_val_steps=0,
        logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False, callbacks=[recorder],
    )  # fmt: skip
    trainer.fit(model, DataLoader(TensorDataset(real, torch.zeros(args.batch, dtype=torch.long)), batch_size=args.batch))

    results: dict = {"resolution": args.resolution, "batch": args.batch, "seed": args.seed, "style_mixing_prob": args.style_mixing_prob,
                     "r1_gamma": args.r1_gamma, "augmentation": "off on both sides (p=0); compared separately"}  # fmt: skip
    results["phases"] = phase_figures({p: p for p in PHASES}, pairs, recorder.records, theirs, [(g2, d2, rec) for (g2, d2, _), _, rec in nudged], G, D)
    results["pl_mean_abs_diff"] = abs(model.pl_mean.item() - loss.pl_mean.item())
    results["theirs_vs_theirs_nudged_pl_mean_abs_diff"] = max(abs(loss2.pl_mean.item() - loss.pl_mean.item()) for _, loss2, _ in nudged)
    results["theirs_vs_theirs_nudged_G_ema_max_abs_diff"] = max(
        max((p - q).abs().max().item() for p, q in zip(g_ema2.parameters(), G_ema.parameters())) for (_, _, g_ema2), _, _ in nudged
    )
    results["pl_mean"] = loss.pl_mean.item()
    results["w_avg_max_abs_diff"] = (model.generator.mapping.w_avg - G.mapping.w_avg).abs().max().item()
    results["G_ema_max_abs_diff"] = max((p - q).abs().max().item() for _, p, q in ema_pairs)
    results["ema_beta"] = model.ema_beta(args.batch)
    harness.print_json(results, args.out)
    bad = phase_failures(results["phases"])
    bad += [name for name in ("pl_mean_abs_diff", "G_ema_max_abs_diff") if results[name] > max(10 * results[f"theirs_vs_theirs_nudged_{name}"], 1e-6)]
    bad += ["w_avg_max_abs_diff"] if results["w_avg_max_abs_diff"] > 1e-5 else []
    if bad:
        raise SystemExit("FAIL: " + "; ".join(bad))
    print("OK: gradients, weights, pl_mean, w_avg and G_ema equal to float tolerance")


if __name__ == "__main__":
    main()
