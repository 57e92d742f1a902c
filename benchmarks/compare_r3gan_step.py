"""Check one R3GAN training iteration against the official code (brownvc/R3GAN) itself.

    python benchmarks/compare_r3gan_step.py ~/src/R3GAN --out benchmarks/results/compare_r3gan_step.json
    python benchmarks/compare_r3gan_step.py ~/src/R3GAN --counts   # parameter counts of their presets

Imports their ``training/networks.py``, ``training/loss.py`` (``R3GANLoss``) and the schedule function of
``training/training_loop.py`` from the given checkout at run time (nothing of it is bundled here). Their
custom CUDA ops are not built: the plugin loader is stubbed and, on the CPU, their upfirdn2d and
bias_act run their reference PyTorch paths. Builds their G and D (a small conditional configuration,
float32 stages), moves every weight off its initial value (their last layer of each block starts at
zero), copies the weights into our ``R3GAN`` by name, and runs one iteration on both sides from the same
weights, real images, labels and latents, at ``--kimg`` thousand images seen (so the ramps are mid-way):

- theirs: their loop's per-iteration lines restated (their ``training_loop`` needs CUDA and a dataset):
  the five schedules from their ``cosine_decay_with_warmup``, then for the phases D and G in their order
  zero_grad / requires_grad / ``R3GANLoss.accumulate_gradients`` (gain 1, one round) / lr and betas
  set / Adam step; then G_ema with their half-life formula;
- ours: ``R3GAN.training_step`` run by a Lightning Trainer for one batch, the torch seed set at its start.

Both draw the D and G latents as one ``randn(2 * batch, z_dim)``; their loop fetches a second real
batch for the G phase, so their G phase is given the same reals here. Augmentation is off (p ramps
from 0 to 0): it is the ADA pipeline, compared with NVlabs' on its own. Reports, per phase, the loss,
every gradient's relative difference ||ours - theirs|| / ||theirs|| taken just before the optimizer
step, the weights after the step (max abs difference beyond one float32 spacing, over the learning
rate: Adam's first step moves each weight by about lr), and G_ema after the iteration; passes within ``--tolerance``.
"""

from __future__ import annotations

import argparse
import copy
import sys
import types
from pathlib import Path

import harness
import torch
from lightning.pytorch import Callback, Trainer
from torch.utils.data import DataLoader, TensorDataset

from gan_lightning.checkpoints.formats.r3gan import RESAMPLER_KERNEL, our_name
from gan_lightning.training.models.r3gan import R3GAN

# Their train.py presets (per stage from 4x4 up) for --counts: widths, cardinalities, c_dim.
PRESETS = {
    "CIFAR10": ([768] * 4, [96] * 4, 0),
    "CIFAR10 conditional": ([768] * 4, [96] * 4, 10),
    "FFHQ-64": ([768] * 4 + [384], [96] * 4 + [48], 0),
    "FFHQ-256": ([768] * 4 + [384, 192, 96], [96] * 4 + [48, 24, 12], 0),
    "ImageNet-32": ([1536] * 4, [96] * 4, 1000),
    "ImageNet-64": ([1536] * 5, [96] * 5, 1000),
}

ADAM_EPS = 1e-8  # their train.py's

def import_r3gan(clone: Path):
    """Their training.networks, training.loss and the schedule function, with CUDA plugins stubbed."""
    harness.use_checkout(clone, "R3GAN/Networks.py", "brownvc/R3GAN")
    if "pkg_resources" not in sys.modules:  # their conv2d_gradfix asks it for parse_version only
        from packaging.version import parse

        sys.modules["pkg_resources"] = types.SimpleNamespace(parse_version=parse)  # type: ignore[assignment]
    # their training_loop reads memory statistics with psutil, which the schedule function does not use
    sys.modules.setdefault("psutil", types.ModuleType("psutil"))
    from torch_utils import custom_ops  # type: ignore[import-not-found]

    custom_ops.get_plugin = harness._no_extensions
    from training import loss, networks  # type: ignore[import-not-found]
    from training.training_loop import cosine_decay_with_warmup  # type: ignore[import-not-found]

    return networks, loss, cosine_decay_with_warmup


