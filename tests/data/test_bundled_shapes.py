"""The bundled shapes data is the same everywhere, and its classifier tells real shapes from junk."""

import torch

from gan_lightning.data import ShapesDataModule
from gan_lightning.data.shapes import NUM_CLASSES, ShapesDataset, class_name
from gan_lightning.evaluation.shapes_classifier import load_shapes_classifier
from gan_lightning.evaluation.shapes_quality import shapes_quality


def test_same_seed_same_images_and_all_modes_present() -> None:
    a, b = ShapesDataset(32, 32, seed=3), ShapesDataset(32, 32, seed=3)
    for i in (0, 7, 31):
        torch.testing.assert_close(a[i][0], b[i][0])
    assert not torch.equal(a[0][0], ShapesDataset(32, 32, seed=4)[0][0])
    assert {a[i][1] for i in range(32)} == set(range(NUM_CLASSES))
    assert class_name(0) == "red circle" and class_name(NUM_CLASSES - 1) == "yellow cross"


def test_datamodule_gives_batches_at_any_resolution() -> None:
    module = ShapesDataModule(resolution=64, channels=1, num_train=8, num_val=4, batch_size=4, num_workers=0)
    module.setup("fit")
    images, labels = next(iter(module.train_dataloader()))
    assert images.shape == (4, 1, 64, 64) and images.min() >= -1 and images.max() <= 1
    assert len(module.val_set) == 4


def test_classifier_scores_real_shapes_high_and_junk_low() -> None:
    classifier = load_shapes_classifier()
    real = torch.stack([ShapesDataset(256, 32, seed=77)[i][0] for i in range(256)])
    quality = shapes_quality(real, classifier)
    assert quality["confident"] > 0.95
    assert quality["mode_coverage"] == 1.0
    torch.manual_seed(0)
    noise = torch.rand(256, 3, 32, 32) * 2 - 1
    assert shapes_quality(noise, classifier)["confident"] < 0.1
    gray = torch.zeros(256, 3, 32, 32)
    assert shapes_quality(gray, classifier)["mode_coverage"] <= 1 / NUM_CLASSES
    # A generator that only ever draws one mode covers one mode.
    collapsed = real[[i for i in range(256) if ShapesDataset(256, 32, seed=77)[i][1] == 5]]
    assert shapes_quality(collapsed, classifier)["mode_coverage"] == 1 / NUM_CLASSES


def test_classifier_works_at_other_resolutions() -> None:
    real = torch.stack([ShapesDataset(64, 64, seed=78)[i][0] for i in range(64)])
    assert shapes_quality(real)["confident"] > 0.9


def test_quality_callback_measures_only_the_bundled_shapes_data() -> None:
    """ShapesQuality is a default callback of every preset: on other data it logs nothing."""
    from types import SimpleNamespace

    from gan_lightning.training.callbacks.samples import ShapesQuality
    from gan_lightning.data import ShapesStyleDataModule

    class Model:
        device = torch.device("cpu")

        def __init__(self) -> None:
            self.logged: dict[str, float] = {}

        def generate(self, num: int, seed: int) -> torch.Tensor:
            return torch.stack([ShapesDataset(num, 32, seed=seed)[i][0] for i in range(num)])

        def log(self, name: str, value: float, sync_dist: bool) -> None:
            self.logged[name] = value

    callback, model = ShapesQuality(num_samples=32), Model()
    for datamodule in (ShapesStyleDataModule(), None):
        callback.on_validation_epoch_end(SimpleNamespace(sanity_checking=False, datamodule=datamodule, global_rank=0), model)
    assert model.logged == {}
    shapes = ShapesDataModule(num_workers=0)
    callback.on_validation_epoch_end(SimpleNamespace(sanity_checking=False, datamodule=shapes, global_rank=0), model)
    assert set(model.logged) == {"val/shapes_confident", "val/shapes_mode_coverage"}
