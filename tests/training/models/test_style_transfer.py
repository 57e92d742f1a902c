"""StyleTransfer (CUT family): the three optimizers, a short real training with measured style and
structure, bf16-mixed, resume, DDP with two CPU processes, predict, and the three preset configs."""

import json
from pathlib import Path

import pytest
import torch
from lightning.pytorch import Trainer, seed_everything

from gan_lightning.checkpoints.reading import load_generator
from gan_lightning.data import ShapesStyleDataModule
from gan_lightning.data.shape_looks import render_look_batch
from gan_lightning.evaluation.looks import foreground_mask, look_distance, mask_iou
from gan_lightning.training.models.style_transfer import StyleTransfer
from tests.conftest import REPO, fast_trainer_args, run_cli, run_cli_subprocess

TINY = dict(resolution=32, generator=dict(width=8, blocks=1), style_network=dict(width=8), num_patches=16, fid_features="shapes", fid_num_samples=8)
STYLE_CONFIGS = ["style_transfer.yaml", "style_transfer_fast.yaml", "style_transfer_single.yaml", "style_transfer_single_cut.yaml"]


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_data(**kwargs) -> ShapesStyleDataModule:
    kwargs = {"resolution": 32, "num_content": 8, "num_style": 6, "num_val": 4, "batch_size": 2, "num_workers": 0, **kwargs}
    return ShapesStyleDataModule(**kwargs)


def tiny_trainer(tmp_path, **kwargs) -> Trainer:
    kwargs = {
        "accelerator": "cpu", "logger": False, "enable_checkpointing": False, "enable_progress_bar": False,
        "enable_model_summary": False, "default_root_dir": tmp_path, "num_sanity_val_steps": 0, **kwargs,
    }  # fmt: skip
    return Trainer(**kwargs)


def test_three_optimizers_and_the_content_network_gets_gradients_and_steps(tmp_path):
    seed_everything(0)
    model = StyleTransfer(**TINY)
    assert len(list(model.content_network.parameters())) == 4 * len(model.nce_layers)  # built in __init__
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    trainer = tiny_trainer(tmp_path, max_steps=3, limit_val_batches=0)  # one batch = 3 optimizer steps
    trainer.fit(model, tiny_data())
    optimizers = model.optimizers()
    assert len(optimizers) == 3
    groups = [{id(p) for g in opt.optimizer.param_groups for p in g["params"]} for opt in optimizers]
    assert groups[0] == {id(p) for p in model.generator.parameters()}
    assert groups[1] == {id(p) for p in model.style_network.parameters()}
    assert groups[2] == {id(p) for p in model.content_network.parameters()}
    for p in model.content_network.parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0
    for prefix in ("generator.", "style_network.", "content_network."):
        changed = [not torch.equal(before[n], p) for n, p in model.named_parameters() if n.startswith(prefix)]
        assert all(changed), prefix  # every tensor of every network moved
    assert optimizers[2].optimizer.state  # Adam state exists: the content optimizer stepped
    assert model.images_seen.item() == 2


