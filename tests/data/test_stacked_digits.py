"""The stacked rendered digits are the same everywhere, hold each of the 1000 modes, and their
labels name the digit in each channel."""

import numpy as np
import pytest
import torch

from gan_lightning.common.errors import UserError
from gan_lightning.data import StackedDigitsDataModule
from gan_lightning.data.stacked_digits import NUM_MODES, StackedDigitsDataset, digit_image, digits_of, render_digit, sample_look


def test_same_seed_same_images_other_seed_other_images() -> None:
    a, b = StackedDigitsDataset(16, seed=3), StackedDigitsDataset(16, seed=3)
    for i in (0, 9, 15):
        torch.testing.assert_close(a[i][0], b[i][0])
        assert a[i][1] == b[i][1]
    assert not torch.equal(a[0][0], StackedDigitsDataset(16, seed=4)[0][0])


def test_images_are_three_channels_in_range_and_any_1000_consecutive_hold_every_mode() -> None:
    dataset = StackedDigitsDataset(2500, resolution=32, seed=0)
    image, label = dataset[123]
    assert image.shape == (3, 32, 32) and image.dtype == torch.float32
    assert image.min() >= -1 and image.max() <= 1 and image.max() > 0.9  # a white stroke on black
    assert sorted(dataset[i][1] for i in range(1500, 2500)) == list(range(NUM_MODES))
    assert [dataset[i][1] for i in (0, 999, 1000, 1234)] == [0, 999, 0, 234]


def test_each_channel_is_its_digit_rendered_alone() -> None:
    """Label 100 r + 10 g + b: channel k is digit k drawn from the same random look stream."""
    image, label = StackedDigitsDataset(1000, seed=5)[472]
    assert label == 472 and digits_of(label) == (4, 7, 2)
    assert not torch.equal(image[0], image[1]) and not torch.equal(image[1], image[2])
    rng = np.random.default_rng([5, 472])
    for channel, digit in enumerate(digits_of(label)):
        expected = torch.from_numpy(render_digit(sample_look(rng, digit), 32)).float() / 127.5 - 1
        torch.testing.assert_close(image[channel], expected)


def test_single_digits_for_the_classifier_are_one_channel_with_their_value() -> None:
    image, digit = digit_image(1234, 0, 32)
    assert image.shape == (1, 32, 32) and 0 <= digit <= 9
    assert {digit_image(1234, i, 32)[1] for i in range(100)} == set(range(10))


def test_datamodule_batches_and_refuses_one_channel() -> None:
    module = StackedDigitsDataModule(num_train=8, num_val=4, batch_size=4, num_workers=0)
    module.setup("fit")
    images, labels = next(iter(module.train_dataloader()))
    assert images.shape == (4, 3, 32, 32) and labels.shape == (4,)
    assert len(module.val_set) == 4 and module.num_classes == 0
    with pytest.raises(UserError, match="channels 1; allowed: 3"):
        StackedDigitsDataModule(channels=1)
