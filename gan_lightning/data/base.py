"""What the image DataModules share: the image shape they give the model and the loaders
(``ImageDataModule``), and for style transfer, what ``predict`` stylizes (``StyleDataModule``)."""

from __future__ import annotations

import torch
from lightning.pytorch import LightningDataModule
from torch.utils.data import DataLoader, Dataset

from gan_lightning.data.resumable import EpochOrder, SeededItems
from gan_lightning.common.checks import check_at_least
from gan_lightning.common.errors import UserError


class SeedDataset(Dataset):
    """Seeds 0..n-1 as int64 tensors: what ``predict`` feeds a generator (one image per seed)."""

    def __init__(self, num_samples: int, first_seed: int = 0) -> None:
        self.num_samples = num_samples
        self.first_seed = first_seed

    def __len__(self) -> int:
        return self.num_samples

    def __getitem__(self, index: int) -> torch.Tensor:
        return torch.tensor(self.first_seed + index, dtype=torch.int64)


class SeedClassDataset(Dataset):
    """The seeds of ``seeds`` as ``(seed, class_index)`` items, every one of class ``class_index``."""

    def __init__(self, seeds: Dataset, class_index: int) -> None:
        self.seeds = seeds
        self.class_index = class_index

    def __len__(self) -> int:
        return len(self.seeds)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.seeds[index], torch.tensor(self.class_index, dtype=torch.int64)


