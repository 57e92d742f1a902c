"""The package's layers, lowest first: each is one top-level folder, and a module imports only from
its own layer and the layers before it. This table is the one statement of the order:
tests/test_architecture.py checks the code against it, and the README and docs point here."""

from __future__ import annotations

from typing import NamedTuple


class Layer(NamedTuple):
    folder: str
    holds: str


LAYERS: tuple[Layer, ...] = (
    Layer("common", "errors, image conversions, seeded sampling, tiling, outputs, video, torch helpers"),
    Layer("core", "nets/ (the papers' blocks), losses, augmentation: plain torch"),
    Layer("checkpoints", "safe reading, migration of old layouts, foreign formats, generator registry, export"),
    Layer("evaluation", "metrics and their feature networks, the bundled data's instruments"),
    Layer("data", "LightningDataModules, datasets, prepared (streamed) data"),
    Layer("training", "LightningModules, callbacks (samples, checkpoint writing, divergence, RNG streams), DDP"),
    Layer("cli", "dispatch, the LightningCLI subclass, commands/ with one module per command"),
)
# Beyond the order: the data makes batches and knows no network, checkpoint or metric.
FORBIDDEN: dict[str, tuple[str, ...]] = {"data": ("core", "checkpoints", "evaluation")}
# Layers that stay free of the training stack, so inference commands load fast and light.
NO_TRAINING_STACK: tuple[str, ...] = ("common", "core", "checkpoints", "evaluation")
TRAINING_STACK: tuple[str, ...] = ("lightning", "pytorch_lightning", "jsonargparse", "wandb", "litdata")
# torchmetrics is a training/evaluation dependency: the plain-torch layers do without it.
TORCHMETRICS_LAYERS: tuple[str, ...] = ("evaluation", "training", "cli")
# Folders of data, not code, beside the layers: the presets (the repository's configs/, linked here so
# that a wheel carries them). They hold no module, so they import nothing and belong to no layer.
DATA_FOLDERS: tuple[str, ...] = ("configs",)
# The modules allowed beside the layer folders at the package root.
ROOT_MODULES: tuple[str, ...] = ("__init__", "__main__", "layers")
