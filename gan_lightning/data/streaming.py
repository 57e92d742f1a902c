"""Training from a prepared dataset (``python -m gan_lightning prepare``) on local disk or object
storage, on any number of processes: litdata streams each rank its own shard of the chunks, and
its loader's position is part of the checkpoint, so a requeued job continues the same batches."""

from __future__ import annotations

from typing import Literal

import torch
from litdata import StreamingDataLoader, StreamingDataset
from litdata.streaming.sampler import ChunkedIndex
from torch.utils.data import DataLoader, Dataset

from gan_lightning.data.base import ImageDataModule
from gan_lightning.data.prepared import Manifest, read_manifest
from gan_lightning.common.checks import check_at_least
from gan_lightning.common.errors import UserError
from gan_lightning.common.images import from_uint8

_MASK64 = (1 << 64) - 1


def mirrored(seed: int, epoch: int, index: int) -> bool:
    """Whether image ``index`` is x-flipped in ``epoch``: a hash of the three (splitmix64's mixer),
    not an RNG draw, so a resumed run or another worker count flips the same images."""
    value = (seed * 0x9E3779B97F4A7C15 + epoch * 0xBF58476D1CE4E5B9 + index * 0x94D049BB133111EB) & _MASK64
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK64
    return bool((value ^ (value >> 31)) & 1)


class PreparedImages(StreamingDataset):
    """A prepared dataset's items as ``(uint8 image (C, R, R), label)``. Iterated (training), each
    rank and worker reads its own chunks, in litdata's shuffled order, half of them x-flipped;
    indexed (``dataset[i]``, for metrics), images come as stored."""

    def __init__(self, input_dir: str, flip: bool, shuffle: bool, seed: int, cache_dir: str | None, max_cache_size: str) -> None:
        # batch_decode=0: each item deserialised alone. litdata's default for ~200 KB items decodes an
        # aligned window of 16 and keeps it; shuffled reads rarely hit it, so nearly every item read
        # decoded 16 (measured: 7280 decodes for 480 items at 256 px).
        super().__init__(
            input_dir=input_dir, cache_dir=cache_dir, shuffle=shuffle, drop_last=True, seed=seed, max_cache_size=max_cache_size,
            batch_decode=0,
        )  # fmt: skip
        self.flip = flip

    def __getitem__(self, index):
        item = super().__getitem__(index)
        image = item["image"]
        if self.flip and isinstance(index, ChunkedIndex) and mirrored(self.seed, self.current_epoch, index.index):
            image = image.flip(-1)
        return image, item["label"]


class PreparedLoader(StreamingDataLoader):
    """litdata's loader, resumable under Lightning, with epochs that Lightning may end early.

    - After ``load_state_dict`` litdata replays from the loaded state until an epoch's iterator runs
      to its end; Lightning stops at the epoch's length without exhausting it, so the next epoch
      would replay the resumed one's tail again (seen here: the last batch twice; litData issue #770
      reports the same ``restore`` flag for its parallel dataset). Only the first iteration after a
      load continues from the state.
    - A checkpoint saved after an epoch's last batch continues with the next epoch (``start_after_epoch``).
    - Persistent workers keep their own copy of the dataset, whose position and epoch only an epoch
      run to its end moves on: after an epoch cut short (``limit_train_batches``) they would start
      every later epoch with the same batches. Their workers are then started afresh.
    """

    _resumed_once = False
    _cut_short = False
    _after_ended_epoch = False

    def start_after_epoch(self, epoch: int) -> None:
        """The next iteration starts the epoch after litdata's epoch ``epoch``. For a checkpoint saved
        after an epoch's last batch Lightning hands back no loader state (or, training by steps, the
        ended epoch's, which litdata would continue to its natural end)."""
        self.current_epoch = epoch
        self._after_ended_epoch = True

    def load_state_dict(self, obj: dict) -> None:
        super().load_state_dict(obj)
        self._resumed_once = False
        if self._after_ended_epoch:
            self.restore = False

    def __iter__(self):
        if self.restore and self._resumed_once:
            self.restore = False  # a new epoch, not the resumed one again
        self._resumed_once = True
        self._after_ended_epoch = False
        if self._cut_short and self._iterator is not None:
            self._iterator._shutdown_workers()
            self._iterator = None
        self._cut_short = True
        yield from super().__iter__()
        self._cut_short = False


class _Indexed(Dataset):
    """Some items of a prepared dataset by position, as a map-style dataset (a plain DataLoader and
    DDP's sampler split it); ``as_float`` gives images in [-1, 1] for direct indexing by metrics."""

    def __init__(self, images: PreparedImages, positions: list[int], as_float: bool) -> None:
        self.images = images
        self.positions = positions
        self.as_float = as_float

    def __len__(self) -> int:
        return len(self.positions)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image, label = self.images[self.positions[index]]
        return (from_uint8(image) if self.as_float else image), label


