"""Official R3GAN snapshot pickles (tests/assets/r3gan, written by benchmarks/r3gan_fixture.py with
brownvc/R3GAN's own classes) convert to R3GAN checkpoints that make their images, work with the
tools, and are read without running anything the file names."""

from __future__ import annotations

import os
import pickle
import sys
import types
from pathlib import Path

import pytest
import torch
from lightning.pytorch import Callback, Trainer

from gan_lightning.checkpoints.formats.r3gan import CLASSES, R3GANUnpickler
from gan_lightning.checkpoints.reading import load_checkpoint, load_generator
from gan_lightning.core.nets.r3gan import R3GANDiscriminator, R3GANDiscriminatorConfig
from gan_lightning.data import ShapesDataModule
from gan_lightning.training.models import R3GAN
from tests.conftest import REPO, run_cli
from tests.helpers.nvlabs_pickles import Persistent, _stand_in_modules

ASSETS = REPO / "tests" / "assets" / "r3gan"
FIXTURES = ("tiny", "tiny_conditional")


@pytest.fixture(scope="module")
def outputs() -> dict:
    return torch.load(ASSETS / "outputs.pt", weights_only=True)


def converted(name: str, folder: Path) -> Path:
    out = folder / f"{name}.ckpt"
    if not out.exists():
        run_cli("convert", "--from", "r3gan", ASSETS / f"{name}.pkl", "--out", out)
    return out


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return converted("tiny", tmp_path_factory.mktemp("r3gan_convert"))


@pytest.mark.parametrize("name", FIXTURES)
def test_their_pickles_convert_to_the_same_images_and_logits(name: str, outputs: dict, tmp_path: Path) -> None:
    expected = outputs[name]
    c = expected.get("c")
    checkpoint_path = converted(name, tmp_path)
    checkpoint = load_checkpoint(checkpoint_path)
    assert checkpoint["algorithm"] == "R3GAN"
    hp = checkpoint["hyper_parameters"]
    for use_ema, key in ((True, "G_ema"), (False, "G")):
        generator, _ = load_generator(checkpoint_path, use_ema=use_ema)
        with torch.no_grad():
            images = generator(expected["z"], c)
        assert images.abs().max() > 0.1  # perturbed weights: not the zero-started blocks' identity
        # A bfloat16 stage rounds to 8 significant bits, and CPUs differ in how they accumulate
        # bfloat16 products (on one with AMX, 4 of 2304 values of G_ema came out one bfloat16 step
        # away, 2**-9 at 0.42, all others equal): one step, 2**-7 of the value, is allowed there.
        rtol = 2.0**-7 if hp["generator"]["bf16_stages"] > 0 else 0.0
        torch.testing.assert_close(images, expected[key], rtol=rtol, atol=1e-4)
    discriminator = R3GANDiscriminator(R3GANDiscriminatorConfig(**hp["discriminator"]), hp["channels"])
    discriminator.load_state_dict({k.removeprefix("discriminator."): v for k, v in checkpoint["state_dict"].items() if k.startswith("discriminator.")})
    with torch.no_grad():
        torch.testing.assert_close(discriminator.eval()(expected["images"], c), expected["D"], rtol=0, atol=1e-4)


def test_the_settings_are_read_off_their_networks(tmp_path: Path) -> None:
    hp = load_checkpoint(converted("tiny_conditional", tmp_path))["hyper_parameters"]
    assert (hp["resolution"], hp["channels"], hp["num_classes"]) == (16, 3, 3)
    g, d = hp["generator"], hp["discriminator"]
    assert (tuple(g["widths"]), tuple(g["blocks"]), g["z_dim"], g["embedding_dim"], g["bf16_stages"]) == ((8, 4, 4), (1, 0, 1), 8, 8, 1)
    assert (tuple(d["widths"]), tuple(d["cardinalities"][:1]), d["embedding_dim"], d["bf16_stages"]) == ((8, 4, 4), (2,), 8, 1)


def test_generate_and_export_work_on_a_converted_pickle(tiny: Path, tmp_path: Path) -> None:
    run_cli("generate", "--ckpt", tiny, "--num", "2", "--out", f"{tmp_path / 'images'}/")
    assert len(list((tmp_path / "images").glob("*.png"))) == 2
    run_cli("export", "--ckpt", tiny, "--format", "safetensors", "--out", tmp_path / "folder")
    generator, _ = load_generator(tiny)
    reloaded, _ = load_generator(tmp_path / "folder")
    z = torch.randn(2, generator.z_dim)
    with torch.no_grad():
        torch.testing.assert_close(reloaded(z), generator(z), rtol=0, atol=0)


