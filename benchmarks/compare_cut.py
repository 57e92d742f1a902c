"""Check one StyleTransfer training iteration against the CUT repository's CUTModel itself.

    python benchmarks/compare_cut.py ~/src/contrastive-unpaired-translation --mode CUT \
        --out benchmarks/results/compare_cut_CUT.json

Imports ``models/cut_model.py`` and ``options/train_options.py`` from the given checkout at run time
(nothing of it is bundled here) and builds their CUTModel on the CPU from their own option parser
(``--CUT_mode CUT`` or ``FastCUT``; CUT's defaults otherwise, but narrow networks: ``--ngf/--ndf/
--netF_nc``, and 32 px). Our StyleTransfer is built with the same settings; its generator, style
network (their netD) and content network (their netF, created by their data_dependent_initialize)
weights are copied into theirs parameter by parameter (same order and shapes). Then one iteration
runs on both sides with the same content / style batch, the same flip decision (FastCUT) and the
same sampled patch ids (ours are recorded and handed to their netF): theirs ``optimize_parameters``,
ours ``training_step`` run by a Lightning Trainer. Reports the losses (D, G adversarial, NCE, NCE
identity, G total) and the max abs difference of the D, G and F gradients (taken just before each
optimizer step) and of the weights after the step; and, option by option, our preset for the mode
(configs/style_transfer.yaml or style_transfer_fast.yaml over StyleTransfer's defaults) next to
CUT's default options for the mode.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import harness
import numpy as np
import torch
from harness import REPO
from lightning.pytorch import Callback, Trainer
from torch.utils.data import DataLoader, TensorDataset

import gan_lightning.training.models.style_transfer as style_transfer_module
from gan_lightning.training.models.style_transfer import StyleTransfer


def cut_options(clone: Path, tmp: Path, mode: str, extra: list[str]):
    """CUT's training options from their own parser: ``--CUT_mode mode`` and ``extra``, CPU."""
    harness.use_cut(clone)
    from options.train_options import TrainOptions  # type: ignore[import-not-found]

    argv = ["train.py", "--dataroot", str(tmp), "--checkpoints_dir", str(tmp / "checkpoints"), "--name", "compare", "--gpu_ids", "-1", "--CUT_mode", mode]
    saved_argv, sys.argv = sys.argv, argv + extra
    try:
        return TrainOptions().parse()
    finally:
        sys.argv = saved_argv


def their_model(clone: Path, mode: str, args, tmp: Path):
    """CUT's CUTModel on the CPU, built from their options; netF's heads exist after this."""
    opt = cut_options(clone, tmp, mode, [
        "--batch_size", str(args.batch), "--ngf", str(args.ngf), "--ndf", str(args.ndf), "--netF_nc", str(args.netF_nc),
        "--crop_size", str(args.resolution), "--load_size", str(args.resolution), "--gan_mode", args.their_gan_mode,
    ])  # fmt: skip
    from models.cut_model import CUTModel  # type: ignore[import-not-found]

    model = CUTModel(opt)
    warmup = {"A": torch.zeros(args.batch, 3, args.resolution, args.resolution), "B": torch.zeros(args.batch, 3, args.resolution, args.resolution), "A_paths": [""], "B_paths": [""]}
    model.data_dependent_initialize(warmup)  # builds netF's MLPs and optimizer_F, as their train.py does
    return model, opt


def copy_by_order(ours: torch.nn.Module, theirs: torch.nn.Module, where: str) -> list[tuple[torch.nn.Parameter, torch.nn.Parameter]]:
    """Our weights into theirs, parameter by parameter; returns (ours, theirs) pairs."""
    mine, their = list(ours.parameters()), list(theirs.parameters())
    if len(mine) != len(their) or any(p.shape != q.shape for p, q in zip(mine, their)):
        raise SystemExit(f"error: {where}: parameters differ ({[tuple(p.shape) for p in mine]} vs {[tuple(q.shape) for q in their]})")
    with torch.no_grad():
        for p, q in zip(mine, their):
            q.copy_(p)
    return list(zip(mine, their))