class ImageDataModule(LightningDataModule):
    """Base of the image DataModules. ``resolution`` and ``channels`` are the one place the image
    shape is given: the CLI links them into the model. Items are ``(image in [-1, 1], label)``.

    Args:
        resolution: side of the square images the model sees.
        channels: 3 (RGB) or 1 (grayscale).
        batch_size: images per batch and per process.
        num_workers: DataLoader worker processes (0 loads in the main process).
        pin_memory: page-locked batches for faster host-to-GPU copies.
        persistent_workers: keep workers alive between epochs (when num_workers > 0).
        predict_num_samples: how many images ``predict`` generates (seeds 0..n-1 from ``predict_first_seed``).
        predict_first_seed: seed of the first generated image.
        predict_class: the class of the generated images, for a class-conditional model (None for an
            unconditional one).

    ``num_classes`` is how many classes the labels have (0: no labels, unconditional training); a
    subclass that gives labels sets it in ``__init__``, the CLI hands it to the model.
    """

    def __init__(
        self,
        resolution: int,
        channels: int = 3,
        batch_size: int = 64,
        num_workers: int = 2,
        pin_memory: bool = True,
        persistent_workers: bool = True,
        predict_num_samples: int = 64,
        predict_first_seed: int = 0,
        predict_class: int | None = None,
    ) -> None:
        super().__init__()
        check_at_least("data resolution", resolution, 4)
        if channels not in (1, 3):
            raise UserError(f"data channels must be 1 (grayscale) or 3 (RGB), got {channels}")
        check_at_least("batch_size", batch_size, 1)
        check_at_least("num_workers", num_workers, 0)  # 0 loads in the main process
        self.resolution = resolution
        self.channels = channels
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.persistent_workers = persistent_workers
        self.predict_num_samples = predict_num_samples
        self.predict_first_seed = predict_first_seed
        self.predict_class = predict_class
        self.num_classes = 0
        self.train_set: Dataset | None = None
        self.val_set: Dataset | None = None
        self._train_order: EpochOrder | None = None
        self._resume_state: dict | None = None  # from a checkpoint, applied to the next train loader

    def _loader(self, dataset: Dataset | None, shuffle: bool, drop_last: bool, sampler: EpochOrder | None = None) -> DataLoader:
        if dataset is None:
            raise RuntimeError(f"{type(self).__name__}.setup() has not been called")
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=shuffle,
            sampler=sampler,
            drop_last=drop_last,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory and torch.cuda.is_available(),
            persistent_workers=self.persistent_workers and self.num_workers > 0,
            # worker seeds from here, not from the global RNG the model draws its latents from
            generator=torch.Generator().manual_seed(sampler.seed) if sampler is not None else None,
        )

    def metric_set(self) -> Dataset:
        """The real images metrics compare with (``evaluate``, in-training FID against the training
        set): the training images, each once, without random flips (NVlabs' ``xflip=False``)."""
        if self.train_set is None:
            raise RuntimeError(f"{type(self).__name__}.setup() has not been called")
        return self.train_set

    def train_dataloader(self) -> DataLoader:
        # The order and augmentations are functions of (seed, epoch, position), so a run resumed
        # from a mid-epoch checkpoint sees the same remaining batches as an uninterrupted one.
        if self.train_set is None:
            raise RuntimeError(f"{type(self).__name__}.setup() has not been called")
        state = self._resume_state or {}
        # seed_everything's seed (a checkpoint keeps it, so a resume with another seed keeps the order)
        seed = int(state.get("shuffle_seed", torch.initial_seed() % 2**31))
        if self.trainer is not None and self.trainer.world_size > 1:
            # rank 0's: the model seeds each process differently (its own latents) before this runs,
            # and the distributed sampler splits one order, which every process must share
            seed = self.trainer.strategy.broadcast(seed)
        self._train_order = EpochOrder(len(self.train_set), seed)  # type: ignore[arg-type]
        if state:
            # Under DDP Lightning wraps the order in a DistributedSampler, which cannot start part-way:
            # the interrupted epoch is then trained again from its start.
            one_process = self.trainer is None or self.trainer.world_size == 1
            items_done = int(state["batches_done"]) * self.batch_size if one_process else 0
            self._train_order.resume_at(int(state["epoch"]), items_done)
            self._resume_state = None
        # drop_last keeps every step's batch size equal: BatchNorm and minibatch-stddev need it.
        loader = self._loader(SeededItems(self.train_set), shuffle=False, drop_last=True, sampler=self._train_order)
        processes = self.trainer.world_size if self.trainer is not None else 1
        size = len(loader.dataset) if hasattr(type(loader.dataset), "__len__") else None  # streams: unknown
        if size is not None and size < self.batch_size * processes:  # not one full batch: nothing would train
            raise UserError(
                f"batch_size {self.batch_size} is larger than the {size} training images"
                + (f" shared by {processes} processes" if processes > 1 else "")
                + f"; allowed: batch_size <= {size // processes}"
            )
        return loader

    def epoch_ended(self) -> bool:
        """Whether the last training batch was its epoch's last (``limit_train_batches`` may end an
        epoch early): a checkpoint saved then resumes at the next epoch's start."""
        assert self.trainer is not None
        return self.trainer.fit_loop.epoch_loop.batch_progress.current.processed >= self.trainer.num_training_batches

    def state_dict(self) -> dict:
        """Where training is in the data (saved in checkpoints): the shuffle seed, the epoch and the
        batches of it already trained."""
        if self._train_order is None or self.trainer is None:
            return {}
        epoch, batches_done = self.trainer.current_epoch, self.trainer.fit_loop.epoch_loop.batch_progress.current.processed
        if self.epoch_ended():
            epoch, batches_done = epoch + 1, 0
        return {"shuffle_seed": self._train_order.seed, "epoch": epoch, "batches_done": batches_done}

    def load_state_dict(self, state_dict: dict) -> None:
        self._resume_state = dict(state_dict) or None

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, shuffle=False, drop_last=False)

    def test_dataloader(self) -> DataLoader:
        return self.val_dataloader()

    def predict_dataloader(self) -> DataLoader:
        # Batches of seeds; with predict_class, (seeds, classes) pairs (the model checks the class).
        seeds: Dataset = SeedDataset(self.predict_num_samples, self.predict_first_seed)
        if self.predict_class is not None:
            seeds = SeedClassDataset(seeds, self.predict_class)
        return DataLoader(seeds, batch_size=self.batch_size, shuffle=False)


class StyleDataModule(ImageDataModule):
    """Base of the style-transfer DataModules: batches are ``(content, style)``, and ``predict``
    stylizes ``predict_set``, ``(content image, name)`` items that ``setup`` fills in.

    A subclass says how its predict images are loaded, by two class attributes.
    """

    # Whole images differ in size, so they go one per batch unless every predict image has one size.
    predict_same_size: bool = False
    # Worker processes only pay off when the predict images are read from files.
    predict_from_files: bool = False
    predict_set: Dataset | None = None

    def metric_set(self) -> Dataset:
        """``(content, style)`` items whole, without random crops or flips: the validation pairs (the
        training pairs are random crops). Metrics compare stylized content with the style images."""
        if self.val_set is None:
            raise RuntimeError(f"{type(self).__name__}.setup() has not been called")
        return self.val_set

    def predict_dataloader(self) -> DataLoader:
        if self.predict_set is None:
            raise RuntimeError(f"{type(self).__name__}.setup() has not been called")
        return DataLoader(
            self.predict_set,
            batch_size=self.batch_size if self.predict_same_size else 1,
            shuffle=False,
            num_workers=self.num_workers if self.predict_from_files else 0,
        )
