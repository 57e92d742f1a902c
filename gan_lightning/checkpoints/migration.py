"""Bringing hyper-parameters and class paths written by earlier layouts up to date.

Applied wherever they are read: inference (``reading.load_checkpoint``), ``fit --ckpt_path FILE``,
and the class paths that configs and command lines name (``cli``). Current ones pass unchanged.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from gan_lightning.core.nets.stylegan2 import DiscriminatorConfig, GeneratorConfig

# Classes that moved, by the dotted path configs and old checkpoints name them.
MOVED_CLASSES: dict[str, str] = {
    "gan_lightning.data.shape_looks.LookFeatures": "gan_lightning.evaluation.features.LookFeatures",
}
# Modules that moved when the package's folders became its layers: a class path naming the old
# module names the same class in the new one (configs and checkpoints written before keep working).
MOVED_MODULES: dict[str, str] = {
    "gan_lightning.models": "gan_lightning.training.models",
    "gan_lightning.models.base": "gan_lightning.training.models.base",
    "gan_lightning.models.vanilla_gan": "gan_lightning.training.models.vanilla_gan",
    "gan_lightning.models.stylegan": "gan_lightning.training.models.stylegan",
    "gan_lightning.models.style_transfer": "gan_lightning.training.models.style_transfer",
    "gan_lightning.models.arbitrary_style": "gan_lightning.training.models.arbitrary_style",
    "gan_lightning.models.fine_tuning": "gan_lightning.training.fine_tuning",
    "gan_lightning.models.nvlabs_auto": "gan_lightning.training.nvlabs_auto",
    "gan_lightning.models.perceptual": "gan_lightning.training.perceptual_terms",
    "gan_lightning.callbacks": "gan_lightning.training.callbacks.samples",
    "gan_lightning.checkpointing": "gan_lightning.training.callbacks.checkpoint_writing",
    "gan_lightning.divergence": "gan_lightning.training.callbacks.divergence",
    "gan_lightning.resume": "gan_lightning.training.callbacks.random_streams",
    "gan_lightning.distributed": "gan_lightning.training.distributed",
    "gan_lightning.nets": "gan_lightning.core.nets",
    "gan_lightning.losses": "gan_lightning.core.losses",
    "gan_lightning.augment": "gan_lightning.core.augment",
}
# Options renamed so that one thing has one name across the algorithms: network sizes in
# ``generator`` / discriminator groups (as StyleGAN's), the frozen feature network of the perceptual
# terms and of AdaIN in ``perceptual`` (``PerceptualConfig``). A dotted name is a group's field.
RENAMED: dict[str, dict[str, str]] = {
    "VanillaGAN": {
        "latent_dim": "generator.z_dim",
        "z_dim": "generator.z_dim",
        "generator_width": "generator.width",
        "discriminator_width": "discriminator.width",
        "discriminator_norm": "discriminator.norm",
        "loss": "gan_loss",
    },
    "StyleTransfer": {
        "ngf": "generator.width",
        "n_blocks": "generator.blocks",
        "ndf": "style_network.width",
        "style_layers": "style_network.layers",
        "perceptual_features": "perceptual.network",
        "perceptual_width": "perceptual.width",
        "perceptual_weights_path": "perceptual.weights_path",
    },
    "ArbitraryStyleTransfer": {"features": "perceptual.network", "feature_width": "perceptual.width", "weights_path": "perceptual.weights_path"},
}


def renamed_option(algorithm: str, name: str) -> str | None:
    """The current name of ``algorithm``'s option ``name`` when it was renamed, else None."""
    return RENAMED.get(algorithm, {}).get(name)


def _field_names(config: type) -> list[str]:
    return [field.name for field in dataclasses.fields(config)]


def _group_stylegan_networks(hparams: dict[str, Any]) -> None:
    """Before: every network setting flat beside the training options. Now: ``generator`` and
    ``discriminator`` groups (shared settings such as channel_base go to both, as they did)."""
    if "generator" in hparams:
        return
    flat = dict(hparams)
    hparams["generator"] = {name: flat[name] for name in _field_names(GeneratorConfig) if name in flat}
    if any(name in flat for name in ("mbstd_group_size", "r1_gamma")):  # a training checkpoint, not a converted one
        hparams["discriminator"] = {name: flat[name] for name in _field_names(DiscriminatorConfig) if name in flat}
    for name in {*_field_names(GeneratorConfig), *_field_names(DiscriminatorConfig)}:
        hparams.pop(name, None)


def migrate_class_path(class_path: str) -> str:
    """A dotted class path of any earlier layout -> where that class is now (others pass unchanged)."""
    if class_path in MOVED_CLASSES:
        return MOVED_CLASSES[class_path]
    module, _, name = class_path.rpartition(".")
    for old in (module, *(module.rsplit(".", n)[0] for n in range(1, module.count(".")))):
        if old in MOVED_MODULES:  # the module or a package above it moved
            return MOVED_MODULES[old] + module[len(old) :] + "." + name
    return class_path


def _moved_class_paths(value: Any) -> Any:
    if isinstance(value, dict):
        value = {key: _moved_class_paths(item) for key, item in value.items()}
        if isinstance(value.get("class_path"), str):
            value["class_path"] = migrate_class_path(value["class_path"])
    return value


def migrate_hparams(algorithm: str, hparams: dict[str, Any]) -> dict[str, Any]:
    """Hyper-parameters of any earlier layout -> the current one (a new dict; current ones pass unchanged)."""
    hparams = {key: _moved_class_paths(value) for key, value in hparams.items()}
    for old, new in RENAMED.get(algorithm, {}).items():
        if old not in hparams:
            continue
        group, _, field = new.rpartition(".")
        target = hparams.setdefault(group, {}) if group else hparams
        if isinstance(target, dict) and field not in target:
            target[field] = hparams.pop(old)
    if algorithm == "StyleGAN":
        _group_stylegan_networks(hparams)
    return hparams
