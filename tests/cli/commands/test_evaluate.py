"""`python -m gan_lightning evaluate`: the five StyleGAN metrics for a checkpoint, offline, as JSON
lines and a summary; the real set's features are cached; local weights and their one-line errors;
StyleGAN3's equivariance metrics, without data, and their error for generators without them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from gan_lightning.checkpoints.reading import load_generator
from gan_lightning.common.errors import UserError
from gan_lightning.evaluation import suite as suite_module
from gan_lightning.evaluation.detectors import VGG16_FILE, LPIPSDistance, build_detector
from gan_lightning.evaluation.equivariance import equivariance_psnr
from tests.conftest import ASSETS, REPO, run_cli

SMALL_DATA = ["--data", "ShapesDataModule", "--data.num_train", "24", "--data.num_workers", "0"]


def evaluate(tmp_path: Path, *args: str) -> None:
    run_cli("evaluate", "--detector", "shapes", "--num-gen", "20", "--batch-size", "8", "--cache-dir", tmp_path / "cache", *args)


def test_evaluate_all_five_metrics_of_a_stylegan_checkpoint_offline(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "metrics.jsonl"
    metrics = "fid50k_full,kid50k_full,pr50k3_full,ppl2_wend,is50k"
    evaluate(tmp_path, "--ckpt", ASSETS / "v0_stylegan.ckpt", *SMALL_DATA, "--metrics", metrics, "--out", out)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["metric"] for r in records] == metrics.split(",")
    results = {k: v for r in records for k, v in r["results"].items()}
    assert set(results) == {"fid50k_full", "kid50k_full", "pr50k3_full_precision", "pr50k3_full_recall", "ppl2_wend", "is50k_mean", "is50k_std"}
    assert all(torch.isfinite(torch.tensor(v)) for v in results.values())
    assert results["fid50k_full"] > 0 and results["ppl2_wend"] > 0 and results["is50k_mean"] >= 1
    fid = records[0]
    assert fid["settings"]["num_gen"] == 20 and fid["settings"]["num_real"] == 24 and not fid["settings"]["paper_protocol"]
    assert fid["snapshot"].endswith("v0_stylegan.ckpt") and fid["timestamp"] > 0
    summary = capsys.readouterr().out.strip().splitlines()[-1]
    assert summary.startswith("v0_stylegan.ckpt: fid50k_full") and "not the paper protocol" in summary


def test_a_second_evaluation_reads_the_real_features_from_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    args = ["--ckpt", ASSETS / "v0_vanilla_gan.ckpt", *SMALL_DATA, "--metrics", "fid50k_full", "--out", tmp_path / "m.jsonl"]
    evaluate(tmp_path, *args)
    assert len(list((tmp_path / "cache").glob("ShapesDataModule-*-32px-shapes-classifier-24.pt"))) == 1

    calls = []
    extract = suite_module.extract_features
    monkeypatch.setattr(suite_module, "extract_features", lambda *a, **k: calls.append(a[-1]) or extract(*a, **k))
    evaluate(tmp_path, *args)
    assert calls == ["generated (shapes-classifier)"]  # the real set's features came from the cache
    first, second = (json.loads(line)["results"]["fid50k_full"] for line in (tmp_path / "m.jsonl").read_text().splitlines())
    assert first == pytest.approx(second)  # seeded images: the same figure again

    evaluate(tmp_path, *args[:-4], "--data.num_train", "28", "--metrics", "fid50k_full")  # other data: not the cached features
    assert calls[-1] == "real (shapes-classifier)"


def test_a_style_transfer_checkpoint_is_scored_against_the_style_images(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data = ["--data", "ShapesStyleDataModule", "--data.num_val", "12", "--data.resolution", "32", "--data.num_workers", "0"]
    run_cli("evaluate", "--ckpt", ASSETS / "v0_style_transfer.ckpt", *data, "--detector", "shapes", "--cache-dir", tmp_path, "--metrics", "fid50k_full")
    record = json.loads(capsys.readouterr().out.splitlines()[0])
    assert record["settings"]["num_gen"] == 12 and record["settings"]["num_real"] == 12


@pytest.mark.parametrize(
    "args, message",
    [
        (["--metrics", "fid50k"], "unknown metric fid50k; allowed: fid50k_full, kid50k_full, pr50k3_full, ppl2_wend, is50k"),
        (["--metrics", "fid50k_full"], "give the data as in fit"),
        (["--metrics", "fid50k_full", *SMALL_DATA, "--weights-dir", "{tmp}"], "weights-inception-2015-12-05-6726825d.pth' not found: download https://"),
        (["--metrics", "is50k", "--detector", "resnet"], "unknown detector 'resnet'; allowed: inception, shapes"),
        (["--metrics", "fid50k_full,eqt50k_int", *SMALL_DATA], "eqt50k_int needs a StyleGAN3 generator (its Fourier-feature input is what"),
    ],
)
def test_bad_evaluate_input_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture, args: list[str], message: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run_cli("evaluate", "--ckpt", ASSETS / "v0_vanilla_gan.ckpt", "--num-gen", "10", *[a.format(tmp=tmp_path) for a in args])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err


def test_ppl_of_a_translation_checkpoint_is_a_clear_error(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        run_cli("evaluate", "--ckpt", ASSETS / "v0_style_transfer.ckpt", "--metrics", "ppl2_wend")
    assert "metric ppl2_wend needs a latent generator" in capsys.readouterr().err


def test_offline_without_weights_is_one_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import torch_fidelity.feature_extractor_inceptionv3 as fe

    def offline(*args, **kwargs):
        raise OSError("<urlopen error [Errno -3] Temporary failure in name resolution>")

    monkeypatch.setattr(fe, "load_state_dict_from_url", offline)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(UserError, match="could not get the Inception weights.*--weights-dir DIR"):
        build_detector("inception", "inception")


def test_ppl_reads_its_vgg16_backbone_from_the_weights_folder(tmp_path: Path) -> None:
    """LPIPS' linear layers ship with torchmetrics; its VGG16 backbone comes from --weights-dir."""
    from torchmetrics.functional.image.lpips import _LPIPS

    slices = _LPIPS(pretrained=False, net="vgg", pnet_rand=True).net.state_dict()  # "sliceK.I.weight"
    torch.manual_seed(0)
    weights = {f"features.{key.split('.', 1)[1]}": torch.randn_like(value) for key, value in slices.items()}
    torch.save(weights, tmp_path / VGG16_FILE)

    distance = LPIPSDistance(str(tmp_path / VGG16_FILE))
    loaded = distance.network.net.state_dict()
    assert all(torch.equal(loaded[key], weights[f"features.{key.split('.', 1)[1]}"]) for key in slices)
    a, b = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    assert distance(a, b).shape == (2,) and torch.all(distance(a, a) == 0)