def test_learning_rate_is_constant_then_decays_linearly_per_epoch(tmp_path):
    model = StyleTransfer(**TINY, lr=1e-3, lr_constant_epochs=2, lr_decay_epochs=3)
    trainer = tiny_trainer(tmp_path, max_epochs=5, limit_train_batches=1, limit_val_batches=0)
    seen = []
    from lightning.pytorch.callbacks import Callback

    class LR(Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            seen.append([opt.param_groups[0]["lr"] for opt in trainer.optimizers])

    trainer.callbacks.append(LR())
    trainer.fit(model, tiny_data())
    expected = [1e-3, 1e-3, 1e-3 * 3 / 4, 1e-3 * 2 / 4, 1e-3 * 1 / 4]
    assert [round(row[0], 8) for row in seen] == [round(e, 8) for e in expected]
    assert all(len(set(row)) == 1 for row in seen)  # all three optimizers follow the same schedule


@pytest.mark.parametrize("preset", ["cut", "fastcut", "single_cut"])
def test_each_preset_trains_a_step(tmp_path, preset):
    options = {
        "cut": dict(nce_identity=True),
        "fastcut": dict(nce_identity=False, flip_equivariance=True, lambda_nce=10.0),
        "single_cut": dict(nce_negatives_from_batch=True, lambda_identity=1.0, lambda_r1=1.0, gan_loss="non_saturating"),
    }[preset]
    model = StyleTransfer(**TINY, **options)
    trainer = tiny_trainer(tmp_path, max_steps=6, limit_val_batches=0)
    trainer.fit(model, tiny_data())
    assert torch.isfinite(trainer.callback_metrics["train/g_loss"])


@pytest.mark.slow
def test_short_training_moves_style_statistics_toward_the_style_set_and_keeps_structure(tmp_path):
    """Known ground truth: the same shapes drawn in the content look and in the style look.

    The CUT preset of configs/style_transfer.yaml (small networks, lr 1e-3), 600 batches of 4 (~50 s on
    one CPU thread). Measured with the resumable data order, IoU above chance on seeds 0-2: 0.007,
    0.059, 0.125 (look distance 3.0 -> 0.14..0.27). The structure bound (chance + 0.08) holds for some
    seeds only, so this test fails: it needs a longer training or a bound measured on more seeds.
    """
    seed_everything(0)
    model = StyleTransfer(
        resolution=32, generator=dict(width=16, blocks=3), style_network=dict(width=16), antialias=False, num_patches=64, lr=1e-3,
        lambda_nce=1.0, nce_identity=True, lr_constant_epochs=100,
    )  # fmt: skip
    data = tiny_data(num_content=256, num_style=256, batch_size=4)
    trainer = tiny_trainer(tmp_path, max_steps=3 * 600, limit_val_batches=0)
    trainer.fit(model, data)

    content = render_look_batch(32, 32, "flat", seed=99)  # unseen scenes
    style_set = render_look_batch(32, 32, "ink", seed=98)
    output = model.stylize(content)
    # style: distance of the look statistics (background colour, luminance mean/contrast, hatching
    # energy) to the style set, before (the content itself) and after translation
    before, after = look_distance(content, style_set), look_distance(output, style_set)
    # structure: silhouettes of output vs its input, against output vs another input (chance level),
    # and how often an output's best-matching input silhouette is its own
    masks_in, masks_out = foreground_mask(content), foreground_mask(output)
    iou = mask_iou(masks_in, masks_out).mean().item()
    chance = mask_iou(masks_in, masks_out.roll(1, 0)).mean().item()
    inter = (masks_out[:, None] & masks_in[None]).flatten(2).sum(2).float()
    union = (masks_out[:, None] | masks_in[None]).flatten(2).sum(2).float()
    retrieval = ((inter / union).argmax(1) == torch.arange(len(content))).float().mean().item()
    print(f"look distance to style set: content {before:.3f} -> output {after:.3f}; silhouette IoU {iou:.3f} "
          f"(chance {chance:.3f}); own input is the best match for {retrieval:.0%} (chance {1 / len(content):.0%})")
    assert after < 0.5 * before
    assert iou > chance + 0.08
    assert retrieval >= 3 / len(content)


def test_bf16_mixed_training_runs(tmp_path):
    model = StyleTransfer(**TINY)
    trainer = tiny_trainer(tmp_path, max_steps=6, limit_val_batches=0, precision="bf16-mixed")
    trainer.fit(model, tiny_data())
    assert torch.isfinite(trainer.callback_metrics["train/g_loss"])
    assert torch.isfinite(trainer.callback_metrics["train/nce"])
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_without_the_adversarial_term_an_r1_weight_is_unused_and_logging_steps_run(tmp_path):
    # lambda_gan 0 leaves the style network untrained, so there is no R1 penalty to log
    model = StyleTransfer(**TINY, lambda_gan=0.0, lambda_r1=1.0)
    trainer = tiny_trainer(tmp_path, max_steps=3, limit_val_batches=0, log_every_n_steps=1)
    trainer.fit(model, tiny_data())
    assert torch.isfinite(trainer.callback_metrics["train/g_loss"])
    assert "train/r1_penalty" not in trainer.callback_metrics


def test_validation_logs_fid_and_fixed_triplets(tmp_path):
    model = StyleTransfer(**TINY, num_logged_images=3)
    trainer = tiny_trainer(tmp_path, max_epochs=1, limit_train_batches=1, limit_val_batches=2, num_sanity_val_steps=1)
    trainer.fit(model, tiny_data())
    assert "val/fid" in trainer.callback_metrics
    triplets = model.fixed_samples()["triplets"]
    assert triplets.shape == (3, 3, 32, 4 * 32)  # content | stylized | style | identity, side by side


def test_the_registry_rebuilds_the_generator_for_inference(tmp_path):
    model = StyleTransfer(**TINY)
    path = tmp_path / "m.ckpt"
    torch.save({"algorithm": "StyleTransfer", "hyper_parameters": dict(model.hparams), "state_dict": model.state_dict()}, path)
    generator, _ = load_generator(path)
    x = torch.rand(1, 3, 20, 28) * 2 - 1
    assert torch.allclose(generator(x), model.stylize(x))
    assert not any(n.startswith(("style_network", "content_network")) for n, _ in generator.named_parameters())


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(gan_loss="wgan_gp"), "gan_loss"),
        (dict(resolution=30), "multiple of 4"),
        (dict(nce_layers=[0, 999]), "layer index 999"),
        (dict(lambda_nce=-1.0), "lambda_nce"),
    ],
)
def test_bad_options_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        StyleTransfer(**{**TINY, **kwargs})


# --- through the CLI, as a user runs it ------------------------------------------------------------

CLI_TINY = [
    "--model.init_args.generator.width", "8", "--model.init_args.generator.blocks", "1", "--model.init_args.style_network.width", "8",
    "--model.init_args.num_patches", "16", "--model.init_args.fid_num_samples", "8",
    "--trainer.limit_val_batches", "1", "--trainer.num_sanity_val_steps", "0",
]  # fmt: skip


