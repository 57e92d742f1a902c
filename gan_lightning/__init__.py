"""GAN image generation and GAN-based style transfer in PyTorch Lightning."""

__version__ = "0.1.0"