def max_diff(pairs, ours: dict, theirs: dict, where: dict | None = None) -> tuple[float, float]:
    """Max abs difference over paired tensors (only where ``where[id]`` is True, if given) and the largest magnitude."""
    worst = scale = 0.0
    for p, q in pairs:
        a, b = ours.get(id(p)), theirs.get(id(q))
        if (a is None) != (b is None):
            return float("inf"), scale
        if a is not None:
            if where is not None:
                a, b = a[where[id(q)]], b[where[id(q)]]
                if a.numel() == 0:
                    continue
            worst, scale = max(worst, (a - b).abs().max().item()), max(scale, b.abs().max().item())
    return worst, scale


def record_steps(optimizers: dict[str, torch.optim.Optimizer], records: dict) -> None:
    """At each optimizer step: gradients before it, weights after it, by parameter id."""
    for name, opt in optimizers.items():
        params = [p for group in opt.param_groups for p in group["params"]]

        def before(optimizer, a, k, name=name, params=params) -> None:
            records[name] = {"grads": {id(p): p.grad.clone() for p in params if p.grad is not None}}

        def after(optimizer, a, k, name=name, params=params) -> None:
            records[name]["weights"] = {id(p): p.detach().clone() for p in params}

        opt.register_step_pre_hook(before)
        opt.register_step_post_hook(after)


PRESETS = {"CUT": "configs/style_transfer.yaml", "FastCUT": "configs/style_transfer_fast.yaml"}


