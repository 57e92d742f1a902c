"""The shipped digits classifier reads rendered digits, and the stacked-digits mode coverage gives
the known figures on known inputs."""

import math

import pytest
import torch

from gan_lightning.data.stacked_digits import StackedDigitsDataset, digit_image
from gan_lightning.evaluation.digits_classifier import WEIGHTS_PATH, load_digits_classifier
from gan_lightning.evaluation.stacked_modes import NUM_MODES, mode_statistics, stacked_mode_coverage, stacked_modes

# The held-out accuracy the shipped weights must keep (docs/r3gan.md states the measured one).
MIN_ACCURACY = 0.98


def test_mode_statistics_of_known_mode_lists() -> None:
    uniform = mode_statistics(torch.arange(NUM_MODES).repeat(3))
    assert uniform["modes_covered"] == 1000 and uniform["kl_to_uniform"] == pytest.approx(0.0, abs=1e-12)
    collapsed = mode_statistics(torch.full((500,), 417))
    assert collapsed["modes_covered"] == 1 and collapsed["kl_to_uniform"] == pytest.approx(math.log(1000))
    half = mode_statistics(torch.arange(500))  # 500 modes equally often: KL = log 2
    assert half["modes_covered"] == 500 and half["kl_to_uniform"] == pytest.approx(math.log(2))


def test_shipped_weights_are_small() -> None:
    assert WEIGHTS_PATH.stat().st_size < 200_000


def test_classifier_accuracy_on_held_out_rendered_digits() -> None:
    """Digits of a seed neither the training script nor the DataModule uses."""
    images, digits = zip(*(digit_image(98765, i, 32) for i in range(2000)))
    predicted = load_digits_classifier()(torch.stack(images)).argmax(1)
    assert (predicted == torch.tensor(digits)).float().mean().item() > MIN_ACCURACY


def test_real_stacked_digits_cover_all_modes_uniformly() -> None:
    """Each of the 1000 modes once (a uniform generator's samples): about 1000 modes, KL about 0."""
    dataset = StackedDigitsDataset(1000, seed=31)
    images = torch.stack([dataset[i][0] for i in range(1000)])
    modes = stacked_modes(images)
    assert (modes == torch.arange(1000)).float().mean() > MIN_ACCURACY**3
    coverage = stacked_mode_coverage(images)
    assert coverage["modes_covered"] >= 950
    # a few misread images move their mass to another mode: KL grows by about (misread share) * log 2
    assert coverage["kl_to_uniform"] < 0.05


def test_one_repeated_mode_covers_one_with_kl_log_1000() -> None:
    dataset = StackedDigitsDataset(3000, seed=32)
    images = torch.stack([dataset[i][0] for i in (305, 1305, 2305)]).repeat(20, 1, 1, 1)
    coverage = stacked_mode_coverage(images)
    assert stacked_modes(images[:3]).tolist() == [305, 305, 305]
    assert coverage == {"modes_covered": 1.0, "kl_to_uniform": pytest.approx(math.log(1000))}


def test_refuses_images_that_are_not_three_channel_batches() -> None:
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        stacked_modes(torch.zeros(4, 1, 32, 32))


def test_evaluate_gives_modes26k_of_a_checkpoint_without_real_data(tmp_path, capsys) -> None:
    import json

    from tests.conftest import ASSETS, run_cli

    out = tmp_path / "m.jsonl"
    run_cli("evaluate", "--ckpt", ASSETS / "v0_vanilla_gan.ckpt", "--metrics", "modes26k", "--num-gen", "40", "--batch-size", "16", "--out", out)
    record = json.loads(out.read_text())
    assert record["metric"] == "modes26k" and set(record["results"]) == {"modes26k_covered", "modes26k_kl"}
    assert 1 <= record["results"]["modes26k_covered"] <= 40 and 0 <= record["results"]["modes26k_kl"] <= math.log(1000)
    assert record["settings"]["num_gen"] == 40 and record["settings"]["detector"] == "digits-classifier"


def test_training_callback_logs_coverage_on_stacked_digits_only() -> None:
    from types import SimpleNamespace

    from gan_lightning.data import ShapesDataModule, StackedDigitsDataModule
    from gan_lightning.training.callbacks.mode_coverage import StackedDigitsCoverage

    class Model:
        device = torch.device("cpu")

        def __init__(self) -> None:
            self.logged: dict[str, float] = {}

        def generate(self, num: int, seed: int) -> torch.Tensor:  # a generator stuck on one mode
            return StackedDigitsDataset(1000, seed=seed)[42][0].expand(num, -1, -1, -1)

        def log(self, name: str, value: float, sync_dist: bool) -> None:
            self.logged[name] = value

    callback, model = StackedDigitsCoverage(num_samples=50), Model()
    callback.on_validation_epoch_end(SimpleNamespace(sanity_checking=False, datamodule=ShapesDataModule(), global_rank=0), model)
    assert model.logged == {}
    callback.on_validation_epoch_end(SimpleNamespace(sanity_checking=False, datamodule=StackedDigitsDataModule(), global_rank=0), model)
    assert model.logged == {"val/stacked_modes_covered": 1.0, "val/stacked_kl_to_uniform": pytest.approx(math.log(1000))}
