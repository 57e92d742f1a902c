"""The model card (``README.md`` of a model folder): what the model is, how it was trained, what was
measured, a sample, and how to load it. Written from the checkpoint alone."""

from __future__ import annotations

import json
from typing import Any

import torch

from gan_lightning.checkpoints.export.model_folder import SAMPLE_NAME

WHAT: dict[str, str] = {
    "VanillaGAN": "a DCGAN-family generator (Radford et al. 2016): latent z -> image",
    "StyleGAN": "a StyleGAN2 generator (Karras et al. 2020): latent z -> w -> image",
    "R3GAN": "an R3GAN generator (Huang et al. 2024): latent z -> image",
    "StyleTransfer": "a CUT-family style-transfer generator (Park et al. 2020): photo -> stylized photo of the same size",
    "ArbitraryStyleTransfer": "an AdaIN arbitrary-style network (Huang & Belongie 2017): photo + any style image -> stylized photo",
}


def _number(value: Any) -> float | None:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return float(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def checkpoint_metrics(checkpoint: dict) -> dict[str, float]:
    """What a training checkpoint measured: the monitored metric of each ModelCheckpoint (best and
    last value), epoch and step. Checkpoints from `convert` or a model folder give what they have."""
    metrics = {key: float(value) for key, value in checkpoint.get("metrics", {}).items()}
    for state in (checkpoint.get("callbacks") or {}).values():
        if not isinstance(state, dict) or not state.get("monitor"):
            continue
        for key, label in (("best_model_score", "best"), ("current_score", "last")):
            value = _number(state.get(key))
            if value is not None:
                metrics[f"{state['monitor']} ({label})"] = value
    for key in ("epoch", "global_step"):
        value = _number(checkpoint.get(key))
        if value is not None:
            metrics[key] = value
    return metrics


def model_card(algorithm: str, hparams: dict[str, Any], metrics: dict[str, float], source: str, has_sample: bool) -> str:
    """Markdown text of the card."""
    lines = [
        "---",
        "library_name: gan_lightning",
        "tags: [gan, " + ("style-transfer" if algorithm == "StyleTransfer" else "image-generation") + ", safetensors]",
        "---",
        f"# {algorithm} generator",
        "",
        f"{WHAT[algorithm]}, trained with gan_lightning and exported from `{source}`.",
        "The folder holds the generator only: `model.safetensors` (weights) and `config.json` (settings); no pickle.",
        "",
        "## Use",
        "",
        "```python",
        "import gan_lightning, torch",
        'generator = gan_lightning.load_pretrained("path/to/this/folder")',
    ]
    if algorithm == "StyleTransfer":
        lines.append("stylized = generator(photo)  # photo: (N, C, H, W) in [-1, 1]")
    elif algorithm == "ArbitraryStyleTransfer":
        lines.append("stylized = generator(photo, *generator.style_statistics(style))  # (N, 3, H, W) in [-1, 1]")
    else:
        call = "generator(z, truncation_psi=0.7, noise_mode='const')" if algorithm == "StyleGAN" else "generator(z)"
        lines.append(f"images = {call}  # z = torch.randn(N, generator.z_dim); images in [-1, 1]")
    lines += [
        "```",
        "",
        "Or any command line tool: `python -m gan_lightning "
        + {"StyleTransfer": "stylize --ckpt FOLDER --input photo.jpg --out out/`",
           "ArbitraryStyleTransfer": "stylize --ckpt FOLDER --style painting.jpg --input photo.jpg --out out/`"}.get(
            algorithm, "generate --ckpt FOLDER --out grid.png`"),
        "",
        "## Measured during training",
        "",
    ]
    if metrics:
        lines += ["| metric | value |", "|---|---|"] + [f"| {name} | {value:.6g} |" for name, value in metrics.items()]
    else:
        lines.append("The checkpoint recorded no metrics.")
    if has_sample:
        what = "input (left) and output (right)" if algorithm == "StyleTransfer" else "seeds 0-15"
        lines += ["", "## Sample", "", f"![sample: {what}]({SAMPLE_NAME})"]
    lines += ["", "## Training settings", "", "```json", json.dumps(hparams, indent=2, sort_keys=True), "```", ""]
    return "\n".join(lines)