def test_evaluate_reads_the_data_of_a_fit_preset(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The same --config as fit (its model and trainer are read and ignored), overridden as in fit."""
    preset = REPO / "configs" / "vanilla_gan.yaml"
    evaluate(tmp_path, "--ckpt", ASSETS / "v0_vanilla_gan.ckpt", "--config", preset, "--data.init_args.num_train", "16",
             "--data.init_args.num_workers", "0")  # fmt: skip
    record = json.loads(capsys.readouterr().out.splitlines()[0])
    assert record["metric"] == "fid50k_full" and record["settings"]["num_real"] == 16


def test_equivariance_metrics_of_a_converted_stylegan3_checkpoint_need_no_data(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    ckpt = tmp_path / "t.ckpt"
    run_cli("convert", ASSETS / "nvlabs_stylegan3_t32.pkl", "--from", "nvlabs", "--out", ckpt)
    capsys.readouterr()
    metrics = "eqt50k_int,eqt50k_frac,eqr50k"
    run_cli("evaluate", "--ckpt", ckpt, "--metrics", metrics, "--num-gen", "6", "--accelerator", "cpu")
    lines = capsys.readouterr().out.strip().splitlines()
    records = [json.loads(line) for line in lines[:3]]
    assert [r["metric"] for r in records] == metrics.split(",")
    generator, _ = load_generator(ckpt)
    for record in records:
        name = record["metric"]
        assert record["results"][name] == pytest.approx(equivariance_psnr(generator, name, 6), abs=1e-9)
        assert record["settings"] == {"num_gen": 6, "num_real": 0, "detector": None, "truncation_psi": 1.0, "noise_mode": "none (StyleGAN3 has no noise inputs)",
                                      "paper_protocol": False, "num_processes": 1}  # fmt: skip
    assert lines[-1].startswith("t.ckpt: eqt50k_int ") and "not the paper protocol" in lines[-1]


def test_equivariance_of_a_stylegan2_checkpoint_is_a_clear_error(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        run_cli("evaluate", "--ckpt", ASSETS / "v0_stylegan.ckpt", "--metrics", "eqr50k", "--accelerator", "cpu")
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "eqr50k needs a StyleGAN3 generator" in err[0] and "stylegan2.Generator has no such input" in err[0], err