@pytest.mark.slow  # the ONNX export traces for several seconds on a CPU
def test_onnx_export_of_a_converted_pickle_gives_the_same_images(tiny: Path, tmp_path: Path) -> None:
    onnxruntime = pytest.importorskip("onnxruntime")
    run_cli("export", "--ckpt", tiny, "--format", "onnx", "--out", tmp_path / "generator.onnx")
    generator, _ = load_generator(tiny)
    z = torch.randn(2, generator.z_dim)
    session = onnxruntime.InferenceSession(str(tmp_path / "generator.onnx"))
    (images,) = session.run(None, {session.get_inputs()[0].name: z.numpy()})
    with torch.no_grad():
        assert abs(torch.from_numpy(images) - generator(z)).max() < 1e-4


def test_evaluate_works_on_a_converted_pickle(tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run_cli("evaluate", "--ckpt", tiny, "--detector", "shapes", "--num-gen", "16", "--batch-size", "8", "--cache-dir", tmp_path,
            "--data", "ShapesDataModule", "--data.resolution", "16", "--data.num_train", "16", "--data.num_workers", "0",
            "--metrics", "fid50k_full")  # fmt: skip
    assert "fid50k_full" in capsys.readouterr().out


def test_init_from_fine_tunes_from_a_converted_pickle(tiny: Path, tmp_path: Path) -> None:
    started = {}

    class Weights(Callback):
        def on_train_start(self, trainer, pl_module) -> None:
            started.update({k: v.clone() for k, v in pl_module.state_dict().items() if k.split(".")[0] in ("generator", "generator_ema", "discriminator")})

    hp = load_checkpoint(tiny)["hyper_parameters"]
    model = R3GAN(resolution=16, generator=hp["generator"], discriminator=hp["discriminator"], init_from=str(tiny), fid_features="shapes", num_fixed_samples=2)
    Trainer(default_root_dir=tmp_path, logger=False, enable_checkpointing=False, enable_progress_bar=False, max_epochs=1, limit_train_batches=1, limit_val_batches=0,
            num_sanity_val_steps=0, accelerator="cpu", callbacks=[Weights()]).fit(model, ShapesDataModule(resolution=16, num_train=8, batch_size=4, num_workers=0))  # fmt: skip
    stored = load_checkpoint(tiny)["state_dict"]
    assert started and all(torch.equal(value, stored[key]) for key, value in started.items())
    assert {k.split(".")[0] for k in started} == {"generator", "generator_ema", "discriminator"}


# --- untrusted files -------------------------------------------------------------------------------


def test_a_clone_whose_code_would_touch_a_file_is_never_imported(tmp_path: Path, monkeypatch) -> None:
    """Their loader imports the classes the pickle names (training.networks ...): from a malicious
    checkout on the path that runs code. Converting imports nothing."""
    marker = tmp_path / "pwned.txt"
    package = tmp_path / "clone" / "training"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "networks.py").write_text(f"open({str(marker)!r}, 'w').write('the pickle ran code')\n")
    monkeypatch.syspath_prepend(str(tmp_path / "clone"))
    for module in ("training", "training.networks"):
        monkeypatch.delitem(sys.modules, module, raising=False)
    out = tmp_path / "converted.ckpt"
    run_cli("convert", "--from", "r3gan", ASSETS / "tiny.pkl", "--out", out)
    run_cli("generate", "--ckpt", out, "--num", "1", "--out", tmp_path / "g.png")
    assert out.is_file() and not marker.exists()
    # The fixture is live: the ordinary unpickler imports that module, which makes the file (then
    # misses its Generator class).
    with pytest.raises(AttributeError), (ASSETS / "tiny.pkl").open("rb") as file:
        pickle.load(file)
    assert marker.exists()


class _AsTheirClasses(R3GANUnpickler):
    """Reads a fixture into stand-ins of their classes (and torch's own), so that a test can change
    the networks and pickle them again under the same class names."""

    def __init__(self, file, stand_ins: dict[str, types.ModuleType]) -> None:
        super().__init__(file)
        self.stand_ins = stand_ins

    def find_class(self, module: str, name: str):
        if module.startswith("torch.nn."):
            return pickle.Unpickler.find_class(self, module, name)
        if name in CLASSES.get(module, ()):
            return getattr(self.stand_ins[module], name)
        return super().find_class(module, name)


