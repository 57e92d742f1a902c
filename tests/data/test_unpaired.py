"""Unpaired content/style data: folder layouts, crops, bad input, single image pair, bundled example."""


import numpy as np
import pytest
import torch
from PIL import Image

from gan_lightning.data import ShapesStyleDataModule, SingleImagePairDataModule, UnpairedDataModule
from gan_lightning.data.shape_looks import render_look_batch
from gan_lightning.common.errors import UserError
from gan_lightning.evaluation.looks import foreground_mask, look_statistics, mask_iou
from tests.conftest import write_rgb_images


def make_module(root, **kwargs):
    kwargs = {"resolution": 16, "batch_size": 2, "num_workers": 0, **kwargs}
    module = UnpairedDataModule(root=str(root), **kwargs)
    module.setup("fit")
    return module


def test_content_and_style_folders_of_different_sizes_give_content_style_batches(tmp_path):
    write_rgb_images(tmp_path / "content", 5, size=(30, 20))
    write_rgb_images(tmp_path / "style", 3, size=(24, 40), suffix=".jpg")
    module = make_module(tmp_path)
    assert len(module.train_set) == 5  # the larger set
    content, style = next(iter(module.train_dataloader()))
    assert content.shape == style.shape == (2, 3, 16, 16)
    assert content.min() >= -1 and content.max() <= 1


def test_cyclegan_layout_uses_test_folders_for_validation(tmp_path):
    write_rgb_images(tmp_path / "trainA", 4)
    write_rgb_images(tmp_path / "trainB", 6)
    write_rgb_images(tmp_path / "testA", 2)
    write_rgb_images(tmp_path / "testB", 3)
    module = make_module(tmp_path)
    assert len(module.train_set) == 6 and len(module.val_set) == 3
    assert [p.parent.name for p in module.predict_set.files] == ["testA", "testA"]


def test_crop_larger_than_the_images_is_handled_by_resizing(tmp_path):
    write_rgb_images(tmp_path / "content", 3, size=(9, 13))
    write_rgb_images(tmp_path / "style", 3, size=(50, 7))
    module = make_module(tmp_path, resolution=32)
    content, style = next(iter(module.train_dataloader()))
    assert content.shape == style.shape == (2, 3, 32, 32)
    val_content, val_style = next(iter(module.val_dataloader()))
    assert val_content.shape == (2, 3, 32, 32)


def test_load_size_below_the_crop_is_a_clear_error(tmp_path):
    write_rgb_images(tmp_path / "content", 1)
    write_rgb_images(tmp_path / "style", 1)
    with pytest.raises(UserError, match="load_size 20 is smaller than the crop resolution 32"):
        UnpairedDataModule(root=str(tmp_path), resolution=32, load_size=20)


