"""GANModule, the base of the GAN LightningModules: manual optimization; the parts from training/
(progress in kimg, compile, precision, gradient cleaning, data parallelism, checkpoint hooks) run from Lightning's hooks;
fixed-noise samples for the sample-grid callback; FID/KID during validation and test."""

from __future__ import annotations

from typing import Union

import torch
from lightning.pytorch import LightningModule
from lightning.pytorch.callbacks import ModelCheckpoint
from torch import Tensor, nn

from gan_lightning.common.checks import check_at_least, check_positive
from gan_lightning.common.errors import UserError
from gan_lightning.common.torch_utils import eval_mode
from gan_lightning.evaluation.detectors import DetectorKind
from gan_lightning.evaluation.extraction import Shard, float32
from gan_lightning.evaluation.protocols import PROTOCOLS
from gan_lightning.evaluation.streamed import StreamedDistances, fid_detector
from gan_lightning.evaluation.suite import (
    ImagesOf,
    MetricSuite,
    RealSet,
    dataset_images,
    seeded_images,
)
from gan_lightning.training.checkpoint_hooks import AlgorithmCheckpoints
from gan_lightning.training.compilation import CompiledNetworks
from gan_lightning.training.data_parallel import (
    allow_unused_parameters,
    seed_per_process,
)
from gan_lightning.training.gradient_cleaning import GradientCleaning
from gan_lightning.training.precision import NumericPrecision
from gan_lightning.training.progress import ImageProgress


