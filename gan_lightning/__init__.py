"""GAN image generation and GAN-based style transfer in PyTorch Lightning."""

import importlib


def __getattr__(name: str):
    # Resolved on first use, so `import gan_lightning` stays free of torch and of every layer (the
    # package root imports nothing of its own).
    if name == "load_pretrained":
        return importlib.import_module("gan_lightning.checkpoints.export.pretrained").load_pretrained
    if name == "__version__":  # the installed distribution's, one place: pyproject.toml
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("gan_lightning")
        except PackageNotFoundError:  # a source tree on sys.path that was never installed
            return "0+unknown"
    raise AttributeError(f"module 'gan_lightning' has no attribute {name!r}")
