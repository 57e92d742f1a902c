"""Mode coverage during training on the stacked digits (``gan_lightning.evaluation.stacked_modes``)."""

from __future__ import annotations

from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_info

from gan_lightning.data import StackedDigitsDataModule
from gan_lightning.evaluation.digits_classifier import DigitsClassifier, load_digits_classifier
from gan_lightning.evaluation.stacked_modes import stacked_mode_coverage


class StackedDigitsCoverage(Callback):
    """At each validation epoch end, logs how many of the 1000 stacked-digit modes ``num_samples``
    generated images fall into and the KL divergence of their mode distribution from uniform:
    ``val/stacked_modes_covered`` and ``val/stacked_kl_to_uniform``.

    Only meaningful on ``StackedDigitsDataModule``; with other data it does nothing.

    Args:
        num_samples: generated images per measurement. A generator with all modes equally often
            covers 1000 (1 - e^(-num_samples/1000)) of them in expectation: 865 at 2000, 1000 at 10,000.
    """

    def __init__(self, num_samples: int = 10_000) -> None:
        self.num_samples = num_samples
        self._classifier: DigitsClassifier | None = None
        self._told_skipped = False

    def _applies(self, trainer: Trainer) -> bool:
        if isinstance(trainer.datamodule, StackedDigitsDataModule):
            return True
        if not self._told_skipped:
            self._told_skipped = True
            rank_zero_info(f"StackedDigitsCoverage skipped: it measures samples of StackedDigitsDataModule; this run has {type(trainer.datamodule).__name__}")
        return False

    def on_validation_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.sanity_checking or not self._applies(trainer):
            return
        if self._classifier is None:
            self._classifier = load_digits_classifier()
        self._classifier.to(pl_module.device)
        seed = 20_000_000 + int(trainer.global_rank) * self.num_samples
        images = pl_module.generate(self.num_samples, seed=seed)  # type: ignore[operator]
        coverage = stacked_mode_coverage(images, self._classifier)
        pl_module.log("val/stacked_modes_covered", coverage["modes_covered"], sync_dist=True)
        pl_module.log("val/stacked_kl_to_uniform", coverage["kl_to_uniform"], sync_dist=True)


__all__ = ["StackedDigitsCoverage"]