def their_networks(networks, widths: list[int], cardinalities: list[int], blocks: list[int], c_dim: int, z_dim: int):
    resolution = 4 * 2 ** (len(widths) - 1)
    common = dict(ExpansionFactor=2, FP16Stages=[], c_dim=c_dim, img_resolution=resolution)
    G = networks.Generator(NoiseDimension=z_dim, WidthPerStage=widths, CardinalityPerStage=cardinalities, BlocksPerStage=blocks,
                           **common, **(dict(ConditionEmbeddingDimension=z_dim) if c_dim else {}))  # fmt: skip
    D = networks.Discriminator(WidthPerStage=widths[::-1], CardinalityPerStage=cardinalities[::-1], BlocksPerStage=blocks[::-1],
                               **common, **(dict(ConditionEmbeddingDimension=widths[0]) if c_dim else {}))  # fmt: skip
    return G, D


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def perturb(module: torch.nn.Module, scale: float, generator: torch.Generator) -> None:
    """Every parameter moved by scale * N(0, 1) * (|x| mean + 0.01): the zero-started layers too."""
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn(p.shape, generator=generator) * scale * (p.abs().mean() + 0.01))


def load_theirs(ours: torch.nn.Module, theirs: torch.nn.Module) -> None:
    state = {our_name(name): value for name, value in theirs.state_dict().items() if not name.endswith(RESAMPLER_KERNEL)}
    ours.load_state_dict(state, strict=True)


def their_iteration(G, D, G_ema, loss_module, real, c, z, schedules: dict, cur_nimg: int) -> dict:
    records: dict = {}
    values = {name: schedules[name](cur_nimg) for name in schedules}
    # their train.py betas [0, 0], as floats (this torch refuses ints); lr and beta2 are set before each step
    opts = {name: torch.optim.Adam(module.parameters(), betas=[0.0, 0.0], eps=1e-8) for name, module in (("D", D), ("G", G))}
    for (name, module), gen_z in zip((("D", D), ("G", G)), z):
        opt = opts[name]
        opt.zero_grad(set_to_none=True)
        module.requires_grad_(True)
        # their R3GANLoss.accumulate_gradients for the phase, its per-sample losses kept (it reports them only)
        if name == "D":
            adversarial, *_ = loss_module.trainer.AccumulateDiscriminatorGradients(gen_z, real, c, values["gamma"], 1)
        else:
            adversarial, _ = loss_module.trainer.AccumulateGeneratorGradients(gen_z, real, c, 1)
        module.requires_grad_(False)
        for group in opt.param_groups:
            group["lr"], group["betas"] = values["lr"], (0, values["beta2"])
        records[name] = {"loss": float(adversarial.mean()), "grads": {n: p.grad.clone() for n, p in module.named_parameters() if p.grad is not None}}
        opt.step()
        records[name]["weights"] = {n: p.detach().clone() for n, p in module.named_parameters()}
    ema_beta = 0.5 ** (real.shape[0] / max(values["ema"], 1e-8))
    with torch.no_grad():
        for p_ema, p in zip(G_ema.parameters(), G.parameters()):
            p_ema.copy_(p.lerp(p_ema, ema_beta))
    records["G_ema"] = {n: p.detach().clone() for n, p in G_ema.named_parameters()}
    records["schedules"] = values
    return records


