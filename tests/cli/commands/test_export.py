"""`export`: each algorithm to a model folder, ONNX and torch.export; reloaded without Lightning and
without pickle they make the same images; every tool takes a folder; what cannot be exported says so."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gan_lightning.checkpoints.reading import load_generator
from gan_lightning.core.nets.stylegan2 import Generator, GeneratorConfig
from tests.conftest import ASSETS, REPO, run_cli

CHECKPOINTS = {
    "VanillaGAN": ASSETS / "v0_vanilla_gan.ckpt",
    "StyleGAN": ASSETS / "v0_stylegan.ckpt",
    "StyleTransfer": ASSETS / "v0_style_transfer.ckpt",
}
TOLERANCE = 1e-3


def fixed_inputs(algorithm: str) -> dict[str, np.ndarray]:
    """Inputs other than the ones export traced with: batch 3, and for images a non-square size."""
    rng = np.random.default_rng(7)
    if algorithm == "StyleTransfer":
        return {"x": rng.uniform(-1, 1, (3, 3, 20, 28)).astype(np.float32)}
    generator, _ = load_generator(CHECKPOINTS[algorithm])
    inputs = {"z": rng.standard_normal((3, generator.z_dim)).astype(np.float32)}
    if algorithm == "StyleGAN":
        inputs["psi"] = np.array(0.6, dtype=np.float32)
    return inputs


@torch.no_grad()
def original_images(algorithm: str, inputs: dict[str, np.ndarray]) -> torch.Tensor:
    """What the generator read from the training checkpoint makes of ``inputs``."""
    generator, _ = load_generator(CHECKPOINTS[algorithm])
    if algorithm == "StyleTransfer":
        return generator(torch.from_numpy(inputs["x"]))
    z = torch.from_numpy(inputs["z"])
    if algorithm == "StyleGAN":
        return generator(z, truncation_psi=float(inputs["psi"]), noise_mode="const")
    return generator(z)


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> dict[str, dict[str, Path]]:
    """Each algorithm exported to each format once: {algorithm: {format: path}}."""
    root = tmp_path_factory.mktemp("exported")
    paths: dict[str, dict[str, Path]] = {}
    for algorithm, checkpoint in CHECKPOINTS.items():
        paths[algorithm] = {
            "safetensors": root / algorithm / "folder",
            "onnx": root / algorithm / "generator.onnx",
            "torch-export": root / algorithm / "generator.pt2",
        }
        for fmt, out in paths[algorithm].items():
            run_cli("export", "--ckpt", checkpoint, "--format", fmt, "--out", out)
    return paths


RELOAD = """
import json, sys
import numpy as np, onnxruntime, torch
import gan_lightning
paths, inputs, out = json.loads(sys.argv[1]), np.load(sys.argv[2]), {}
for algorithm, files in paths.items():
    feed = {k.split('/')[1]: inputs[k] for k in inputs.files if k.startswith(algorithm + '/')}
    generator = gan_lightning.load_pretrained(files['safetensors'])
    tensors = {k: torch.from_numpy(v) for k, v in feed.items()}
    with torch.no_grad():
        if algorithm == 'StyleTransfer':
            out[algorithm + '/folder'] = generator(tensors['x']).numpy()
        elif algorithm == 'StyleGAN':
            out[algorithm + '/folder'] = generator(tensors['z'], truncation_psi=float(tensors['psi']), noise_mode='const').numpy()
        else:
            out[algorithm + '/folder'] = generator(tensors['z']).numpy()
        out[algorithm + '/torch-export'] = torch.export.load(files['torch-export']).module()(*tensors.values()).numpy()
    out[algorithm + '/onnx'] = onnxruntime.InferenceSession(files['onnx']).run(None, feed)[0]