class GANModule(ImageProgress, CompiledNetworks, NumericPrecision, GradientCleaning, AlgorithmCheckpoints, LightningModule):
    """Base of VanillaGAN, StyleGAN and StyleTransfer.

    Subclasses create ``self.generator`` (and ``self.generator_ema`` when they keep an EMA), build the
    networks from typed ``__init__`` arguments, call ``save_hyperparameters()``, and implement
    ``training_step``, ``configure_optimizers``, ``fixed_samples`` and ``fid_fake_images``.

    Args:
        resolution: image side, linked from the DataModule by the CLI.
        channels: image channels, linked from the DataModule by the CLI.
        max_kimg: stop after this many thousand training images (summed over all processes); None: the
            Trainer's max_epochs/max_steps decide. Note that Trainer.max_steps counts optimizer steps,
            which are two (or three) per batch here.
        fid_features: "inception" (paper-standard, downloads weights unless fid_weights_path is given)
            or "shapes" (the bundled data's classifier, offline).
        fid_weights_path: local Inception weights file for clusters without internet.
        fid_num_samples: real and generated images per FID evaluation (per process); with
            ``fid_every_kimg``: generated images per evaluation (over all processes).
        fid_every_kimg: compute FID against the whole training set (the data's ``metric_set``: each
            image once, no flips, as fid50k_full) every this many thousand training images, logged as
            ``val/fid`` with the best checkpoint chosen by it; the held-out validation FID is then off
            (so ``val_fraction: 0`` works). None: FID on the validation split per validation epoch.
        kid: also log the kernel inception distance (val/kid, test/kid) over the same features and images.
        kid_subset_size: KID subset size (the paper's 1000; lowered to the number of images when fewer).
        num_classes: classes of the data's labels, linked from the DataModule by the CLI; 0 trains
            without labels. Only algorithms with ``class_conditional`` accept more.
        compile: ``torch.compile`` the networks named in ``compiled_networks`` (forward and backward)
            for training; the phases that need double backward (R1, path length, WGAN-GP) run them
            eagerly (torch.compile does not support double backward). Weights and checkpoints are
            unchanged (modules are compiled in place: no ``_orig_mod.`` keys). Off by default: see
            benchmarks/results for where it helps.
        compile_backend: the ``torch.compile`` backend ("inductor"; "aot_eager" compiles fast but runs
            no faster: for tests).
        tf32: TensorFloat-32 on NVIDIA Ampere and newer GPUs, for cuDNN convolutions and matmuls
            together: False is NVlabs' setting (full fp32, reproducible to float32 rounding), True is
            faster with a 10-bit mantissa in those products; None leaves PyTorch's defaults (TF32 in
            convolutions, not in matmuls). Process-wide, set when fit starts; no effect on CPU.
    """

    generator: nn.Module
    class_conditional: bool = False  # whether this algorithm can train on class labels

    def __init__(
        self,
        resolution: int,
        channels: int,
        max_kimg: float | None = None,
        fid_features: Union[DetectorKind, nn.Module] = "inception",
        fid_weights_path: str | None = None,
        fid_num_samples: int = 5000,
        kid: bool = False,
        kid_subset_size: int = 1000,
        fid_every_kimg: float | None = None,
        num_classes: int = 0,
        compile: bool = False,
        compile_backend: str = "inductor",
        tf32: bool | None = None,
    ) -> None:
        super().__init__()
        if num_classes < 0 or (num_classes > 0 and not self.class_conditional):
            allowed = "0 (no labels) or more" if self.class_conditional else "0: it trains without labels (set the data's labels to none)"
            raise UserError(f"{type(self).__name__}: num_classes {num_classes} is invalid; allowed: {allowed}")
        self.num_classes = num_classes
        self.automatic_optimization = False
        self.resolution = resolution
        self.channels = channels
        self.max_kimg = max_kimg
        self.fid_features = fid_features
        self.fid_weights_path = fid_weights_path
        check_at_least("fid_num_samples", fid_num_samples, 2)  # FID needs a covariance: known now, not after training
        self.fid_num_samples = fid_num_samples
        self.kid = kid
        self.kid_subset_size = kid_subset_size
        check_positive("fid_every_kimg", fid_every_kimg, optional=True)
        self.fid_every_kimg = fid_every_kimg
        self._compile_backend = compile_backend if compile else None  # `self.compile` is nn.Module's method
        self.tf32 = tf32
        self._train_fid: MetricSuite | None = None  # plain object: its networks stay out of checkpoints
        self._fid_tick = 0
        # Training progress in images, saved in checkpoints, so kimg schedules survive a resume.
        self.register_buffer("images_seen", torch.zeros((), dtype=torch.int64))
        # A plain dict keeps the distances (and their Inception network) out of state_dict and checkpoints.
        self._eval: dict[str, StreamedDistances] = {}
        self._fid_reals_cached = False
        self._fid_seen = 0

    # --- the Lightning hooks that run the parts ---------------------------------------------------

    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:
        if self.fid_every_kimg is not None and int(self.kimg // self.fid_every_kimg) > self._fid_tick:
            self._fid_tick = int(self.kimg // self.fid_every_kimg)
            self.training_set_fid()
        self.stop_at_max_kimg()

    def setup(self, stage: str) -> None:
        allow_unused_parameters(self.trainer)
        self.scale_losses_per_backward()

    def on_fit_start(self) -> None:
        self.apply_tf32()
        self.compile_networks()
        if self.fid_every_kimg is not None:  # a resumed run evaluates at its next tick, not at once
            self._fid_tick = int(self.kimg // self.fid_every_kimg)
        seed_per_process(self.trainer)

    # --- sampling --------------------------------------------------------------------------------

    @property
    def sampling_generator(self) -> nn.Module:
        """The EMA generator when there is one (sharper samples, better FID), else the trained one."""
        return getattr(self, "generator_ema", None) or self.generator

    def fixed_samples(self) -> dict[str, Tensor]:
        """Images to log as grids, name -> (N, C, H, W) in [-1, 1], from inputs fixed at construction."""
        raise NotImplementedError

    def fid_real_images(self, batch) -> Tensor:
        return batch[0]

    def fid_fake_images(self, batch) -> Tensor:
        """Generated images to compare with this validation batch's real images."""
        raise NotImplementedError

    def metric_real_images(self, metric_set) -> ImagesOf:
        """The real images of the data's metric set, by index."""
        return dataset_images(metric_set, 0, self.device)

    def metric_fake_images(self, metric_set) -> tuple[ImagesOf, int]:
        """Generated images by index (image i from seed i) and how many to make."""
        return seeded_images(self.sampling_generator, self.device), self.fid_num_samples

    # --- FID ------------------------------------------------------------------------------------

    def _distances(self, stage: str) -> StreamedDistances:
        """FID (and KID) of a stage ("val" or "test"), built on first use; the stages share one network."""
        if stage not in self._eval:
            shared = next(iter(self._eval.values()), None)
            detector = shared.detector if shared is not None else fid_detector(self.fid_features, self.fid_weights_path)
            self._eval[stage] = StreamedDistances(detector, self.kid_subset_size if self.kid else None)
        return self._eval[stage]

    def _fid_update(self, batch, stage: str, add_reals: bool) -> None:
        if self._fid_seen >= self.fid_num_samples:
            return
        distances = self._distances(stage)
        real = self.fid_real_images(batch)
        with torch.no_grad(), float32(self.device):  # the generator too: val/fid must not depend on the precision
            fake = self.fid_fake_images(batch)
        if add_reals:
            distances.add(real, "real")
        distances.add(fake, "generated")
        self._fid_seen += real.shape[0]

    def _log_distances(self, stage: str) -> None:
        """Computes (collective under DDP: every rank calls it) and logs FID and KID, then forgets
        the generated side; real features stay."""
        distances = self._eval[stage]
        counts = (distances.count("real"), distances.count("generated"))
        if min(counts) < 2:
            raise UserError(
                f"FID needs at least 2 validation images per process, got {counts[0]}: give the data more "
                "validation images (val_fraction) or raise trainer.limit_val_batches"
            )
        values = distances.compute(self._gather)
        self.log(f"{stage}/fid", values["fid"], prog_bar=stage == "val", sync_dist=False)  # every rank has the same value
        if "kid" in values:
            self.log(f"{stage}/kid", values["kid"], sync_dist=False)
        distances.forget_generated()

    def on_validation_epoch_start(self) -> None:
        self._fid_seen = 0

    def validation_step(self, batch, batch_idx: int) -> None:
        # The sanity check would leave its reals in the metric (real features survive reset()).
        # With fid_every_kimg, FID is against the training set instead (training_set_fid).
        if not self.trainer.sanity_checking and self.fid_every_kimg is None:
            self._fid_update(batch, "val", add_reals=not self._fid_reals_cached)

    def on_validation_epoch_end(self) -> None:
        if "val" in self._eval and not self.trainer.sanity_checking:
            self._log_distances("val")
            self._fid_reals_cached = True

    # --- FID against the training set, every fid_every_kimg ----------------------------------------

    def _gather(self, tensor: Tensor) -> Tensor:
        return self.all_gather(tensor) if self.trainer.world_size > 1 else tensor[None]

    def training_set_fid(self) -> float:
        """fid50k_full's protocol with ``fid_num_samples`` generated images: logs ``val/fid`` and lets
        the checkpoint callbacks keep the best weights (collective under DDP: every rank calls it)."""
        metric_set = self.trainer.datamodule.metric_set()
        fake_images, num_gen = self.metric_fake_images(metric_set)
        if self._train_fid is None:
            real = RealSet(self.metric_real_images(metric_set), len(metric_set), "training-set", self.resolution)
            self._train_fid = MetricSuite(
                fake_images, real, detector_kind=self.fid_features, inception_path=self.fid_weights_path,
                batch_size=self.trainer.datamodule.batch_size, device=self.device, progress=False,
                shard=Shard(self.trainer.global_rank, self.trainer.world_size), gather=self._gather,
            )  # fmt: skip
        self._train_fid.use_generator(fake_images, num_gen)  # the weights changed since the last time
        with eval_mode(self.sampling_generator):
            fid = self._train_fid.compute(PROTOCOLS["fid50k_full"])["fid50k_full"]
        # Straight to the loggers, once at this step (self.log here would repeat it at later steps),
        # and to callback_metrics, where checkpointing reads it; every rank has the same value.
        for logger in self.loggers:
            logger.log_metrics({"val/fid": fid}, step=self.global_step)
        self.trainer.callback_metrics["val/fid"] = torch.tensor(fid)
        self._checkpoint_best_fid()
        return fid

    def _checkpoint_best_fid(self) -> None:
        # ModelCheckpoint considers a monitored value after validation or at a training epoch's end
        # only, and this FID comes mid-epoch: give it both moments now. It acts in exactly the one it
        # is set to save in (and keeps last.ckpt too if told to; the shared config's LastCheckpoint
        # has its own schedule).
        for callback in self.trainer.checkpoint_callbacks:
            if isinstance(callback, ModelCheckpoint) and callback.monitor == "val/fid":
                callback.on_train_epoch_end(self.trainer, self)
                callback.on_validation_end(self.trainer, self)

    # `test`: the same distances on the test loader, with metrics of their own (the test reals may differ).
    def on_test_epoch_start(self) -> None:
        self._fid_seen = 0
        self._eval.pop("test", None)

    def test_step(self, batch, batch_idx: int) -> None:
        self._fid_update(batch, "test", add_reals=True)

    def on_test_epoch_end(self) -> None:
        if "test" in self._eval:
            self._log_distances("test")