def test_wrong_layout_missing_and_empty_folders_are_clear_errors(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        UnpairedDataModule(root=str(tmp_path / "nope"))
    (tmp_path / "photos").mkdir()
    with pytest.raises(UserError, match="content/ \\+ style/"):
        UnpairedDataModule(root=str(tmp_path))
    (tmp_path / "content").mkdir()
    (tmp_path / "style").mkdir()
    write_rgb_images(tmp_path / "content", 2)
    with pytest.raises(UserError, match="no images"):
        UnpairedDataModule(root=str(tmp_path))


def test_corrupt_files_are_skipped_with_a_warning(tmp_path):
    write_rgb_images(tmp_path / "content", 3)
    write_rgb_images(tmp_path / "style", 2)
    (tmp_path / "style" / "broken.png").write_bytes(b"not a png")
    (tmp_path / "content" / "empty.jpg").write_bytes(b"")
    with pytest.warns(UserWarning, match="unreadable"):
        module = make_module(tmp_path)
    assert len(module.train_set) == 3
    next(iter(module.train_dataloader()))


def test_predict_gives_whole_images_with_their_names(tmp_path):
    write_rgb_images(tmp_path / "content", 2, size=(30, 20))
    write_rgb_images(tmp_path / "style", 2)
    module = make_module(tmp_path)
    image, name = next(iter(module.predict_dataloader()))
    assert image.shape == (1, 3, 20, 30) and list(name) == ["img000"]


def test_grayscale_images_for_a_one_channel_model(tmp_path):
    write_rgb_images(tmp_path / "content", 2)
    write_rgb_images(tmp_path / "style", 2)
    content, style = next(iter(make_module(tmp_path, channels=1).train_dataloader()))
    assert content.shape == (2, 1, 16, 16)


def test_single_image_pair_gives_zoomed_crops_of_both_images(tmp_path):
    write_rgb_images(tmp_path, 1, size=(60, 40))
    Image.fromarray(np.full((30, 90, 3), 200, np.uint8)).save(tmp_path / "style.jpg")
    module = SingleImagePairDataModule(
        content=str(tmp_path / "img000.png"), style=str(tmp_path / "style.jpg"), resolution=32,
        crops_per_epoch=10, batch_size=4, num_workers=0,
    )  # fmt: skip
    module.setup("fit")
    assert len(module.train_set) == 10
    content, style = next(iter(module.train_dataloader()))
    assert content.shape == style.shape == (4, 3, 32, 32)
    assert torch.allclose(style, torch.full_like(style, 200 / 127.5 - 1), atol=1e-2)
    val_content, _ = next(iter(module.val_dataloader()))
    assert torch.equal(val_content, next(iter(module.val_dataloader()))[0])  # fixed validation crops


def test_single_image_pair_bad_paths_and_zoom_are_clear_errors(tmp_path):
    write_rgb_images(tmp_path, 1)
    (tmp_path / "notes.txt").write_text("hi")
    good = str(tmp_path / "img000.png")
    with pytest.raises(UserError, match="style image .* does not exist"):
        SingleImagePairDataModule(content=good, style=str(tmp_path / "missing.png"))
    with pytest.raises(UserError, match="not a"):
        SingleImagePairDataModule(content=good, style=str(tmp_path / "notes.txt"))
    with pytest.raises(UserError, match="both"):
        SingleImagePairDataModule(content=good)
    with pytest.raises(UserError, match="zoom"):
        SingleImagePairDataModule(content=good, style=good, min_zoom=2.0, max_zoom=1.0)


def test_single_image_pair_takes_a_shipped_photo_and_example_style_by_name():
    module = SingleImagePairDataModule(example_photo="chelsea", example_style="grass_ink", resolution=32, load_size=64,
                                       crops_per_epoch=4, batch_size=2, num_workers=0)  # fmt: skip
    module.setup("fit")
    content, style = next(iter(module.train_dataloader()))
    assert content.shape == style.shape == (2, 3, 32, 32)
    # grass_ink lies between its two palette colours: blue never above red (ink (24, 28, 82) to ochre (236, 196, 104))
    assert not torch.equal(content, style) and style[:, 2].mean() < style[:, 0].mean()
    assert module.predict_set[0][1] == "chelsea"
    with pytest.raises(UserError, match="unknown example style 'grass'; allowed: grass_ink"):
        SingleImagePairDataModule(example_photo="chelsea", example_style="grass")
    with pytest.raises(UserError, match="both"):
        SingleImagePairDataModule(example_photo="chelsea")
    with pytest.raises(UserError, match="not both"):
        SingleImagePairDataModule(content="a.png", style="b.png", example_photo="chelsea", example_style="grass_ink")


def test_single_image_pair_defaults_to_the_bundled_pair():
    module = SingleImagePairDataModule(resolution=32, crops_per_epoch=4, batch_size=2, num_workers=0)
    module.setup("fit")
    content, style = next(iter(module.train_dataloader()))
    # content look: dark background; style look: light paper
    assert content.mean() < 0 < style.mean()
    image, name = module.predict_set[0]
    assert image.shape == (3, 256, 256) and name == "bundled_content"


def test_bundled_example_is_reproducible_and_its_looks_differ():
    def batch(seed):
        module = ShapesStyleDataModule(resolution=32, num_content=8, num_style=6, num_val=4, batch_size=4, num_workers=0, seed=seed)
        module.setup("fit")
        return next(iter(module.val_dataloader()))

    content, style = batch(0)
    again, _ = batch(0)
    other, _ = batch(1)
    assert torch.equal(content, again) and not torch.equal(content, other)
    stats_content, stats_style = look_statistics(content).mean(0), look_statistics(style).mean(0)
    assert stats_style[:3].min() > 0.5 > -0.5 > stats_content[:3].max()  # paper vs dark background
    assert stats_style[5] > 1.5 * stats_content[5]  # hatching and ink add high frequencies


def test_both_looks_of_one_scene_share_the_silhouette():
    flat = render_look_batch(8, 32, "flat", seed=3)
    ink = render_look_batch(8, 32, "ink", seed=3)
    same = mask_iou(foreground_mask(flat), foreground_mask(ink)).mean()
    other = mask_iou(foreground_mask(flat), foreground_mask(ink.roll(1, 0))).mean()
    assert same > 0.7 and same > other + 0.2


def test_bundled_training_crops_are_random_and_of_the_crop_size():
    module = ShapesStyleDataModule(resolution=32, num_content=4, num_style=4, num_val=2, batch_size=4, num_workers=0)
    module.setup("fit")
    content, style = next(iter(module.train_dataloader()))
    assert content.shape == style.shape == (4, 3, 32, 32)
    with pytest.raises(UserError, match="num_style"):
        ShapesStyleDataModule(num_style=0)
