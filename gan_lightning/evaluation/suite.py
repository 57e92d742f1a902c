"""Runs a list of metric protocols: real-set features (cached), generated-set features, the values.

Generated image i comes from seed i (``sampling.latents_for_seeds``), so a figure does not depend
on the number of processes or the batch size (StyleGAN's random noise aside); PPL's pair i uses seeds 2i and 2i + 1 offset past the
generated images' seeds; the equivariance metrics' sample i also uses seed i. Results are dicts
ready to be one JSON line each.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch import Tensor, nn

from gan_lightning.common.errors import UserError
from gan_lightning.evaluation import equivariance, formulas
from gan_lightning.evaluation.detectors import Role, detector_for
from gan_lightning.evaluation.extraction import FeatureCache, Gather, Shard, extract_features, single_process_gather
from gan_lightning.evaluation.protocols import PPL_EPSILON, MetricProtocol
from gan_lightning.evaluation.stacked_modes import mode_statistics, modes_of_digit_logits
from gan_lightning.evaluation.digits_classifier import NUM_DIGITS
from gan_lightning.common.sampling import class_vectors, latents_for_seeds

PPL_FIRST_SEED = 10_000_000  # PPL's latents, apart from the generated images' seeds

ImagesOf = Callable[[list[int]], Tensor]  # item indices -> images in [-1, 1] on the device


@dataclass(frozen=True)
class RealSet:
    """The real images a metric compares with: ``images_of(indices)``, how many, and what identifies
    them in the cache (dataset key and resolution)."""

    images_of: ImagesOf
    count: int
    key: str
    resolution: int


class MetricSuite:
    """Computes metrics for one generator; detectors and features are made once and shared by the
    metrics that use the same network.

    Args:
        fake_images: generated images of item indices (seeds).
        real: the real set (None for generators without one: only PPL and IS then).
        detector_kind: "inception" (the papers' networks), "shapes" (offline stand-in), or a
            feature module (``FeatureModuleDetector``) for FID/KID/PR.
        weights_dir: folder with the networks' weight files; None downloads them.
        inception_path: the Inception weights file itself (training's ``fid_weights_path``).
        cache: where real-set features are kept between runs; None: not kept.
        ppl_generator: a StyleGAN2 generator (mapping + synthesis) for PPL; None: PPL is unavailable.
        equivariance_generator: a StyleGAN3 generator for eqt50k_int, eqt50k_frac and eqr50k
            (None: unavailable); ``classes``: the class of each of its samples if conditional.
        num_gen: generated images per metric instead of the protocol's (quick checks; the JSON line
            records it and the figure is then not the paper's protocol).
        batch_size / device / shard / gather: how the work is split over processes.
        progress: show progress bars over the feature extraction.
    """

    def __init__(
        self,
        fake_images: ImagesOf,
        real: RealSet | None,
        detector_kind: str | nn.Module = "inception",
        weights_dir: str | None = None,
        inception_path: str | None = None,
        cache: FeatureCache | None = None,
        ppl_generator: nn.Module | None = None,
        equivariance_generator: nn.Module | None = None,
        classes: Sequence[int] | None = None,
        num_gen: int | None = None,
        batch_size: int = 64,
        device: torch.device | str = "cpu",
        shard: Shard = Shard(),
        gather: Gather = single_process_gather,
        progress: bool = True,
    ) -> None:
        self.fake_images = fake_images
        self.real = real
        self.detector_kind = detector_kind
        self.weights_dir = weights_dir
        self.inception_path = inception_path
        self.cache = cache
        self.ppl_generator = ppl_generator
        self.equivariance_generator = equivariance_generator
        self.classes = classes
        self.num_gen = num_gen
        self.batch_size = batch_size
        self.device = torch.device(device)
        self.shard = shard
        self.gather = gather
        self.progress = progress
        self._detectors: dict[Role, nn.Module] = {}
        self._fake: dict[tuple[Role, int], dict[str, Tensor]] = {}
        self._real: dict[tuple[Role, int], dict[str, Tensor]] = {}

    def use_generator(self, fake_images: ImagesOf, num_gen: int | None) -> None:
        """Generated images from now on (new weights); real-set features and networks are kept."""
        self.fake_images, self.num_gen, self._fake = fake_images, num_gen, {}

    def detector(self, role: Role) -> nn.Module:
        if role not in self._detectors:
            self._detectors[role] = detector_for(self.detector_kind, role, self.weights_dir, self.inception_path).to(self.device)
        return self._detectors[role]

    def _bar(self, description: str) -> str | None:
        return description if self.progress else None

    def generated_count(self, protocol: MetricProtocol) -> int:
        return protocol.num_gen if self.num_gen is None else self.num_gen

    def real_count(self, protocol: MetricProtocol) -> int:
        assert self.real is not None
        return self.real.count if protocol.max_real is None else min(self.real.count, protocol.max_real)

    def fake_features(self, role: Role, count: int) -> dict[str, Tensor]:
        if (role, count) not in self._fake:
            self._fake[role, count] = extract_features(
                self.fake_images, self.detector(role), count, self.batch_size, self.shard, self.gather, self._bar(f"generated ({self.detector(role).name})")
            )
        return self._fake[role, count]

    def real_features(self, role: Role, count: int) -> dict[str, Tensor]:
        """Features of the first ``count`` real images, from the cache when it has them."""
        real = self.real
        if real is None:
            raise UserError("this metric needs a real image set: give the data as in fit (--config or --data)")
        if (role, count) in self._real:
            return self._real[role, count]
        name = self.detector(role).name
        found = self.cache.load(real.key, real.resolution, name, count) if self.cache else None
        if found is None:
            found = extract_features(real.images_of, self.detector(role), count, self.batch_size, self.shard, self.gather, self._bar(f"real ({name})"))
            if self.cache is not None and self.shard.rank == 0:
                self.cache.save(found, real.key, real.resolution, name, count)
        self._real[role, count] = found
        return found

    def path_length_distances(self, count: int) -> Tensor:
        generator = self.ppl_generator
        if generator is None or not hasattr(generator, "mapping"):
            raise UserError("ppl2_wend needs a StyleGAN checkpoint (it interpolates in W, the mapping network's space)")
        indices = self.shard.indices(count)
        parts = []
        for start in range(0, len(indices), self.batch_size):
            pairs = indices[start : start + self.batch_size]
            z = latents_for_seeds([PPL_FIRST_SEED + 2 * i + j for i in pairs for j in (0, 1)], generator.z_dim, self.device)
            parts.append(formulas.path_length_distances(generator, self.detector("lpips"), z[0::2], z[1::2], PPL_EPSILON))
        return self.shard.merge(self.gather(torch.cat(parts)), count)

    def compute(self, protocol: MetricProtocol) -> dict[str, float]:
        """``{result name: value}`` of one metric, named as NVlabs names them."""
        name, role, num_gen = protocol.name, protocol.detector, self.generated_count(protocol)
        if name == "ppl2_wend":
            return {name: formulas.path_length(self.path_length_distances(num_gen))}
        if name in equivariance.METRICS:
            if self.equivariance_generator is None:
                raise UserError(f"{name} needs a StyleGAN3 generator (its Fourier-feature input is what gets translated and rotated)")
            return {name: equivariance.equivariance_psnr(
                self.equivariance_generator, name, num_gen, self.device, self.classes, self.shard, self.gather
            )}  # fmt: skip
        if name == "is50k":
            logits = self.fake_features(role, num_gen).get("logits")
            if logits is None:
                raise UserError(f"is50k needs a classifier's logits; detector {self.detector_kind!r} gives none")
            mean, std = formulas.inception_score(logits)
            return {"is50k_mean": mean, "is50k_std": std}
        if name == "modes26k":
            logits = self.fake_features(role, num_gen)["features"].view(-1, 3, NUM_DIGITS)
            statistics = mode_statistics(modes_of_digit_logits(logits))
            return {"modes26k_covered": statistics["modes_covered"], "modes26k_kl": statistics["kl_to_uniform"]}
        fake = self.fake_features(role, num_gen)["features"]
        real = self.real_features(role, self.real_count(protocol))["features"]
        if name == "fid50k_full":
            return {name: formulas.frechet_distance(fake, real)}
        if name == "kid50k_full":
            return {name: formulas.kernel_distance(fake, real)}
        if name == "pr50k3_full":
            precision, recall = formulas.precision_recall(fake, real)
            return {"pr50k3_full_precision": precision, "pr50k3_full_recall": recall}
        raise AssertionError(f"no computation for metric {name}")

    def run(self, protocol: MetricProtocol) -> dict:
        """One metric as an NVlabs-style JSON record: results, metric, time, settings."""
        start = time.time()
        results = self.compute(protocol)
        num_gen = self.generated_count(protocol)
        network = None if protocol.detector is None else self.detector(protocol.detector).name
        noise = {"ppl2_wend": "const, redrawn per pair", **dict.fromkeys(equivariance.METRICS, "none (StyleGAN3 has no noise inputs)")}
        settings = {
            "num_gen": num_gen,
            "num_real": 0 if protocol.max_real == 0 or self.real is None else self.real_count(protocol),
            "detector": network,
            "truncation_psi": 1.0,
            "noise_mode": noise.get(protocol.name, "random"),
            "paper_protocol": num_gen == protocol.num_gen and (network is None or self.detector_kind == "inception"),
            "num_processes": self.shard.world_size,
        }
        return {"results": results, "metric": protocol.name, "total_time": time.time() - start, "settings": settings}


def seeded_images(generator: nn.Module, device: torch.device | str, classes: Sequence[int] | None = None, **generator_kwargs) -> ImagesOf:
    """Images of a latent generator (``z_dim``): item i from seed i, truncation psi 1; for a
    class-conditional generator, item i is of class ``classes[i]``."""
    if classes is None:
        return lambda indices: generator(latents_for_seeds(indices, generator.z_dim, device), **generator_kwargs)

    def images_of(indices: list[int]) -> Tensor:
        c = class_vectors([classes[i] for i in indices], generator.c_dim, device)
        return generator(latents_for_seeds(indices, generator.z_dim, device), c, **generator_kwargs)

    return images_of


def dataset_images(dataset, part: int, device: torch.device | str) -> ImagesOf:
    """Part ``part`` (0: the image; for (content, style) items 0 or 1) of dataset items."""
    return lambda indices: torch.stack([dataset[i][part] for i in indices]).to(device)


def translated_images(generator: nn.Module, dataset, device: torch.device | str) -> ImagesOf:
    """An image-to-image generator applied to the content part of dataset items."""
    content = dataset_images(dataset, 0, device)
    return lambda indices: generator(content(indices))