np.savez(sys.argv[3], **out)
heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('lightning', 'pytorch_lightning', 'torchmetrics', 'wandb'))
assert not heavy, heavy
assert not any(m.startswith('gan_lightning.training.models') or m.startswith('gan_lightning.cli.commands') for m in sys.modules)
print('reloaded without the training stack')
"""


def test_exported_models_reload_without_lightning_and_make_the_same_images(exported, tmp_path):
    """All three formats of all three algorithms, loaded in a fresh process with plain torch,
    onnxruntime and gan_lightning.load_pretrained: images equal the training checkpoint's."""
    inputs = {f"{algorithm}/{name}": array for algorithm in CHECKPOINTS for name, array in fixed_inputs(algorithm).items()}
    np.savez(tmp_path / "inputs.npz", **inputs)
    paths = {algorithm: {fmt: str(p) for fmt, p in files.items()} for algorithm, files in exported.items()}
    result = subprocess.run(
        [sys.executable, "-c", RELOAD, json.dumps(paths), tmp_path / "inputs.npz", tmp_path / "out.npz"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "reloaded without the training stack" in result.stdout
    outputs = np.load(tmp_path / "out.npz")
    for algorithm in CHECKPOINTS:
        expected = original_images(algorithm, fixed_inputs(algorithm)).numpy()
        assert np.array_equal(outputs[f"{algorithm}/folder"], expected), algorithm  # same weights, same code
        for fmt in ("onnx", "torch-export"):
            actual = outputs[f"{algorithm}/{fmt}"]
            assert actual.shape == expected.shape, (algorithm, fmt)
            assert np.abs(actual - expected).max() <= TOLERANCE, (algorithm, fmt, np.abs(actual - expected).max())


def test_model_folder_holds_only_safetensors_json_a_card_and_a_sample(exported):
    for algorithm, files in exported.items():
        folder = files["safetensors"]
        names = {p.name for p in folder.iterdir()}
        expected = {"model.safetensors", "config.json", "README.md"} | ({"sample.png"} if algorithm != "StyleTransfer" else set())
        assert names == expected, algorithm
        weights = (folder / "model.safetensors").read_bytes()
        # safetensors: 8-byte little-endian header length, then a JSON header, then raw tensor bytes.
        header_length = int.from_bytes(weights[:8], "little")
        header = json.loads(weights[8 : 8 + header_length])
        assert all(set(entry) == {"dtype", "shape", "data_offsets"} for key, entry in header.items() if key != "__metadata__")
        for name in names - {"sample.png"}:
            data = (folder / name).read_bytes()
            assert not data.startswith((b"\x80", b"PK\x03\x04")), f"{name} looks like a pickle or a torch.save zip"
        config = json.loads((folder / "config.json").read_text())
        assert config["algorithm"] == algorithm and config["format_version"] == 1


def test_model_card_names_the_training_settings_metrics_and_sample(exported):
    card = (exported["StyleGAN"]["safetensors"] / "README.md").read_text()
    assert "# StyleGAN generator" in card
    assert "| val/fid (best) | 4494.59 |" in card  # what the checkpoint's ModelCheckpoint recorded
    assert '"r1_gamma": 0.05' in card and "![sample: seeds 0-15](sample.png)" in card
    assert Image.open(exported["StyleGAN"]["safetensors"] / "sample.png").size == (4 * 32 + 5 * 2,) * 2


def test_every_tool_takes_a_model_folder_in_place_of_a_checkpoint(exported, tmp_path):
    folder, checkpoint = exported["StyleGAN"]["safetensors"], CHECKPOINTS["StyleGAN"]
    run_cli("generate", "--ckpt", folder, "--num", "4", "--truncation", "0.7", "--out", tmp_path / "from_folder.png")
    run_cli("generate", "--ckpt", checkpoint, "--num", "4", "--truncation", "0.7", "--out", tmp_path / "from_ckpt.png")
    assert np.array_equal(np.asarray(Image.open(tmp_path / "from_folder.png")), np.asarray(Image.open(tmp_path / "from_ckpt.png")))
    run_cli("style-mix", "--ckpt", folder, "--rows", "1", "--cols", "2", "--styles", "0-1", "--out", tmp_path / "mix.png")
    run_cli("interpolate", "--ckpt", folder, "--seeds", "1,2", "--steps", "2", "--out", tmp_path / "walk.gif")
    run_cli("export", "--ckpt", folder, "--format", "safetensors", "--out", tmp_path / "again")  # a folder re-exports
    Image.new("RGB", (24, 20), (200, 40, 10)).save(tmp_path / "photo.png")
    run_cli("stylize", "--ckpt", exported["StyleTransfer"]["safetensors"], "--input", tmp_path / "photo.png", "--out", tmp_path / "st")
    assert Image.open(tmp_path / "st" / "photo.png").size == (24, 20)
    assert {p.name for p in tmp_path.iterdir()} >= {"mix.png", "walk.gif", "again"}


def test_onnx_mapping_and_synthesis_mix_styles_like_the_generator(exported):
    import onnxruntime

    onnx_path = exported["StyleGAN"]["onnx"]
    mapping = onnxruntime.InferenceSession(str(onnx_path.with_name("generator.mapping.onnx")))
    synthesis = onnxruntime.InferenceSession(str(onnx_path.with_name("generator.synthesis.onnx")))
    generator, _ = load_generator(CHECKPOINTS["StyleGAN"])
    z = np.random.default_rng(3).standard_normal((2, generator.z_dim)).astype(np.float32)
    (ws,) = mapping.run(None, {"z": z, "psi": np.array(1.0, dtype=np.float32)})
    mixed = np.concatenate([ws[:1, :2], ws[1:, 2:]], axis=1)  # coarse styles of the first, fine of the second
    (image,) = synthesis.run(None, {"ws": mixed})
    with torch.no_grad():
        expected = generator.synthesis(torch.from_numpy(mixed), noise_mode="const")
    assert np.abs(image - expected.numpy()).max() <= TOLERANCE


def test_the_any_size_graph_is_the_generator_also_when_residual_gated_or_noisy():
    """``StyleTransferImage`` pads its own way and must give ``forward``'s output, residual and
    contrast gate included (an export once left them out and checked itself against itself)."""
    from gan_lightning.checkpoints.export.graphs import StyleTransferImage
    from gan_lightning.core.nets.resnet import ResnetGenerator

    torch.manual_seed(0)
    for settings in (dict(), dict(residual=True), dict(residual=True, contrast_gate=2.0), dict(residual=True, noise=0.5)):
        generator = ResnetGenerator(ngf=8, n_blocks=1, init_gain=1.0, **settings).eval()
        if generator.residual:  # its last convolution starts at zero: the identity
            torch.nn.init.normal_(generator.decoder[-1].weight, std=0.1)
        for height, width in ((9, 13), (20, 23)):
            x = torch.rand(2, 3, height, width) * 2 - 1
            noise = (torch.randn(2, 3, height, width),) if generator.noise else ()
            with torch.no_grad():
                torch.testing.assert_close(StyleTransferImage(generator)(x, *noise), generator(x, *noise), rtol=0, atol=1e-6)


def test_onnx_style_transfer_takes_any_image_size(exported):
    import onnxruntime

    session = onnxruntime.InferenceSession(str(exported["StyleTransfer"]["onnx"]))
    generator, _ = load_generator(CHECKPOINTS["StyleTransfer"])
    for height, width in ((9, 13), (21, 30), (33, 8)):  # H mod 4 = 1, 1, 1 and W mod 4 = 1, 2, 0
        x = torch.rand(2, 3, height, width, generator=torch.Generator().manual_seed(height)) * 2 - 1
        (image,) = session.run(None, {"x": x.numpy()})
        with torch.no_grad():
            expected = generator(x)
        assert image.shape == (2, 3, height, width) and np.abs(image - expected.numpy()).max() <= TOLERANCE


def test_push_to_hub_uploads_the_model_folder(exported, tmp_path, monkeypatch):
    """Offline: huggingface_hub's client is replaced by one that 'uploads' into a local folder."""
    import huggingface_hub

    hub = tmp_path / "hub"

    class LocalHub:
        def create_repo(self, repo_id, repo_type, private, exist_ok):
            (hub / repo_id).mkdir(parents=True, exist_ok=exist_ok)
            return f"local://{repo_id}"

        def upload_folder(self, folder_path, repo_id, repo_type, commit_message):
            shutil.copytree(folder_path, hub / repo_id, dirs_exist_ok=True)

    monkeypatch.setattr(huggingface_hub, "HfApi", LocalHub)
    run_cli("export", "--ckpt", CHECKPOINTS["VanillaGAN"], "--format", "safetensors", "--out", tmp_path / "m", "--push-to-hub", "me/dcgan")
    assert {p.name for p in (hub / "me" / "dcgan").iterdir()} == {p.name for p in (tmp_path / "m").iterdir()}


def conditional_stylegan(path: Path) -> Path:
    config = GeneratorConfig(z_dim=8, w_dim=8, mapping_layers=1, channel_base=128, channel_max=8, c_dim=2)
    state = {f"generator.{k}": v for k, v in Generator(32, 3, config).state_dict().items()}
    hparams = {"resolution": 32, "channels": 3, "generator": dataclasses.asdict(config)}
    torch.save({"algorithm": "StyleGAN", "hyper_parameters": hparams, "state_dict": state}, path)
    return path


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--format", "onnx", "--out", "{tmp}/g.pt2"], "--format onnx writes a .onnx file"),
        (["--format", "torch-export", "--out", "{tmp}/g.onnx"], "--format torch-export writes a .pt2 file"),
        (["--format", "safetensors", "--out", "{tmp}/full"], "is a folder that is not empty"),
        (["--format", "onnx", "--out", "{tmp}/g.onnx", "--push-to-hub", "me/x"], "--push-to-hub publishes a model folder"),
        (["--format", "safetensors", "--out", "{tmp}/new", "--push-to-hub", "no-owner"], "is not a repository id"),
        (["--format", "onnx", "--out", "{tmp}/full/keep.txt.onnx"], "already exists; pass --overwrite"),
    ],
)
def test_bad_export_requests_stop_with_one_line(arguments, message, tmp_path, capsys):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    (tmp_path / "full" / "keep.txt.onnx").write_text("mine too")
    with pytest.raises(SystemExit) as exit_info:
        run_cli("export", "--ckpt", CHECKPOINTS["VanillaGAN"], *[a.format(tmp=tmp_path) for a in arguments])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"
    assert (tmp_path / "full" / "keep.txt.onnx").read_text() == "mine too"