class StreamingDataModule(ImageDataModule):
    """A prepared dataset (``python -m gan_lightning prepare``) streamed with litdata.

    The image shape and ``num_classes`` come from the dataset's manifest. Batches leave the loader
    as uint8 and become float in [-1, 1] after the copy to the device (``on_after_batch_transfer``):
    a quarter of the bytes through host memory and PCIe.

    Args:
        input_dir: the prepared folder, local or on object storage (``s3://bucket/prefix``, ``gs://``, ...).
        resolution: optional check: must be the prepared resolution (the manifest's is used).
        channels: optional check: must be the prepared channels.
        flip: x-flip half of the training images, decided per (seed, epoch, image).
        shuffle: litdata's shuffle (chunk order per epoch, then items within the chunks a worker holds).
        val_num_images: training images (evenly spaced, not flipped) that validation batches show.
        cache_dir: where chunks streamed from object storage are kept (default: litdata's).
        max_cache_size: how much of ``cache_dir`` the chunks may use.
        labels: "prepared": the class labels stored by ``prepare --labels`` make the model
            class-conditional (``num_classes`` from the manifest); "none": unconditional (items keep
            their stored label, which the model ignores).
    """

    def __init__(
        self,
        input_dir: str,
        resolution: int | None = None,
        channels: int | None = None,
        flip: bool = True,
        shuffle: bool = True,
        val_num_images: int = 1000,
        cache_dir: str | None = None,
        max_cache_size: str = "100GB",
        labels: Literal["none", "prepared"] = "none",
        **kwargs,
    ) -> None:
        manifest = read_manifest(input_dir)
        for name, given, stored in (("resolution", resolution, manifest.resolution), ("channels", channels, manifest.channels)):
            if given is not None and given != stored:
                raise UserError(
                    f"data {name} {given} differs from the prepared dataset's {stored} ({input_dir}); allowed: {stored}, "
                    f"or leave it out, or prepare again with --{name} {given}"
                )
        if labels not in ("none", "prepared"):
            raise UserError(f"labels {labels!r} is not a label source of a prepared dataset; allowed: none, prepared")
        if labels == "prepared" and manifest.num_classes == 0:
            raise UserError(f"{input_dir} was prepared without labels, so labels prepared is not allowed; allowed: none, "
                            "or prepare again with --labels")
        check_at_least("val_num_images", val_num_images, 0)
        super().__init__(resolution=manifest.resolution, channels=manifest.channels, **kwargs)
        self.input_dir = input_dir
        self.manifest: Manifest = manifest
        self.labels = labels
        self.num_classes = manifest.num_classes if labels == "prepared" else 0  # 0: unconditional
        self.flip = flip
        self.shuffle = shuffle
        self.val_num_images = val_num_images
        self.cache_dir = cache_dir
        self.max_cache_size = max_cache_size
        self._stored: PreparedImages | None = None
        self._train_loader: PreparedLoader | None = None
        self._ended_epoch_at_load: int | None = None  # litdata's epoch that had ended when the checkpoint was saved

    def _images(self, flip: bool, shuffle: bool) -> PreparedImages:
        # seed_everything's seed, as the other DataModules' shuffle (a resume's loader state checks it)
        seed = torch.initial_seed() % 2**31
        return PreparedImages(self.input_dir, flip, shuffle, seed, self.cache_dir, self.max_cache_size)

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        self.train_set = self._images(self.flip, self.shuffle)
        self._stored = self._images(flip=False, shuffle=False)
        count = self.manifest.count
        step = max(1, count // max(1, self.val_num_images))
        self.val_set = _Indexed(self._stored, list(range(0, count, step))[: self.val_num_images], as_float=False)

    def metric_set(self) -> Dataset:
        if self._stored is None:
            raise RuntimeError(f"{type(self).__name__}.setup() has not been called")
        return _Indexed(self._stored, list(range(self.manifest.count)), as_float=True)

    def train_dataloader(self) -> PreparedLoader:
        # Lightning keeps this loader's state_dict (litdata: epoch, samples yielded per worker) in
        # the checkpoint's fit loop and hands it back on resume: the next batches are the ones an
        # uninterrupted run would have trained on.
        if self.train_set is None:
            raise RuntimeError(f"{type(self).__name__}.setup() has not been called")
        processes = self.trainer.world_size if self.trainer is not None else 1
        if self.manifest.count < self.batch_size * processes:
            raise UserError(
                f"batch_size {self.batch_size} is larger than the {self.manifest.count} prepared images"
                + (f" shared by {processes} processes" if processes > 1 else "")
                + f"; allowed: batch_size <= {self.manifest.count // processes}"
            )
        self._train_loader = PreparedLoader(
            self.train_set,
            batch_size=self.batch_size,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory and torch.cuda.is_available(),
            persistent_workers=self.persistent_workers and self.num_workers > 0,
            drop_last=True,  # every step's batch the same size: BatchNorm and minibatch-stddev need it
            # Worker seeds from here, not from the global RNG the latents come from: each epoch after
            # one cut short (or without persistent workers) builds a new iterator, and that draw falls
            # after an epoch-end checkpoint, where a resumed run cannot replay it.
            generator=torch.Generator().manual_seed(self.train_set.seed),
        )
        if self._ended_epoch_at_load is not None:
            self._train_loader.start_after_epoch(self._ended_epoch_at_load)
            self._ended_epoch_at_load = None
        return self._train_loader

    def val_dataloader(self) -> DataLoader:
        if self.val_set is None:
            raise RuntimeError(f"{type(self).__name__}.setup() has not been called")
        return DataLoader(self.val_set, batch_size=self.batch_size, shuffle=False, num_workers=0)

    def state_dict(self) -> dict:
        # The position in the data is the loader's (above), not the EpochOrder's of the base, except
        # after an epoch's last batch, when Lightning restores no loader state: then its epoch is here.
        if self._train_loader is None or self.trainer is None or not self.epoch_ended():
            return {}
        return {"ended_loader_epoch": self._train_loader.current_epoch}

    def load_state_dict(self, state_dict: dict) -> None:
        self._ended_epoch_at_load = state_dict.get("ended_loader_epoch")

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        if isinstance(batch, (tuple, list)) and torch.is_tensor(batch[0]) and batch[0].dtype == torch.uint8:
            return (from_uint8(batch[0]), *batch[1:])
        return batch  # predict's seeds
