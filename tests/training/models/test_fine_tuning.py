"""Fine-tuning StyleGAN: `fit --model.init_args.init_from CKPT` starts from a checkpoint's networks
(ours or converted from NVlabs) without its training state, checks that the run's networks fit,
and Freeze-D keeps the first discriminator layers as they were."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest
import torch

from gan_lightning.common.errors import UserError
from gan_lightning.training.fine_tuning import discriminator_layers, init_from_checkpoint
from gan_lightning.training.models.stylegan import StyleGAN
from gan_lightning.core.nets.settings import StyleGAN3Config
from gan_lightning.core.nets.stylegan2 import Discriminator, DiscriminatorConfig, Generator, GeneratorConfig
from tests.conftest import ASSETS, REPO, fast_trainer_args, run_cli
from tests.helpers.nvlabs_pickles import HARMLESS_SOURCE, augment_pipe_record, discriminator_record, generator_record, write_snapshot

TINY_G = GeneratorConfig(z_dim=16, w_dim=16, mapping_layers=2, channel_base=256, channel_max=16)
TINY_D = DiscriminatorConfig(channel_base=256, channel_max=16)
TINY_ARGS = [
    "--model.init_args.generator.z_dim", "16", "--model.init_args.generator.w_dim", "16",
    "--model.init_args.generator.mapping_layers", "2", "--model.init_args.generator.channel_base", "256",
    "--model.init_args.generator.channel_max", "16", "--model.init_args.discriminator.channel_base", "256",
    "--model.init_args.discriminator.channel_max", "16",
]  # fmt: skip


def converted_nvlabs_checkpoint(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    networks = {"G": Generator(32, 3, TINY_G), "G_ema": Generator(32, 3, TINY_G), "D": Discriminator(32, 3, TINY_D)}
    with torch.no_grad():  # unlike any fresh initialisation, whatever the run's seed
        for network in networks.values():
            for tensor in network.state_dict().values():
                tensor.add_(torch.randn(tensor.shape, generator=torch.Generator().manual_seed(123)) * 0.3 + 0.1)
    records = {name: (generator_record if name != "D" else discriminator_record)(net, HARMLESS_SOURCE) for name, net in networks.items()}
    pkl = write_snapshot(tmp_path / "snapshot.pkl", {**records, "augment_pipe": augment_pipe_record(0.375, HARMLESS_SOURCE)}, 32)
    out = tmp_path / "converted.ckpt"
    run_cli("convert", "--from", "nvlabs", pkl, "--out", out)
    return out


def test_fine_tuning_a_converted_nvlabs_snapshot_with_freeze_d_from_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    start = converted_nvlabs_checkpoint(tmp_path)
    run_cli(
        "fit", "--config", REPO / "configs" / "stylegan.yaml", *fast_trainer_args(tmp_path), *TINY_ARGS,
        "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "1",
        "--data.init_args.batch_size", "8", "--model.init_args.fid_num_samples", "8",
        "--model.init_args.init_from", start, "--model.init_args.freeze_d", "5", "--model.init_args.init_augment_p", "true",
    )  # fmt: skip
    before = torch.load(start, weights_only=True)["state_dict"]
    after = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    assert after["images_seen"].item() == 16  # the training state starts anew
    assert float(after["augment.p"]) == 0.375  # ADA p as it was (no update within 2 batches)
    # Freeze-D 5: the 32x32 block's fromrgb, conv0, conv1, skip and the 16x16 conv0 stay; the rest trains.
    for layer in ("32x32.fromrgb", "32x32.conv0", "32x32.conv1", "32x32.skip", "16x16.conv0"):
        assert torch.equal(after[f"discriminator.blocks.{layer}.weight"], before[f"discriminator.blocks.{layer}.weight"]), layer
    for layer in ("blocks.16x16.conv1", "blocks.8x8.conv0", "epilogue.fc"):
        assert not torch.equal(after[f"discriminator.{layer}.weight"], before[f"discriminator.{layer}.weight"]), layer
    # The generator started from the snapshot's G (a few small Adam steps away), not from random weights.
    const = "generator.synthesis.blocks.4x4.const"
    assert 0 < (after[const] - before[const]).abs().max() < 0.05


# the tiny networks of tests/assets/nvlabs_stylegan3_t32.pkl, on the StyleGAN3 quickstart
SG3_T32_ARGS = [
    *[arg for name, value in (("z_dim", "8"), ("w_dim", "8"), ("channel_base", "64"), ("channel_max", "8"), ("num_layers", "4"))
      for arg in (f"--model.init_args.stylegan3.{name}", value)],
    "--model.init_args.discriminator.channel_base", "64", "--model.init_args.discriminator.channel_max", "8",
]  # fmt: skip


def test_fine_tuning_a_converted_stylegan3_snapshot_with_freeze_d_from_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    start = tmp_path / "sg3t.ckpt"
    run_cli("convert", "--from", "nvlabs", ASSETS / "nvlabs_stylegan3_t32.pkl", "--out", start)
    run_cli(
        "fit", "--config", REPO / "configs" / "stylegan3.yaml", *fast_trainer_args(tmp_path), *SG3_T32_ARGS,
        "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "0",
        "--data.init_args.batch_size", "8", "--model.init_args.init_from", start, "--model.init_args.freeze_d", "5",
        "--model.init_args.init_augment_p", "true",
    )  # fmt: skip
    before = torch.load(start, weights_only=True)["state_dict"]
    after = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    assert after["images_seen"].item() == 16  # the training state starts anew
    assert torch.equal(after["augment.p"], before["augment.p"])  # ADA p as it was (no update within 2 batches)
    for layer in ("32x32.fromrgb", "32x32.conv0", "32x32.conv1", "32x32.skip", "16x16.conv0"):  # Freeze-D 5
        assert torch.equal(after[f"discriminator.blocks.{layer}.weight"], before[f"discriminator.blocks.{layer}.weight"]), layer
    for layer in ("blocks.16x16.conv1", "blocks.8x8.conv0", "epilogue.fc"):
        assert not torch.equal(after[f"discriminator.{layer}.weight"], before[f"discriminator.{layer}.weight"]), layer
    # G and its magnitude EMAs start from the snapshot's, a few small steps away
    for key in ("generator.synthesis.layers.1.weight", "generator.synthesis.layers.1.magnitude_ema"):
        assert 0 < (after[key] - before[key]).abs().max() < 0.05, key


def test_init_from_a_fit_checkpoint_copies_every_network(tmp_path: Path) -> None:
    torch.manual_seed(1)
    trained = StyleGAN(resolution=32, channels=3, generator=TINY_G, discriminator=TINY_D, fid_features="shapes")
    path = tmp_path / "trained.ckpt"
    hparams = dict(trained.hparams)
    torch.save({"algorithm": "StyleGAN", "hyper_parameters": hparams, "state_dict": trained.state_dict()}, path)

    torch.manual_seed(2)
    fresh = StyleGAN(resolution=32, channels=3, generator=TINY_G, discriminator=TINY_D, fid_features="shapes")
    networks = {"generator": fresh.generator, "generator_ema": fresh.generator_ema, "discriminator": fresh.discriminator}
    report = init_from_checkpoint(str(path), 32, 3, dict(fresh.hparams), networks, None)
    assert len(report) == 3
    for name in networks:
        for key, value in getattr(trained, name).state_dict().items():
            assert torch.equal(getattr(fresh, name).state_dict()[key], value), f"{name}.{key}"


def test_init_from_a_generator_only_checkpoint_keeps_the_new_discriminator(tmp_path: Path) -> None:
    torch.manual_seed(3)
    generator = Generator(32, 3, TINY_G)
    path = tmp_path / "converted_rosinality.ckpt"  # what `convert --from rosinality` writes: generators only
    hparams = {"resolution": 32, "channels": 3, "generator": dataclasses.asdict(TINY_G)}
    torch.save({"algorithm": "StyleGAN", "hyper_parameters": hparams, "state_dict": {f"generator_ema.{k}": v for k, v in generator.state_dict().items()}}, path)
    model = StyleGAN(resolution=32, channels=3, generator=TINY_G, discriminator=TINY_D, fid_features="shapes")
    d_before = {k: v.clone() for k, v in model.discriminator.state_dict().items()}
    nets = {"generator": model.generator, "generator_ema": model.generator_ema, "discriminator": model.discriminator}
    report = init_from_checkpoint(str(path), 32, 3, dict(model.hparams), nets, None)
    assert report[2] == f"discriminator: not in {path}, starts from random weights"
    for name in ("generator", "generator_ema"):  # both copies start from the one stored
        assert all(torch.equal(getattr(model, name).state_dict()[k], v) for k, v in generator.state_dict().items())
    assert all(torch.equal(model.discriminator.state_dict()[k], v) for k, v in d_before.items())


def test_init_from_names_the_setting_that_does_not_fit(tmp_path: Path) -> None:
    start = converted_nvlabs_checkpoint(tmp_path)

    def init(resolution: int = 32, **generator) -> None:
        model = StyleGAN(resolution=resolution, channels=3, generator=dataclasses.replace(TINY_G, **generator), discriminator=TINY_D, fid_features="shapes")
        nets = {"generator": model.generator, "generator_ema": model.generator_ema, "discriminator": model.discriminator}
        init_from_checkpoint(str(start), resolution, 3, dict(model.hparams), nets, model.augment.p)

    with pytest.raises(UserError, match=r"is 32 px with 3 channels; this run is 64 px"):
        init(resolution=64)
    with pytest.raises(UserError, match=r"generator z_dim is 16 there, 32 here; set --model.init_args.generator.z_dim 16"):
        init(z_dim=32)
    with pytest.raises(UserError, match=r"generator channel_base is 256 there, 512 here"):
        init(channel_base=512)
    orig = StyleGAN(resolution=32, channels=3, generator=TINY_G, discriminator=dataclasses.replace(TINY_D, architecture="orig"), fid_features="shapes")
    nets = {"generator": orig.generator, "generator_ema": orig.generator_ema, "discriminator": orig.discriminator}
    with pytest.raises(UserError, match=r"discriminator architecture is 'resnet' there, 'orig' here"):  # its skip weights would go unused
        init_from_checkpoint(str(start), 32, 3, dict(orig.hparams), nets, None)
    with pytest.raises(UserError, match=r"does not exist"):
        init_from_checkpoint(str(tmp_path / "missing.ckpt"), 32, 3, {}, {}, None)


def test_init_from_a_stylegan3_checkpoint_names_the_setting_that_does_not_fit(tmp_path: Path) -> None:
    start = tmp_path / "sg3t.ckpt"
    run_cli("convert", "--from", "nvlabs", ASSETS / "nvlabs_stylegan3_t32.pkl", "--out", start)
    hp = torch.load(start, weights_only=True)["hyper_parameters"]

    def init(stylegan2: bool = False, **changes) -> None:
        networks = {} if stylegan2 else {"stylegan3": StyleGAN3Config(**{**hp["stylegan3"], **changes})}
        model = StyleGAN(resolution=32, channels=3, discriminator=hp["discriminator"], fid_features="shapes", **networks)
        nets = {"generator": model.generator, "generator_ema": model.generator_ema, "discriminator": model.discriminator}
        init_from_checkpoint(str(start), 32, 3, dict(model.hparams), nets, None)

    init()
    # a layout whose weights would load but mean other frequencies, sizes or filters
    with pytest.raises(UserError, match=r"stylegan3 margin_size is 10 there, 6 here; set --model.init_args.stylegan3.margin_size 10"):
        init(margin_size=6)
    with pytest.raises(UserError, match=r"stylegan3 use_radial_filters is False there, True here"):
        init(use_radial_filters=True)
    with pytest.raises(UserError, match=r"stylegan3 conv_kernel is 3 there, 1 here"):  # config R's 1x1 convolutions
        init(conv_kernel=1)
    with pytest.raises(UserError, match=r"stylegan3 z_dim is 8 there, 16 here; set --model.init_args.stylegan3.z_dim 8"):
        init(z_dim=16)
    init(num_fp16_res=0, conv_clamp=None, magnitude_ema_beta=0.99)  # the run's to choose
    with pytest.raises(UserError, match=r"holds a StyleGAN3 generator, this run builds a StyleGAN2 one; allowed: .*--model.init_args.stylegan3"):
        init(stylegan2=True)


class CallsSystem:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def test_init_from_never_runs_code_from_the_checkpoint(tmp_path: Path) -> None:
    marker = tmp_path / "pwned.txt"
    evil = tmp_path / "evil.ckpt"
    torch.save({"algorithm": "StyleGAN", "state_dict": {}, "hyper_parameters": CallsSystem(f"touch {marker}")}, evil)
    with pytest.raises(UserError, match="refused, since reading them would run code") as info:
        init_from_checkpoint(str(evil), 32, 3, {}, {}, None)
    assert "\n" not in str(info.value)
    assert not marker.exists()


def test_freeze_d_counts_layers_from_the_highest_resolution_as_nvlabs(tmp_path: Path) -> None:
    model = StyleGAN(resolution=32, channels=3, generator=TINY_G, discriminator=TINY_D, fid_features="shapes", freeze_d=5)
    names = [name for name, _ in discriminator_layers(model.discriminator)]
    assert names[:5] == ["blocks.32x32.fromrgb", "blocks.32x32.conv0", "blocks.32x32.conv1", "blocks.32x32.skip", "blocks.16x16.conv0"]
    frozen = {name for name, layer in discriminator_layers(model.discriminator) if not any(p.requires_grad for p in layer.parameters())}
    assert frozen == set(names[:5])
    _, opt_d = model.configure_optimizers()
    optimized = {id(p) for group in opt_d.param_groups for p in group["params"]}
    assert optimized == {id(p) for p in model.discriminator.parameters() if p.requires_grad}
    assert len(optimized) < len(list(model.discriminator.parameters()))
    with pytest.raises(UserError, match=f"freeze_d must be from 0 to {len(names)}"):
        StyleGAN(resolution=32, channels=3, generator=TINY_G, discriminator=TINY_D, fid_features="shapes", freeze_d=len(names) + 1)
