"""torchvision datasets behind the same interface; offline users get a clear message, not a urllib error."""

from pathlib import Path

import numpy as np
import pytest

from gan_lightning.data import TorchvisionDataModule
from gan_lightning.common.errors import UserError


def write_idx(path: Path, array: np.ndarray, magic: int) -> None:
    header = np.array([magic, *array.shape], dtype=">i4").tobytes()
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def fake_mnist(root: Path) -> None:
    """The four raw MNIST files torchvision reads, with 20 train and 10 test digits of noise."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split, count in (("train", 20), ("t10k", 10)):
        write_idx(raw / f"{split}-images-idx3-ubyte", rng.integers(0, 256, (count, 28, 28)), 2051)
        write_idx(raw / f"{split}-labels-idx1-ubyte", rng.integers(0, 10, (count,)), 2049)


def test_mnist_resized_to_32px_rgb(tmp_path: Path) -> None:
    fake_mnist(tmp_path)
    module = TorchvisionDataModule("mnist", root=str(tmp_path), resolution=32, channels=3, batch_size=4, num_workers=0)
    module.setup("fit")
    images, labels = next(iter(module.train_dataloader()))
    assert images.shape == (4, 3, 32, 32) and images.min() >= -1 and images.max() <= 1
    assert labels.dtype.is_floating_point is False
    assert len(module.train_set) == 20 and len(module.val_set) == 10


def test_missing_dataset_without_download_says_how_to_get_it(tmp_path: Path) -> None:
    module = TorchvisionDataModule("cifar10", root=str(tmp_path), num_workers=0)
    with pytest.raises(UserError, match=r"cifar10 not found under .*download true"):
        module.setup("fit")


def test_download_failure_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torchvision.datasets.utils as utils

    def offline(*args, **kwargs):
        raise OSError("<urlopen error [Errno -3] Temporary failure in name resolution>")

    # No test touches the network: the download itself is replaced by an offline failure.
    monkeypatch.setattr(utils, "download_url", offline)
    monkeypatch.setattr(utils, "download_and_extract_archive", offline)
    module = TorchvisionDataModule("mnist", root=str(tmp_path), download=True, num_workers=0)
    with pytest.raises(UserError, match="could not download mnist|mnist not found"):
        module.prepare_data()


def test_unknown_dataset_name() -> None:
    with pytest.raises(UserError, match="unknown torchvision dataset 'imagenet'; allowed: mnist, fashion_mnist, cifar10, celeba"):
        TorchvisionDataModule("imagenet")  # type: ignore[arg-type]
