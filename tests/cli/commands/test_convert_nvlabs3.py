"""`convert --from nvlabs` on snapshot pickles written by NVlabs' stylegan3 code (configs T and R,
tests/assets/nvlabs_stylegan3_*.pkl, see tests/assets/README.md): read without running anything
from the file, numpy values included; the converted checkpoints make the images and logits their
code made (tests/assets/nvlabs3_outputs.pt), and every StyleGAN tool works on them."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy
import onnxruntime
import pytest
import torch
from PIL import Image

import gan_lightning
from gan_lightning.checkpoints.formats.nvlabs import convert_nvlabs, load_nvlabs_pickle
from gan_lightning.checkpoints.reading import load_generator
from gan_lightning.cli.commands import convert
from gan_lightning.cli.main import main
from gan_lightning.common.errors import UserError
from gan_lightning.core.nets import stylegan3
from gan_lightning.core.nets.stylegan2 import Discriminator
from tests.conftest import REPO
from tests.helpers.nvlabs_pickles import with_embedded_source

ASSETS = REPO / "tests" / "assets"
CONFIGS = ("t", "r")


def asset(config: str) -> Path:
    return ASSETS / f"nvlabs_stylegan3_{config}32.pkl"


def run_convert(*argv: str) -> None:
    parser = argparse.ArgumentParser()
    convert.add_arguments(parser)
    convert.run(parser.parse_args(list(argv)))


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("converted3")
    for config in CONFIGS:
        run_convert(str(asset(config)), "--from", "nvlabs", "--out", str(folder / f"{config}.ckpt"))
    return {config: folder / f"{config}.ckpt" for config in CONFIGS}


@pytest.mark.parametrize("config", CONFIGS)
@torch.no_grad()
def test_converted_t_and_r_make_the_images_and_logits_of_nvlabs_code(config: str, converted: dict[str, Path]) -> None:
    reference = torch.load(ASSETS / "nvlabs3_outputs.pt", weights_only=True)[config]
    g_ema, checkpoint = load_generator(converted[config])
    assert isinstance(g_ema, stylegan3.Generator) and g_ema.config.use_radial_filters is (config == "r")
    assert torch.allclose(g_ema(reference["z"]), reference["G_ema"], atol=1e-5)
    assert torch.allclose(g_ema(reference["z"], truncation_psi=0.7), reference["G_ema_psi0.7"], atol=1e-5)
    g, _ = load_generator(converted[config], use_ema=False)
    assert torch.allclose(g(reference["z"]), reference["G"], atol=1e-5)
    hp, state = checkpoint["hyper_parameters"], checkpoint["state_dict"]
    d = Discriminator(hp["resolution"], hp["channels"], hp["discriminator"]).eval()
    d.load_state_dict({k.removeprefix("discriminator."): v for k, v in state.items() if k.startswith("discriminator.")})
    assert torch.allclose(d(reference["images"]), reference["D"], atol=1e-5)
    p = load_nvlabs_pickle(asset(config))["augment_pipe"].tensors()["p"]
    assert float(state["augment.p"]) == float(p)


def test_a_stylegan3_pickle_with_filters_or_options_we_do_not_design_is_refused_by_name() -> None:
    snapshot = load_nvlabs_pickle(asset("r"))
    layer = snapshot["G_ema"].modules["synthesis"].modules["L1_52_11"]
    layer.state["_buffers"]["down_filter"] = layer.state["_buffers"]["down_filter"] * 1.01
    with pytest.raises(UserError, match="L1_52_11.down_filter is not the filter"):
        convert_nvlabs(snapshot)
    snapshot = load_nvlabs_pickle(asset("t"))
    snapshot["G"].state["_init_kwargs"]["sampling_jitter"] = 0.5
    with pytest.raises(UserError, match="option.* sampling_jitter are not supported"):
        convert_nvlabs(snapshot)


@pytest.mark.parametrize("config", CONFIGS)
def test_stylegan3_snapshots_are_read_with_their_numpy_sizes_and_rates(config: str) -> None:
    snapshot = load_nvlabs_pickle(asset(config))
    synthesis = snapshot["G_ema"].modules["synthesis"]
    assert synthesis.class_name == "SynthesisNetwork" and synthesis.modules["input"].class_name == "SynthesisInput"
    first = synthesis.modules["L0_36_8" if config == "t" else "L0_36_16"].state
    assert isinstance(first["in_size"], numpy.ndarray) and first["in_size"].tolist() == [36, 36]
    assert synthesis.modules["input"].state["sampling_rate"] == 16.0  # a numpy float64 in the file
    assert first["down_radial"] is (config == "r")


def test_a_stylegan3_pickle_whose_embedded_source_touches_a_file_never_runs_it(tmp_path: Path) -> None:
    marker = tmp_path / "pwned.txt"
    source = f"open({str(marker)!r}, 'w').write('the pickle ran code')\n"
    pkl = with_embedded_source(asset("t"), source, tmp_path / "evil.pkl")
    snapshot = load_nvlabs_pickle(pkl)
    assert snapshot["G_ema"].modules["synthesis"].modules["L0_36_8"].state["in_size"].tolist() == [36, 36]
    main(["convert", "--from", "nvlabs", str(pkl), "--out", str(tmp_path / "converted.ckpt")])
    main(["generate", "--ckpt", str(tmp_path / "converted.ckpt"), "--num", "1", "--out", str(tmp_path / "g.png")])
    assert (tmp_path / "g.png").is_file()
    assert not marker.exists()
    # The fixture is live: NVlabs' loader exec()s this very text, which makes the file.
    exec(compile(snapshot["G"].module_src, "snapshot", "exec"), {})
    assert marker.exists()


def test_generate_style_mix_interpolate_and_project_work_on_a_stylegan3_checkpoint(converted: dict[str, Path], tmp_path: Path) -> None:
    ckpt = str(converted["r"])
    main(["generate", "--ckpt", ckpt, "--num", "4", "--truncation", "0.7", "--out", str(tmp_path / "g.png")])
    assert Image.open(tmp_path / "g.png").size == (2 * 34 + 2, 2 * 34 + 2)
    main(["style-mix", "--ckpt", ckpt, "--rows", "1,2", "--cols", "3,4", "--styles", "0-2", "--out", str(tmp_path / "m.png")])
    assert (tmp_path / "m.png").is_file()
    main(["interpolate", "--ckpt", ckpt, "--seeds", "1,2", "--steps", "4", "--out", str(tmp_path / "walk.mp4")])
    assert (tmp_path / "walk.mp4").stat().st_size > 0
    Image.fromarray((torch.rand(32, 32, 3) * 255).to(torch.uint8).numpy()).save(tmp_path / "a.png")
    main(["project", "--ckpt", ckpt, "--target", str(tmp_path / "a.png"), "--steps", "3", "--w-avg-samples", "20", "--out", str(tmp_path / "p")])
    assert torch.load(tmp_path / "p" / "target_ws.pt", weights_only=True)["ws"].shape == (6, 8)


@torch.no_grad()
def test_a_stylegan3_model_folder_makes_the_same_images(converted: dict[str, Path], tmp_path: Path) -> None:
    main(["export", "--ckpt", str(converted["t"]), "--format", "safetensors", "--out", str(tmp_path / "folder")])
    generator, _ = load_generator(converted["t"])
    z = torch.randn(3, 8)
    assert torch.equal(gan_lightning.load_pretrained(tmp_path / "folder")(z, truncation_psi=0.6), generator(z, truncation_psi=0.6))


@pytest.mark.slow  # the ONNX export alone takes about a minute on a loaded CPU
@torch.no_grad()
def test_onnx_and_torch_export_of_a_stylegan3_checkpoint_make_the_same_images(converted: dict[str, Path], tmp_path: Path) -> None:
    outs = {"onnx": tmp_path / "g.onnx", "torch-export": tmp_path / "g.pt2"}
    for fmt, out in outs.items():
        main(["export", "--ckpt", str(converted["t"]), "--format", fmt, "--out", str(out)])
    generator, _ = load_generator(converted["t"])
    z, psi = torch.randn(3, 8), torch.tensor(0.6)
    expected = generator(z, truncation_psi=0.6)
    assert torch.allclose(torch.export.load(outs["torch-export"]).module()(z, psi), expected, atol=1e-4)
    session = onnxruntime.InferenceSession(str(outs["onnx"]))
    onnx_image = session.run(None, {"z": z.numpy(), "psi": psi.numpy()})[0]
    assert numpy.abs(onnx_image - expected.numpy()).max() <= 1e-4
