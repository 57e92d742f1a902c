"""`python -m gan_lightning evaluate`: the StyleGAN metric suite (fid50k_full, kid50k_full,
pr50k3_full, ppl2_wend, is50k; for StyleGAN3 also eqt50k_int, eqt50k_frac, eqr50k) for a
checkpoint, against the data given as in `fit` (the equivariance metrics need no data).

    python -m gan_lightning evaluate --ckpt CKPT --config configs/stylegan.yaml --metrics fid50k_full,kid50k_full
    python -m gan_lightning evaluate --ckpt CKPT --data ImageFolderDataModule --data.root DIR --data.resolution 256 \\
        --metrics fid50k_full,pr50k3_full --devices 8 --out metrics.jsonl --weights-dir /shared/metric-weights

Writes one JSON line per metric (NVlabs' metric-*.jsonl fields: results, metric, total_time,
snapshot, timestamp, plus the settings used) and prints a one-line summary. Real-set features are
cached under --cache-dir by dataset, resolution and feature network. Several GPUs run through
Lightning Fabric (one process per device). Unlike generate/stylize it uses Lightning: the data is
parsed and built exactly as `fit` builds it.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Optional

import torch
from jsonargparse import ActionConfigFile, Namespace

from gan_lightning.checkpoints.reading import generator_from_checkpoint, load_checkpoint
from gan_lightning.data.labels import drawn_labels, item_labels
from gan_lightning.common.checks import check_at_least
from gan_lightning.common.errors import UserError
from gan_lightning.evaluation.detectors import DETECTOR_KINDS
from gan_lightning.evaluation.equivariance import METRICS as EQUIVARIANCE
from gan_lightning.evaluation.equivariance import input_transform
from gan_lightning.evaluation.extraction import FeatureCache, Shard, dataset_key
from gan_lightning.evaluation.protocols import LATENT_ONLY, parse_metrics
from gan_lightning.evaluation.suite import MetricSuite, RealSet, dataset_images, seeded_images, translated_images
from gan_lightning.checkpoints.registry import LATENT_ALGORITHMS, STYLE_IMAGE_ALGORITHMS

DEFAULT_CACHE = Path.home() / ".cache" / "gan_lightning" / "metrics"
# DataModule options that change how images are loaded, not which images: left out of the cache key.
LOADER_OPTIONS = ("batch_size", "num_workers", "pin_memory", "persistent_workers", "predict_num_samples", "predict_first_seed", "skip_corrupt")


def build_parser():
    from lightning.pytorch import LightningDataModule
    from lightning.pytorch.cli import LightningArgumentParser

    import gan_lightning.data  # noqa: F401  (registers the DataModules for short class names)

    parser = LightningArgumentParser(prog="python -m gan_lightning evaluate", description=__doc__, exit_on_error=False)
    parser.add_argument("--config", action=ActionConfigFile, help="a fit preset or a run's config.yaml: its data is used")
    parser.add_argument("--ckpt", required=True, help="checkpoint from `fit` or `convert`")
    parser.add_argument("--metrics", default="fid50k_full", help="comma-separated: fid50k_full,kid50k_full,pr50k3_full,ppl2_wend,is50k,eqt50k_int,eqt50k_frac,eqr50k,modes26k (stacked digits)")
    parser.add_argument("--out", type=Optional[str], default=None, help="append the JSON lines to this file")
    parser.add_argument("--devices", "--num-gpus", type=int, default=1, help="processes (GPUs) to split the work over")
    parser.add_argument("--accelerator", default="auto", help="auto, cpu or gpu")
    parser.add_argument("--batch-size", type=int, default=64, help="images per forward pass and process")
    parser.add_argument("--num-gen", type=Optional[int], default=None, help="generated images instead of the protocol's 50,000 (quick checks)")
    parser.add_argument("--detector", default="inception", help=f"feature networks: {', '.join(DETECTOR_KINDS)} (shapes: offline, bundled data)")
    parser.add_argument("--weights-dir", type=Optional[str], default=None, help="folder with the Inception and VGG16 weight files (offline)")
    parser.add_argument("--cache-dir", default=str(DEFAULT_CACHE), help="where real-set features are kept")
    parser.add_argument("--no-ema", action="store_true", help="the trained generator instead of its EMA copy")
    parser.add_lightning_class_args(LightningDataModule, "data", subclass_mode=True, required=False)
    # The rest of a fit config (--config) is read and ignored.
    for key in ("model", "trainer", "seed_everything", "ckpt_path", "weights_only", "optimizer", "lr_scheduler"):
        parser.add_argument(f"--{key}", type=Optional[Any], default=None, help="(from --config; not used)")
    return parser


def data_description(data: Namespace) -> dict[str, Any]:
    """What identifies the real set: the DataModule class and its options that pick the images."""
    init_args = {k: v for k, v in vars(data.get("init_args") or Namespace()).items() if k not in LOADER_OPTIONS}
    # A folder given relative to where the command runs is the same data from anywhere else.
    init_args = {k: os.path.abspath(v) if isinstance(v, str) and os.path.exists(v) else v for k, v in init_args.items()}
    return {"class_path": data.get("class_path"), "init_args": init_args}


def generated_classes(generator, metric_set, datamodule, protocols, num_gen: int | None) -> list[int] | None:
    """A class-conditional generator's class for each generated image: drawn from the real set's
    labels (NVlabs' metrics do so), uniformly over the classes without a real set; None when unconditional."""
    c_dim = int(getattr(generator, "c_dim", 0))
    if c_dim == 0:
        return None
    if any(p.name == "ppl2_wend" for p in protocols):
        raise UserError(f"ppl2_wend of a class-conditional model ({c_dim} classes) is not implemented; allowed here: the other metrics")
    count = max([num_gen or 0, *(p.num_gen for p in protocols)])
    if metric_set is None:
        return drawn_labels(list(range(c_dim)), count)
    if getattr(datamodule, "num_classes", 0) != c_dim:
        raise UserError(
            f"this model is class-conditional ({c_dim} classes) but the data gives {getattr(datamodule, 'num_classes', 0)}: "
            "give the data with its labels as in fit (e.g. --data.init_args.labels)"
        )
    return drawn_labels(item_labels(metric_set), count)


def summary(records: list[dict], ckpt: str) -> str:
    values = "  ".join(f"{name} {value:.6g}" for record in records for name, value in record["results"].items())
    flags = "" if all(r["settings"]["paper_protocol"] for r in records) else "  (not the paper protocol: see settings)"
    return f"{Path(ckpt).name}: {values}{flags}"


def main(argv: list[str]) -> None:
    from jsonargparse import ArgumentError
    from lightning.fabric import Fabric

    from gan_lightning.cli.config_files import migrate_command_line

    parser = build_parser()
    try:
        config = parser.parse_args(migrate_command_line(argv))  # presets' included files expanded
    except ArgumentError as error:
        raise UserError(" ".join(str(error).split())) from None
    check_at_least("--num-gen", config.num_gen, 2, optional=True)  # 0 is a count, not "left out"
    protocols = parse_metrics(config.metrics)
    checkpoint = load_checkpoint(config.ckpt)
    algorithm = checkpoint["algorithm"]
    if algorithm in STYLE_IMAGE_ALGORITHMS:  # needs a style image per content image: no protocol defined yet
        raise UserError(f"evaluate does not score {algorithm} checkpoints yet; allowed: VanillaGAN, StyleGAN, StyleTransfer")
    if algorithm not in LATENT_ALGORITHMS and (latent_only := [p.name for p in protocols if p.name in LATENT_ONLY]):
        raise UserError(f"metric {', '.join(latent_only)} needs a latent generator; {config.ckpt!r} is a {algorithm} checkpoint")
    if config.data is None and any(p.max_real != 0 for p in protocols):
        raise UserError("these metrics compare with real images: give the data as in fit (--config PRESET.yaml or --data ...)")

    fabric = Fabric(accelerator=config.accelerator, devices=config.devices, strategy="ddp" if config.devices > 1 else "auto")
    fabric.launch()
    device = fabric.device
    generator = generator_from_checkpoint(checkpoint, device, use_ema=not config.no_ema)
    for protocol in protocols:
        if protocol.name in EQUIVARIANCE:
            input_transform(generator, protocol.name)  # fails before any metric runs
    real, metric_set = None, None
    if config.data is not None:
        datamodule = parser.instantiate_classes(Namespace(data=config.data)).data
        datamodule.setup("fit")
        metric_set = datamodule.metric_set()
        key = f"{type(datamodule).__name__}-{dataset_key(data_description(config.data))}"
        part = 1 if algorithm == "StyleTransfer" else 0  # style images are the real set of a style transfer
        real = RealSet(dataset_images(metric_set, part, device), len(metric_set), key, datamodule.resolution)
    if algorithm == "StyleTransfer":
        fake_images, classes = translated_images(generator, metric_set, device), None
        num_gen = min(config.num_gen or len(metric_set), len(metric_set))  # one stylized image per content image
    else:
        kwargs = {"noise_mode": "random"} if algorithm == "StyleGAN" else {}
        classes = generated_classes(generator, metric_set, datamodule if metric_set is not None else None, protocols, config.num_gen)
        fake_images, num_gen = seeded_images(generator, device, classes, **kwargs), config.num_gen
    gather = (lambda tensor: fabric.all_gather(tensor)) if fabric.world_size > 1 else (lambda tensor: tensor[None])
    suite = MetricSuite(
        fake_images,
        real,
        detector_kind=config.detector,
        weights_dir=config.weights_dir,
        cache=FeatureCache(config.cache_dir),
        ppl_generator=generator if algorithm == "StyleGAN" else None,
        equivariance_generator=generator,
        classes=classes,
        num_gen=num_gen,
        batch_size=config.batch_size,
        device=device,
        shard=Shard(fabric.global_rank, fabric.world_size),
        gather=gather,
    )
    records = []
    for protocol in protocols:
        torch.manual_seed(fabric.global_rank)  # noise of the generated images: fixed per run and process
        record = suite.run(protocol)
        records.append(dict(record, snapshot=str(config.ckpt), timestamp=time.time()))
    if fabric.global_rank != 0:
        return
    lines = [json.dumps(record) for record in records]
    print("\n".join(lines))
    if config.out:
        Path(config.out).parent.mkdir(parents=True, exist_ok=True)
        with open(config.out, "a") as file:
            file.write("".join(line + "\n" for line in lines))
    print(summary(records, config.ckpt))