def _stand_ins() -> dict[str, types.ModuleType]:
    modules = {}
    for module, names in CLASSES.items():
        if module.startswith("torch."):
            continue
        stand_in = types.ModuleType(module)
        for name in names:
            setattr(stand_in, name, type(name, (), {"__module__": module, "__qualname__": name}))
        modules[module] = stand_in
    modules["training"], modules["R3GAN"] = types.ModuleType("training"), types.ModuleType("R3GAN")
    return modules


class CallsSystem:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def _malicious_copy(path: Path, change, monkeypatch) -> Path:
    stand_ins = {**_stand_ins(), **_stand_in_modules()}
    for name, module in stand_ins.items():
        monkeypatch.setitem(sys.modules, name, module)
    with (ASSETS / "tiny.pkl").open("rb") as file:
        snapshot = _AsTheirClasses(file, stand_ins).load()
    change(snapshot)
    with path.open("wb") as file:
        pickle.dump(snapshot, file)
    return path


@pytest.mark.parametrize("case", ["os.system in a network", "persistent object with source", "class outside the list"])
def test_a_copy_that_would_run_code_is_refused_in_one_line(case: str, tmp_path: Path, monkeypatch, capsys) -> None:
    marker = tmp_path / "pwned.txt"
    source = f"open({str(marker)!r}, 'w').write('the pickle ran code')\n"

    def change(snapshot: dict) -> None:
        stages = snapshot["G_ema"]._modules["Model"]._modules["MainLayers"]._modules
        if case == "os.system in a network":
            stages["0"] = CallsSystem(f"touch {marker}")
        elif case == "persistent object with source":
            snapshot["G_ema"] = Persistent("Generator", dict(snapshot["G_ema"].__dict__), source)
        else:
            evil = type("Evil", (), {"__module__": "R3GAN.Networks", "__qualname__": "Evil"})
            sys.modules["R3GAN.Networks"].Evil = evil
            stages["0"] = evil()

    copy = _malicious_copy(tmp_path / "evil.pkl", change, monkeypatch)
    if case == "persistent object with source":  # the fixture is live: NVlabs' loader exec()s this text
        exec(compile(source, "snapshot", "exec"), {})
        assert marker.exists()
        marker.unlink()
    out = tmp_path / "o.ckpt"
    with pytest.raises(SystemExit) as exit_info:
        run_cli("convert", "--from", "r3gan", copy, "--out", out)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err
    expected = {"os.system in a network": f"{os.system.__module__}.system", "persistent object with source": "only training.networks.Generator",
                "class outside the list": "R3GAN.Networks.Evil"}[case]  # fmt: skip
    assert expected in err, err
    assert not marker.exists() and not out.exists()


def test_an_unchanged_round_trip_of_the_fixture_still_converts(tmp_path: Path, monkeypatch, outputs: dict) -> None:
    """The malicious copies above differ from a readable file only in what they change."""
    copy = _malicious_copy(tmp_path / "same.pkl", lambda snapshot: None, monkeypatch)
    out = tmp_path / "o.ckpt"
    run_cli("convert", "--from", "r3gan", copy, "--out", out)
    generator, _ = load_generator(out)
    with torch.no_grad():
        torch.testing.assert_close(generator(outputs["tiny"]["z"]), outputs["tiny"]["G_ema"], rtol=0, atol=1e-4)


def test_files_that_are_not_r3gan_pickles_get_one_line(tmp_path: Path, capsys) -> None:
    text = tmp_path / "notes.pkl"
    text.write_text("not a pickle")
    weights, number = tmp_path / "weights.pkl", tmp_path / "number.pkl"
    with weights.open("wb") as file:
        pickle.dump({"state_dict": {}}, file)
    with number.open("wb") as file:
        pickle.dump({"G_ema": 3}, file)
    cases = {text: "cannot read", weights: "is not an R3GAN snapshot pickle", number: "generator is int; only training.networks.Generator",
             tmp_path / "missing.pkl": "does not exist"}  # fmt: skip
    for path, expected in cases.items():
        with pytest.raises(SystemExit):
            run_cli("convert", "--from", "r3gan", path, "--out", tmp_path / "o.ckpt")
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and expected in err, err


def test_their_pickle_given_as_nvlabs_names_from_r3gan(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit):
        run_cli("convert", "--from", "nvlabs", ASSETS / "tiny.pkl", "--out", tmp_path / "o.ckpt")
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "is an official R3GAN snapshot pickle; convert it with --from r3gan" in err, err