class StepRecorder(Callback):
    """Seeds the batch and records each optimizer step's gradients (before) and weights (after)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.records: dict = {}

    def on_train_start(self, trainer, module) -> None:
        opt_g, opt_d = trainer.optimizers
        for opt, name, network in ((opt_g, "G", module.generator), (opt_d, "D", module.discriminator)):
            def before(optimizer, args, kwargs, name=name, network=network) -> None:
                self.records[name] = {"grads": {n: p.grad.clone() for n, p in network.named_parameters() if p.grad is not None},
                                      "lr": optimizer.param_groups[0]["lr"], "beta2": optimizer.param_groups[0]["betas"][1]}  # fmt: skip

            def after(optimizer, args, kwargs, name=name, network=network) -> None:
                self.records[name]["weights"] = {n: p.detach().clone() for n, p in network.named_parameters()}

            opt.register_step_pre_hook(before)
            opt.register_step_post_hook(after)

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        torch.manual_seed(self.seed)


def relative(ours: torch.Tensor, theirs: torch.Tensor) -> float:
    return float((ours - theirs).norm() / theirs.norm().clamp_min(1e-30))


def compare(ours: dict, theirs: dict) -> dict:
    """Worst relative gradient difference (and its parameter) and the parameters only one side has."""
    their_names = {our_name(n): n for n in theirs}
    missing = sorted(set(ours) ^ set(their_names))
    worst = max(((relative(ours[n], theirs[their_names[n]]), n) for n in ours if n in their_names), default=(0.0, ""))
    return {"max_relative": worst[0], "worst": worst[1], "unpaired": missing}


def weight_steps(ours: dict, theirs: dict, their_grads: dict, lr: float) -> dict:
    """Weights after the step: max |ours - theirs| / lr beyond one float32 spacing of the weight (the
    rounding of w - step when the steps differ in their last bits), apart for the weights whose
    gradient is within 100 x Adam's eps of 0: its first step moves a weight by lr * g / (|g| + eps),
    which there turns a float-rounding difference of g into a visible one (|d step / d g| up to lr / eps)."""
    their_names = {our_name(n): n for n in theirs}
    regular, near_zero, count = 0.0, 0.0, 0
    for n in ours:
        their_weight = theirs[their_names[n]]
        spacing = torch.nextafter(their_weight.abs(), torch.tensor(float("inf"))) - their_weight.abs()
        difference = ((ours[n] - their_weight).abs() - spacing).clamp_min(0) / lr
        grad = their_grads.get(their_names[n])
        small = torch.zeros_like(difference, dtype=torch.bool) if grad is None else grad.abs() < 100 * ADAM_EPS
        regular = max(regular, float(difference[~small].max()) if (~small).any() else 0.0)
        near_zero = max(near_zero, float(difference[small].max()) if small.any() else 0.0)
        count += int(small.sum())
    return {"max_abs_over_lr": regular, "gradient_near_zero": {"weights": count, "max_abs_over_lr": near_zero}}


def max_abs(ours: dict, theirs: dict) -> float:
    their_names = {our_name(n): n for n in theirs}
    return max(float((ours[n] - theirs[their_names[n]]).abs().max()) for n in ours)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("clone", type=Path, help="a brownvc/R3GAN checkout")
    parser.add_argument("--counts", action="store_true", help="print the parameter counts of their presets' networks and stop")
    parser.add_argument("--widths", type=int, nargs="+", default=[32, 32, 16, 16], help="per stage from 4x4 up (32 px)")
    parser.add_argument("--cardinalities", type=int, nargs="+", default=[8, 8, 4, 4])
    parser.add_argument("--blocks", type=int, nargs="+", default=[1, 2, 1, 2])
    parser.add_argument("--c-dim", type=int, default=10)
    parser.add_argument("--z-dim", type=int, default=16)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--kimg", type=float, default=5000.0, help="images seen before the step (their CIFAR10 ramps span 20000 kimg)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tolerance", type=float, default=1e-5, help="relative gradient / loss tolerance")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    networks, loss, cosine = import_r3gan(args.clone)

    if args.counts:
        counts = {}
        for name, (widths, cardinalities, c_dim) in PRESETS.items():
            G, D = their_networks(networks, widths, cardinalities, [2] * len(widths), c_dim, 64)
            counts[name] = {"G": count(G), "D": count(D)}
        harness.print_json({"command": " ".join(["python", *sys.argv]), "counts": counts}, args.out)
        return

    # Their CIFAR10 preset's ramps, in images; augmentation off.
    ramp_nimg = 2e7
    ramps = {"lr": (2e-4, 5e-5), "gamma": (0.05, 0.005), "beta2": (0.9, 0.99), "ema": (0.0, 5e6)}
    schedules = {name: (lambda n, s=s, e=e: cosine(n, base_value=s, final_value=e, total_nimg=ramp_nimg)) for name, (s, e) in ramps.items()}
    cur_nimg = int(args.kimg * 1000)

    torch.manual_seed(args.seed)
    G, D = their_networks(networks, args.widths, args.cardinalities, args.blocks, args.c_dim, args.z_dim)
    noise = torch.Generator().manual_seed(args.seed + 1)
    perturb(G, 0.5, noise)
    perturb(D, 0.5, noise)
    G_ema = copy.deepcopy(G)
    perturb(G_ema, 0.1, noise)
    resolution = 4 * 2 ** (len(args.widths) - 1)
    real = torch.rand(args.batch, 3, resolution, resolution, generator=noise) * 2 - 1
    labels = torch.randint(args.c_dim, (args.batch,), generator=noise) if args.c_dim else torch.zeros(args.batch, dtype=torch.long)
    c = torch.nn.functional.one_hot(labels, args.c_dim).float() if args.c_dim else torch.zeros(args.batch, 0)

    settings = dict(widths=tuple(args.widths), cardinalities=tuple(args.cardinalities), blocks=tuple(args.blocks), c_dim=args.c_dim)
    model = R3GAN(
        resolution=resolution, generator=dict(**settings, z_dim=args.z_dim, embedding_dim=args.z_dim if args.c_dim else 0),
        discriminator=dict(**settings, embedding_dim=args.widths[0] if args.c_dim else 0),
        lr=dict(start=ramps["lr"][0], end=ramps["lr"][1]), gamma=dict(start=ramps["gamma"][0], end=ramps["gamma"][1]),
        beta2=dict(start=ramps["beta2"][0], end=ramps["beta2"][1]), ema_kimg=dict(start=0.0, end=ramps["ema"][1] / 1000),
        augment_p=dict(start=0.0, end=0.0), ramp_kimg=ramp_nimg / 1000, num_classes=args.c_dim, fid_features="shapes", num_fixed_samples=1,
    )  # fmt: skip
    load_theirs(model.generator, G)
    load_theirs(model.discriminator, D)
    load_theirs(model.generator_ema, G_ema)
    model.images_seen.fill_(cur_nimg)

    # The same outputs from the same weights, before training
    with torch.no_grad():
        z_check = torch.randn(args.batch, args.z_dim, generator=noise)
        c_check = c if args.c_dim else None
        outputs = {
            "G_images_max_abs": float((model.generator(z_check, c_check) - G(z_check, c_check)).abs().max()),
            "G_ema_images_max_abs": float((model.generator_ema(z_check, c_check) - G_ema(z_check, c_check)).abs().max()),
            "D_logits_max_abs": float((model.discriminator(real, c_check) - D(real, c_check)).abs().max()),
            "D_logits_scale": float(D(real, c_check).abs().max()),
        }

    # Their iteration (on copies: ours starts from the same weights)
    G_t, D_t, G_ema_t = copy.deepcopy(G), copy.deepcopy(D), copy.deepcopy(G_ema)
    torch.manual_seed(args.seed + 2)
    z = torch.randn(2 * args.batch, args.z_dim).split(args.batch)
    theirs = their_iteration(G_t, D_t, G_ema_t, loss.R3GANLoss(G_t, D_t), real, c if args.c_dim else None, z, schedules, cur_nimg)

    recorder = StepRecorder(args.seed + 2)
    trainer = Trainer(accelerator="cpu", max_epochs=1, limit_train_batches=1, limit_val_batches=0, num_sanity_val_steps=0, logger=False,
                      enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False, log_every_n_steps=1, callbacks=[recorder])  # fmt: skip
    trainer.fit(model, DataLoader(TensorDataset(real, labels), batch_size=args.batch))
    ours = recorder.records
    metrics = trainer.callback_metrics

    result: dict = {"command": " ".join(["python", *sys.argv]), "settings": {**settings, "z_dim": args.z_dim, "batch": args.batch, "kimg": args.kimg}}
    result["schedules"] = {"theirs": theirs["schedules"], "ours": {"lr": ours["D"]["lr"], "beta2": ours["D"]["beta2"], "gamma": model.ramps["gamma"].at(cur_nimg, model.hparams.ramp_kimg),
                                                                   "ema": model.ramps["ema_kimg"].at(cur_nimg, model.hparams.ramp_kimg) * 1000}}  # fmt: skip
    result["outputs"] = outputs
    passed = max(outputs["G_images_max_abs"], outputs["G_ema_images_max_abs"], outputs["D_logits_max_abs"] / outputs["D_logits_scale"]) < 1e-5
    for name, our_loss in (("D", float(metrics["train/d_loss"])), ("G", float(metrics["train/g_loss"]))):
        grads = compare(ours[name]["grads"], theirs[name]["grads"])
        weights = weight_steps(ours[name]["weights"], theirs[name]["weights"], theirs[name]["grads"], theirs["schedules"]["lr"])
        loss_relative = abs(our_loss - theirs[name]["loss"]) / abs(theirs[name]["loss"])
        result[name] = {"loss": {"ours": our_loss, "theirs": theirs[name]["loss"], "relative": loss_relative}, "gradients": grads,
                        "weights_after_step": weights}  # fmt: skip
        passed &= grads["max_relative"] < args.tolerance and not grads["unpaired"] and loss_relative < args.tolerance
        passed &= weights["max_abs_over_lr"] < args.tolerance
    ema = max_abs(dict(model.generator_ema.named_parameters()), theirs["G_ema"])
    result["G_ema_max_abs"] = ema
    # relative where the value is not 0 (their EMA length starts at 0), absolute there
    result["schedules_max_relative"] = max(abs(result["schedules"]["ours"][k] - v) / (abs(v) or 1.0) for k, v in theirs["schedules"].items())
    passed &= ema < 1e-6 and result["schedules_max_relative"] < 1e-12
    result["tolerance"] = {"gradients_losses_relative_and_weights_over_lr": args.tolerance, "G_ema_max_abs": 1e-6, "schedules_relative": 1e-12}
    result["passed"] = bool(passed)
    harness.print_json(result, args.out)
    if not passed:
        raise SystemExit("FAILED: outside the tolerance")


if __name__ == "__main__":
    main()