def checkpoint_callbacks(folder: Path) -> list[str]:
    spec = [{"class_path": "lightning.pytorch.callbacks.ModelCheckpoint", "init_args": {"dirpath": str(folder), "save_last": True}}]
    return ["--trainer.callbacks", json.dumps(spec)]


def shapes_data_args(extra: list[str] | None = None) -> list[str]:
    return ["--data.init_args.num_content", "8", "--data.init_args.num_style", "6", "--data.init_args.num_val", "4", *(extra or [])]


@pytest.mark.parametrize("config", STYLE_CONFIGS)
def test_each_config_fits_as_is_for_a_batch(tmp_path, config):
    single = ["--data.init_args.crops_per_epoch", "4", "--data.init_args.resolution", "32", "--data.init_args.load_size", "64", "--model.init_args.perceptual.width", "8"]
    data = single if config.startswith("style_transfer_single") else shapes_data_args()
    run_cli(
        "fit", "--config", REPO / "configs" / config, *fast_trainer_args(tmp_path), *CLI_TINY, *data,
        "--trainer.max_steps", "3", *checkpoint_callbacks(tmp_path / "ckpt"),
    )  # fmt: skip
    assert (tmp_path / "ckpt" / "last.ckpt").exists()


def test_resume_continues_steps_images_and_schedules(tmp_path):
    args = ["fit", "--config", REPO / "configs" / "style_transfer.yaml", *fast_trainer_args(tmp_path), *CLI_TINY, *shapes_data_args()]
    args += ["--trainer.limit_train_batches", "2", "--model.init_args.lr_constant_epochs", "0", "--model.init_args.lr_decay_epochs", "4"]
    run_cli(*args, "--trainer.max_epochs", "1", *checkpoint_callbacks(tmp_path / "first"))
    first = torch.load(tmp_path / "first" / "last.ckpt", map_location="cpu", weights_only=True)
    run_cli(*args, "--trainer.max_epochs", "2", *checkpoint_callbacks(tmp_path / "second"), "--ckpt_path", tmp_path / "first" / "last.ckpt")
    second = torch.load(tmp_path / "second" / "last.ckpt", map_location="cpu", weights_only=True)
    assert second["global_step"] == 2 * first["global_step"] == 2 * 3 * 2
    assert second["state_dict"]["images_seen"].item() == 2 * first["state_dict"]["images_seen"].item() == 2 * 2 * 4
    assert len(second["optimizer_states"]) == 3 and len(second["lr_schedulers"]) == 3
    # the second epoch (index 1) runs at lr * (1 - 2/5): decay over 4 epochs, continued, not restarted
    assert [s["last_epoch"] for s in second["lr_schedulers"]] == [1, 1, 1]
    assert [o["param_groups"][0]["lr"] for o in second["optimizer_states"]] == pytest.approx([1e-3 * 0.6] * 3)
    assert any(k.startswith("content_network.") for k in second["state_dict"])
    assert second["algorithm"] == "StyleTransfer"


def test_ddp_with_two_cpu_processes(tmp_path):
    result = run_cli_subprocess(
        "fit", "--config", REPO / "configs" / "style_transfer.yaml", *fast_trainer_args(tmp_path), *CLI_TINY,
        *shapes_data_args(["--data.init_args.num_content", "16"]), "--trainer.strategy", "ddp", "--trainer.devices", "2", "--trainer.accelerator", "cpu",
        "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2", *checkpoint_callbacks(tmp_path / "ckpt"),
        cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    checkpoint = torch.load(tmp_path / "ckpt" / "last.ckpt", map_location="cpu", weights_only=True)
    # 16 content images split over 2 processes: two batches of 4 each (a second batch is where DDP
    # would fail if a phase left parameters without gradients unhandled)
    assert checkpoint["state_dict"]["images_seen"].item() == 16
    assert checkpoint["global_step"] == 2 * 3


def test_predict_through_the_cli_writes_stylized_images(tmp_path):
    run_cli(
        "fit", "--config", REPO / "configs" / "style_transfer.yaml", *fast_trainer_args(tmp_path), *CLI_TINY,
        *shapes_data_args(), "--trainer.max_steps", "3", *checkpoint_callbacks(tmp_path / "ckpt"),
    )  # fmt: skip
    writer = [{"class_path": "gan_lightning.training.callbacks.samples.ImageWriter", "init_args": {"output_dir": str(tmp_path / "pred")}}]
    run_cli(
        "predict", "--config", REPO / "configs" / "style_transfer.yaml", *fast_trainer_args(tmp_path), *CLI_TINY,
        *shapes_data_args(), "--trainer.callbacks", json.dumps(writer), "--ckpt_path", tmp_path / "ckpt" / "last.ckpt",
    )  # fmt: skip
    written = sorted(p.name for p in (tmp_path / "pred").glob("*.png"))
    assert written == [f"content{i:04d}.png" for i in range(4)]
