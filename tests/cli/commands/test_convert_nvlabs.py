"""`convert --from nvlabs`: NVlabs snapshot pickles become full StyleGAN checkpoints, and nothing in
the pickle ever runs (its embedded source, or any global beyond tensors and containers)."""

from __future__ import annotations

import argparse
import os
import pickle
from pathlib import Path

import pytest
import torch

from gan_lightning.checkpoints.reading import load_generator
from gan_lightning.cli.main import main
from gan_lightning.common.errors import UserError
from gan_lightning.checkpoints.formats.nvlabs import load_nvlabs_pickle
from gan_lightning.core.nets.stylegan2 import Discriminator, DiscriminatorConfig, Generator, GeneratorConfig
from gan_lightning.cli.commands import convert
from tests.helpers.nvlabs_pickles import (
    HARMLESS_SOURCE,
    augment_pipe_record,
    discriminator_record,
    generator_record,
    write_snapshot,
)

G_CONFIG = GeneratorConfig(z_dim=16, w_dim=16, mapping_layers=2, channel_base=256, channel_max=16)
D_CONFIG = DiscriminatorConfig(channel_base=256, channel_max=16, mbstd_group_size=2)


def perturbed(network: torch.nn.Module, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    with torch.no_grad():  # every stored tensor off its initial value, so a mis-mapped one shows
        for tensor in network.state_dict().values():
            if tensor.is_floating_point():
                tensor.add_(torch.randn_like(tensor) * 0.2)
    return network.eval()


def networks(seed: int = 0) -> tuple[Generator, Generator, Discriminator]:
    g = perturbed(Generator(32, 3, G_CONFIG), seed)
    g_ema = perturbed(Generator(32, 3, G_CONFIG), seed + 1)
    d = perturbed(Discriminator(32, 3, D_CONFIG), seed + 2)
    return g, g_ema, d


def snapshot(path: Path, source: str = HARMLESS_SOURCE, **overrides) -> tuple[Path, tuple]:
    g, g_ema, d = networks()
    records = {
        "G": generator_record(g, source),
        "D": discriminator_record(d, source),
        "G_ema": generator_record(g_ema, source),
        "augment_pipe": augment_pipe_record(0.375, source),
        **overrides,
    }
    return write_snapshot(path, records, 32), (g, g_ema, d)


def run_convert(*argv: str) -> None:
    parser = argparse.ArgumentParser()
    convert.add_arguments(parser)
    convert.run(parser.parse_args(list(argv)))


def test_convert_nvlabs_snapshot_gives_the_same_images_logits_and_p(tmp_path: Path) -> None:
    pkl, (g, g_ema, d) = snapshot(tmp_path / "network-snapshot-000100.pkl")
    out = tmp_path / "converted.ckpt"
    run_convert(str(pkl), "--from", "nvlabs", "--out", str(out))

    converted, checkpoint = load_generator(out)  # the inference path: generate / style-mix / project
    assert checkpoint["hyper_parameters"]["discriminator"]["mbstd_group_size"] == 2
    assert checkpoint["nvlabs_training_set_kwargs"]["resolution"] == 32
    z = torch.randn(3, 16)
    for psi in (1.0, 0.6):
        assert torch.allclose(converted(z, truncation_psi=psi, noise_mode="const"), g_ema(z, truncation_psi=psi, noise_mode="const"), atol=1e-6)
    training_copy, _ = load_generator(out, use_ema=False)
    assert torch.allclose(training_copy(z, noise_mode="const"), g(z, noise_mode="const"), atol=1e-6)

    state = checkpoint["state_dict"]
    ours_d = Discriminator(32, 3, D_CONFIG)
    ours_d.load_state_dict({k.removeprefix("discriminator."): v for k, v in state.items() if k.startswith("discriminator.")})
    images = torch.randn(4, 3, 32, 32)
    assert torch.equal(ours_d.eval()(images), d(images))
    assert float(state["augment.p"]) == 0.375

    main(["generate", "--ckpt", str(out), "--num", "2", "--out", str(tmp_path / "grid.png")])
    assert (tmp_path / "grid.png").is_file()


def test_stylegan3_repositorys_stylegan2_generators_with_flat_settings_convert(tmp_path: Path) -> None:
    _, g_ema, _ = networks()
    record = generator_record(g_ema, HARMLESS_SOURCE)
    kwargs = record.meta["state"]["_init_kwargs"]
    kwargs.update(kwargs.pop("synthesis_kwargs"), fused_modconv_default="inference_only")  # stylegan3's train.py layout
    pkl = write_snapshot(tmp_path / "sg3.pkl", {"G_ema": record}, 32)
    run_convert(str(pkl), "--from", "nvlabs", "--out", str(tmp_path / "o.ckpt"))
    converted, _ = load_generator(tmp_path / "o.ckpt")
    z = torch.randn(2, 16)
    assert torch.allclose(converted(z, noise_mode="const"), g_ema(z, noise_mode="const"), atol=1e-6)


def test_embedded_source_in_the_pickle_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned.txt"
    source = f"open({str(marker)!r}, 'w').write('the pickle ran code')\n"
    pkl, _ = snapshot(tmp_path / "evil.pkl", source=source)
    out = tmp_path / "converted.ckpt"
    main(["convert", "--from", "nvlabs", str(pkl), "--out", str(out)])
    main(["generate", "--ckpt", str(out), "--num", "1", "--out", str(tmp_path / "g.png")])
    assert not marker.exists()
    # The fixture is live: NVlabs' loader exec()s this very text, which makes the file.
    exec(compile(load_nvlabs_pickle(pkl)["G"].module_src, "snapshot", "exec"), {})
    assert marker.exists()


class CallsSystem:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def test_a_pickle_naming_a_disallowed_global_is_refused_in_one_line(tmp_path: Path, capsys) -> None:
    marker = tmp_path / "pwned.txt"
    pkl, _ = snapshot(tmp_path / "evil.pkl", training_set_kwargs=CallsSystem(f"touch {marker}"))
    with pytest.raises(SystemExit) as exit_info:
        main(["convert", "--from", "nvlabs", str(pkl), "--out", str(tmp_path / "o.ckpt")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"{os.system.__module__}.system" in err and "refused" in err, err
    assert not marker.exists() and not (tmp_path / "o.ckpt").exists()


def test_an_orig_discriminator_as_in_nvlabs_cifar_preset_converts_with_the_same_logits(tmp_path: Path) -> None:
    d = perturbed(Discriminator(32, 3, DiscriminatorConfig(channel_base=256, channel_max=16, mbstd_group_size=2, architecture="orig")), 5)
    assert all(block.skip is None for block in d.blocks.values())
    pkl, _ = snapshot(tmp_path / "cifar.pkl", D=discriminator_record(d, HARMLESS_SOURCE, architecture="orig"))
    run_convert(str(pkl), "--from", "nvlabs", "--out", str(tmp_path / "o.ckpt"))
    checkpoint = torch.load(tmp_path / "o.ckpt", weights_only=True)
    assert checkpoint["hyper_parameters"]["discriminator"]["architecture"] == "orig"
    ours_d = Discriminator(32, 3, checkpoint["hyper_parameters"]["discriminator"])
    ours_d.load_state_dict({k.removeprefix("discriminator."): v for k, v in checkpoint["state_dict"].items() if k.startswith("discriminator.")})
    images = torch.randn(4, 3, 32, 32)
    assert torch.equal(ours_d.eval()(images), d(images))


def test_architectures_we_do_not_build_are_named(tmp_path: Path) -> None:
    g, g_ema, d = networks()
    cases = {
        "skip": {"D": discriminator_record(d, HARMLESS_SOURCE, architecture="skip")},
        "resnet": {"G_ema": generator_record(g_ema, HARMLESS_SOURCE, synthesis_kwargs={"architecture": "resnet"})},
    }
    stylegan3 = generator_record(g_ema, HARMLESS_SOURCE)
    stylegan3.meta["state"]["_modules"]["synthesis"].meta["state"]["_modules"]["input"] = augment_pipe_record(0.0, HARMLESS_SOURCE)
    cases["SynthesisInput"] = {"G_ema": stylegan3}
    for expected, override in cases.items():
        pkl, _ = snapshot(tmp_path / f"{expected}.pkl", **override)
        with pytest.raises(UserError, match=expected) as info:
            run_convert(str(pkl), "--from", "nvlabs", "--out", str(tmp_path / "o.ckpt"))
        assert "\n" not in str(info.value)


def test_files_that_are_not_nvlabs_pickles_get_one_line(tmp_path: Path) -> None:
    (tmp_path / "junk.pkl").write_bytes(b"not a pickle at all")
    with open(tmp_path / "list.pkl", "wb") as f:
        pickle.dump([1, 2, 3], f)
    for name, expected in (("junk.pkl", "cannot read"), ("list.pkl", "not an NVlabs network pickle"), ("missing.pkl", "does not exist")):
        with pytest.raises(UserError, match=expected):
            run_convert(str(tmp_path / name), "--from", "nvlabs", "--out", str(tmp_path / "o.ckpt"))