def preset_vs_options(mode: str | None, opt) -> dict:
    """Our preset for the mode (StyleTransfer's defaults + the init_args of the preset file and the
    files it includes; None: the defaults alone) next to CUT's options; groups' fields as "group.field"."""
    import dataclasses
    import inspect

    import yaml

    from gan_lightning.cli.config_files import included_configs

    def flat(options: dict) -> dict:
        return {f"{k}.{field}" if isinstance(v, dict) else k: value for k, v in options.items() for field, value in (v.items() if isinstance(v, dict) else [(None, v)])}

    defaults = {k: v.default for k, v in inspect.signature(StyleTransfer.__init__).parameters.items() if v.default is not inspect.Parameter.empty}
    values = flat({k: dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v for k, v in defaults.items()})
    for path, _ in included_configs(REPO / PRESETS[mode]) if mode is not None else []:
        values.update(flat(((yaml.safe_load(path.read_text()) or {}).get("model") or {}).get("init_args") or {}))
    theirs = {
        "lambda_gan": opt.lambda_GAN, "lambda_nce": opt.lambda_NCE, "nce_identity": opt.nce_idt, "flip_equivariance": opt.flip_equivariance,
        "nce_temperature": opt.nce_T, "gan_loss": {"lsgan": "least_squares", "vanilla": "non_saturating"}.get(opt.gan_mode, opt.gan_mode),
        "betas": [opt.beta1, opt.beta2], "projection_dim": opt.netF_nc, "num_patches": opt.num_patches, "lr": opt.lr,
        "lr_constant_epochs": opt.n_epochs, "lr_decay_epochs": opt.n_epochs_decay, "generator.width": opt.ngf,
        "style_network.width": opt.ndf, "style_network.layers": opt.n_layers_D, "antialias": not opt.no_antialias, "generator.blocks": 9,
        "nce_layers": opt.nce_layers,
    }  # fmt: skip
    ours = {k: (list(values[k]) if isinstance(values[k], tuple) else values[k]) for k in theirs}
    if ours["nce_layers"] is None:
        ours["nce_layers"] = "paper: 0,4,8,12,16 with antialias and 9 blocks (0, both downsampling convs, blocks 1 and 5 otherwise)"
    return {k: {"preset": ours[k], "cut": theirs[k], "equal": ours[k] == theirs[k]} for k in theirs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clone", type=Path, help="a checkout of taesungp/contrastive-unpaired-translation")
    parser.add_argument("--mode", choices=["CUT", "FastCUT"], default="CUT")
    parser.add_argument("--gan-loss", choices=["least_squares", "non_saturating"], default="least_squares", help="ours; theirs: lsgan / vanilla")
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--ngf", type=int, default=8)
    parser.add_argument("--ndf", type=int, default=8)
    parser.add_argument("--netF-nc", type=int, default=32)
    parser.add_argument("--flip", action="store_true", help="FastCUT: the iteration translates flipped inputs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    args.their_gan_mode = {"least_squares": "lsgan", "non_saturating": "vanilla"}[args.gan_loss]
    torch.set_num_threads(1)

    clone = args.clone.expanduser().resolve()
    with tempfile.TemporaryDirectory() as tmp:
        theirs, opt = their_model(clone, args.mode, args, Path(tmp))
        default_opt = cut_options(clone, Path(tmp), args.mode, [])
    # Ours from their options (what the presets must say for each mode); its initial weights go to theirs.
    torch.manual_seed(args.seed + 2)
    ours = StyleTransfer(
        resolution=args.resolution, channels=3, generator=dict(width=opt.ngf, blocks=9), style_network=dict(width=opt.ndf, layers=opt.n_layers_D),
        antialias=not opt.no_antialias, gan_loss=args.gan_loss, lambda_gan=opt.lambda_GAN, lambda_nce=opt.lambda_NCE,
        nce_identity=opt.nce_idt, flip_equivariance=opt.flip_equivariance, nce_layers=[int(i) for i in opt.nce_layers.split(",")],
        num_patches=opt.num_patches, nce_temperature=opt.nce_T, projection_dim=opt.netF_nc, lr=opt.lr, betas=(opt.beta1, opt.beta2),
        lr_constant_epochs=opt.n_epochs, lr_decay_epochs=opt.n_epochs_decay, fid_features="shapes",
    )  # fmt: skip
    pairs = {
        "G": copy_by_order(ours.generator, theirs.netG, "generator / netG"),
        "D": copy_by_order(ours.style_network, theirs.netD, "style network / netD"),
        "F": copy_by_order(ours.content_network, theirs.netF, "content network / netF"),
    }

    torch.manual_seed(args.seed + 1)
    content = torch.rand(args.batch, 3, args.resolution, args.resolution) * 2 - 1
    style = torch.rand(args.batch, 3, args.resolution, args.resolution) * 2 - 1

    # Ours: record the patch ids it samples, its losses, and each optimizer step.
    sampled: list[list[torch.Tensor]] = []
    sample = style_transfer_module.sample_patch_ids

    def recording_sampler(features, num_patches, generator=None):
        ids = sample(features, num_patches, generator)
        sampled.append([i.clone() for i in ids])
        return ids

    style_transfer_module.sample_patch_ids = recording_sampler
    losses: dict[str, float] = {}
    log_dict = ours.log_dict
    ours.log_dict = lambda values, **kw: (losses.update({k: float(v) for k, v in values.items()}), log_dict(values, **kw))[1]
    our_records: dict = {}

    class Seeded(Callback):
        def on_train_start(self, trainer, module) -> None:
            opt_g, opt_s, opt_c = trainer.optimizers
            record_steps({"G": opt_g, "D": opt_s, "F": opt_c}, our_records)

        def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
            torch.manual_seed(args.seed)

    torch.manual_seed(args.seed)
    our_flip = bool(torch.rand(()) < 0.5)  # the draw our step makes first with this seed
    if args.mode == "FastCUT" and our_flip != args.flip:
        raise SystemExit(f"error: seed {args.seed} gives flip={our_flip}; pick another seed for --flip={args.flip}")
    trainer = Trainer(
        accelerator="cpu", max_epochs=1, limit_train_batches=1, limit_val_batches=0, num_sanity_val_steps=0, log_every_n_steps=1,
        logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False, callbacks=[Seeded()],
    )  # fmt: skip
    trainer.fit(ours, DataLoader(TensorDataset(content, style), batch_size=args.batch))

    # Theirs: the same flip and patch ids.
    their_records: dict = {}
    record_steps({"G": theirs.optimizer_G, "D": theirs.optimizer_D, "F": theirs.optimizer_F}, their_records)
    np.random.random = lambda: 0.0 if our_flip else 1.0
    queue = list(sampled)
    their_f = theirs.netF.forward
    theirs.netF.forward = lambda feats, num_patches=64, patch_ids=None: their_f(feats, num_patches, queue.pop(0) if patch_ids is None else patch_ids)
    theirs.set_input({"A": content, "B": style, "A_paths": [""], "B_paths": [""]})
    theirs.optimize_parameters()
    if queue:
        raise SystemExit(f"error: their step used {len(sampled) - len(queue)} patch id sets, ours {len(sampled)}")

    their_losses = {"D": theirs.loss_D.item(), "G_GAN": float(theirs.loss_G_GAN), "NCE": float(theirs.loss_NCE) / opt.lambda_NCE, "G": theirs.loss_G.item()}
    our_losses = {"D": losses["train/style_loss"], "G_GAN": losses["train/g_adversarial"] * opt.lambda_GAN, "NCE": losses["train/nce"], "G": losses["train/g_loss"]}
    if opt.nce_idt:
        their_losses["NCE_Y"] = float(theirs.loss_NCE_Y) / opt.lambda_NCE
        our_losses["NCE_Y"] = losses["train/nce_identity"]
    results: dict = {
        "mode": args.mode, "their_gan_mode": args.their_gan_mode, "our_gan_loss": args.gan_loss, "resolution": args.resolution,
        "batch": args.batch, "flipped": our_flip if args.mode == "FastCUT" else None, "seed": args.seed,
        "their_options": {k: getattr(opt, k) for k in ("lambda_GAN", "lambda_NCE", "nce_idt", "nce_layers", "num_patches", "netF_nc", "nce_T", "lr", "beta1", "beta2", "flip_equivariance", "n_epochs", "n_epochs_decay", "no_antialias", "no_antialias_up", "n_layers_D")},
        "losses": {k: {"ours": our_losses[k], "theirs": v, "abs_diff": abs(our_losses[k] - v)} for k, v in their_losses.items()},
        "preset_vs_cut_options": preset_vs_options(args.mode, default_opt),
        "model_defaults_vs_cut_options": preset_vs_options(None, default_opt),
        "networks": {},
    }  # fmt: skip
    for name in ("D", "G", "F"):
        grad_diff, grad_scale = max_diff(pairs[name], our_records[name]["grads"], their_records[name]["grads"])
        weight_diff, _ = max_diff(pairs[name], our_records[name]["weights"], their_records[name]["weights"])
        # Adam's first step is lr * g / (|g| + 1e-8): a gradient at rounding level moves a weight by up to
        # +-lr either way (e.g. the biases of convs followed by instance norm: their exact gradient is 0,
        # both codes get rounding noise), so also report the weights whose gradient is clear of the
        # measured gradient difference (10x)
        clear = {key: grad.abs() > 10 * grad_diff for key, grad in their_records[name]["grads"].items()}
        clear_diff, _ = max_diff(pairs[name], our_records[name]["weights"], their_records[name]["weights"], clear)
        results["networks"][name] = {"grad_max_abs_diff": grad_diff, "grad_abs_max": grad_scale, "weights_after_step_max_abs_diff": weight_diff,
                                     "weights_after_step_max_abs_diff_where_grad_clear": clear_diff, "lr": opt.lr}  # fmt: skip
    harness.print_json(results, args.out)
    bad = [f"loss {k}" for k, v in results["losses"].items() if v["abs_diff"] > 1e-5 * max(1.0, abs(v["theirs"]))]
    bad += [f"{k} gradients" for k, v in results["networks"].items() if v["grad_max_abs_diff"] > 1e-4 * max(v["grad_abs_max"], 1e-3)]
    bad += [f"{k} weights" for k, v in results["networks"].items() if v["weights_after_step_max_abs_diff_where_grad_clear"] > 1e-6]
    bad += [f"{k} weights (tiny gradients)" for k, v in results["networks"].items() if v["weights_after_step_max_abs_diff"] > 2 * v["lr"]]
    if bad:
        raise SystemExit("FAIL: " + "; ".join(bad))
    print("OK: losses and gradients of G, D and F equal to float tolerance")


if __name__ == "__main__":
    main()