def test_a_conditional_stylegan_names_what_cannot_be_exported(tmp_path, capsys):
    with pytest.raises(SystemExit):
        run_cli("export", "--ckpt", conditional_stylegan(tmp_path / "c.ckpt"), "--format", "onnx", "--out", tmp_path / "c.onnx")
    assert "class-conditional (c_dim=2)" in capsys.readouterr().err
    assert not (tmp_path / "c.onnx").exists()


def test_a_folder_that_is_not_a_model_folder_is_named(tmp_path, capsys):
    with pytest.raises(SystemExit):
        run_cli("generate", "--ckpt", tmp_path, "--out", tmp_path / "g.png")
    assert "is not a model folder: it needs config.json and model.safetensors" in capsys.readouterr().err


def test_a_residual_generator_that_draws_noise_exports_with_a_noise_input_and_matches_its_forward(tmp_path):
    """The fast neural preset's generator (residual, ``generator.noise``): ONNX and torch.export
    take the noise as an input and give what ``generator(x, noise)`` gives; the model folder
    draws it, the same for every image in ``stylize``."""
    import onnxruntime
    from gan_lightning.training.models.style_transfer import StyleTransfer

    model = StyleTransfer(resolution=32, generator=dict(width=8, blocks=1, residual=True, noise=0.5), style_network=dict(width=8), num_patches=16, lambda_gan=0.0, lambda_nce=0.0, nce_identity=False, lambda_style=1.0, perceptual=dict(width=8))
    torch.nn.init.normal_(model.generator.decoder[-1].weight, std=0.1)  # as after training: the noise shows
    checkpoint = tmp_path / "noisy.ckpt"
    torch.save({"algorithm": "StyleTransfer", "hyper_parameters": dict(model.hparams), "state_dict": model.state_dict()}, checkpoint)
    generator = model.generator.eval()
    for fmt, out in (("onnx", "n.onnx"), ("torch-export", "n.pt2")):
        run_cli("export", "--ckpt", checkpoint, "--format", fmt, "--out", tmp_path / out)
    onnx = onnxruntime.InferenceSession(str(tmp_path / "n.onnx"))
    assert onnx.get_modelmeta().custom_metadata_map["noise"] == "standard normal, (N, 3, H, W) of x"
    program = torch.export.load(str(tmp_path / "n.pt2")).module()
    rng = torch.Generator().manual_seed(0)
    for height, width in ((21, 30), (24, 36)):  # torch.export: multiples of 4 only
        x = torch.rand(2, 3, height, width, generator=rng) * 2 - 1
        noise = torch.randn(2, 3, height, width, generator=rng)
        with torch.no_grad():
            expected = generator(x, noise)
            assert (expected - generator(x, torch.randn(2, 3, height, width, generator=rng))).abs().max() > 0.01  # the input is used
            (image,) = onnx.run(None, {"x": x.numpy(), "noise": noise.numpy()})
            assert np.abs(image - expected.numpy()).max() <= TOLERANCE
            if height % 4 == 0:
                assert (program(x, noise) - expected).abs().max() <= TOLERANCE
    run_cli("export", "--ckpt", checkpoint, "--format", "safetensors", "--out", tmp_path / "folder")
    photo = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(photo)
    for out in ("a", "b"):
        run_cli("stylize", "--ckpt", tmp_path / "folder", "--input", photo, "--out", tmp_path / out, "--photo-size", "0")
    assert (tmp_path / "a" / "photo.png").read_bytes() == (tmp_path / "b" / "photo.png").read_bytes()  # the same noise each time
