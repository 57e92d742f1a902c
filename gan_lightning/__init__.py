"""GAN image generation and GAN-based style transfer in PyTorch Lightning."""

import importlib

__version__ = "0.1.0"


def __getattr__(name: str):
    # `gan_lightning.load_pretrained` is resolved on first use, so `import gan_lightning` stays free
    # of torch and of every layer (the package root imports nothing of its own).
    if name == "load_pretrained":
        return importlib.import_module("gan_lightning.checkpoints.export.pretrained").load_pretrained
    raise AttributeError(f"module 'gan_lightning' has no attribute {name!r}")
