"""The style benchmark's pictures and its split into pairs tuned on and pairs held out, offline.

    python benchmarks/style_pairs.py --out style_pairs/     # every photo and style as PNG, for fit/stylize

Photos (8): scikit-image's bundled photos (no download; grey ones as RGB). Styles (8): the shipped
example styles (``gan_lightning/data/example_photos.py``), the bundled shapes in their ink look
(``gan_lightning/data/shape_looks.py``) and two styles rendered here from a fixed seed.

The split. Tuned: the four shipped example photos x the four styles the presets were built around
(grass_ink is the single-image and fast-neural example; the AdaIN preset trains on all four):
16 pairs. The issue's failing case, a portrait with a stained-tissue micrograph as the style
(astronaut x cells), is a TUNED pair: the collapse has to be found on it. Held out: four photos no
preset or config uses x four styles no preset trains on: 16 pairs where neither the photo nor the
style was ever looked at while tuning. Tune only on ``TUNED``; report ``HELD_OUT`` apart.

Fresh (``FRESH``, added when ``HELD_OUT`` had been run for many candidates and studied pair by pair):
four more photos (a colour portrait from matplotlib's sample data, a CT phantom, a silhouette, a graphic)
x four more rendered styles, sharing nothing with the other splits. Run only to confirm a candidate
already chosen on ``TUNED``, never to choose between candidates.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import NamedTuple

import harness  # noqa: F401  (puts this checkout's gan_lightning on the path)
import numpy as np
from PIL import Image, ImageDraw

from gan_lightning.data.example_photos import example_style
from gan_lightning.data.shape_looks import render_look
from gan_lightning.data.shapes import scene_for_index

# name -> scikit-image data function (all in scikit-image's package folder, read offline)
_PHOTOS: dict[str, str] = {
    "astronaut": "astronaut",
    "chelsea": "chelsea",
    "coffee": "coffee",
    "rocket": "rocket",
    "motorcycle": "stereo_motorcycle",
    "camera": "camera",
    "retina": "retina",
    "coins": "coins",
    "phantom": "shepp_logan_phantom",
    "horse": "horse",
    "logo": "logo",
}
TUNED_PHOTOS: tuple[str, ...] = ("astronaut", "chelsea", "coffee", "rocket")
HELD_OUT_PHOTOS: tuple[str, ...] = ("motorcycle", "camera", "retina", "coins")
TUNED_STYLES: tuple[str, ...] = ("grass_ink", "gravel_rust", "cells", "deep_field")
HELD_OUT_STYLES: tuple[str, ...] = ("brick_teal", "shapes_ink", "hatch", "mosaic")
FRESH_PHOTOS: tuple[str, ...] = ("hopper", "phantom", "horse", "logo")  # not moon: a grey training photo (data.example_photos)
FRESH_STYLES: tuple[str, ...] = ("stipple", "waves", "plaid", "marble")
PHOTOS: tuple[str, ...] = TUNED_PHOTOS + HELD_OUT_PHOTOS + FRESH_PHOTOS
STYLES: tuple[str, ...] = TUNED_STYLES + HELD_OUT_STYLES + FRESH_STYLES
STYLE_SIZE = 512  # side the rendered styles are drawn at, as scikit-image's textures
SEED = 21
FRESH_SEED = 37  # the fresh styles' own seed


def pair_name(photo: str, style: str) -> str:
    """A pair's name, as ``--pairs`` takes it and the benchmark's work folders are named."""
    return f"{photo}__{style}"


class Pair(NamedTuple):
    photo: str
    style: str
    split: str  # "tuned", "held_out" or "fresh"

    @property
    def name(self) -> str:
        return pair_name(self.photo, self.style)


TUNED: tuple[Pair, ...] = tuple(Pair(p, s, "tuned") for p in TUNED_PHOTOS for s in TUNED_STYLES)
HELD_OUT: tuple[Pair, ...] = tuple(Pair(p, s, "held_out") for p in HELD_OUT_PHOTOS for s in HELD_OUT_STYLES)
FRESH: tuple[Pair, ...] = tuple(Pair(p, s, "fresh") for p in FRESH_PHOTOS for s in FRESH_STYLES)
PAIRS: tuple[Pair, ...] = TUNED + HELD_OUT  # "all": the two splits every recorded run covers
SPLITS: dict[str, tuple[Pair, ...]] = {"tuned": TUNED, "held_out": HELD_OUT, "fresh": FRESH, "all": PAIRS}


def photo(name: str) -> Image.Image:
    """One of ``PHOTOS`` as an RGB image at its native size."""
    if name == "hopper":  # matplotlib's sample data (a dev dependency), read offline
        from matplotlib import cbook

        return Image.open(cbook.get_sample_data("grace_hopper.jpg")).convert("RGB")
    if name not in _PHOTOS:
        raise ValueError(f"unknown benchmark photo {name!r}; allowed: {', '.join(PHOTOS)}")
    from skimage import data

    array = getattr(data, _PHOTOS[name])()
    if isinstance(array, tuple):  # stereo_motorcycle: (left, right, disparity)
        array = array[0]
    if array.dtype == bool:  # horse: a silhouette
        array = (array * 255).astype(np.uint8)  # black on white
    if array.dtype.kind == "f":  # phantom: floats in [0, 1]
        array = (array * 255).round().astype(np.uint8)
    if array.ndim == 3 and array.shape[2] == 4:  # logo: on white where it is transparent
        alpha = array[..., 3:] / 255.0
        array = (array[..., :3] * alpha + 255 * (1 - alpha)).round().astype(np.uint8)
    return Image.fromarray(array).convert("RGB")


def style(name: str) -> Image.Image:
    """One of ``STYLES`` as an RGB image."""
    if name == "shapes_ink":
        return _shapes_ink()
    if name == "hatch":
        return render_hatch(STYLE_SIZE, SEED)
    if name == "mosaic":
        return render_mosaic(STYLE_SIZE, SEED)
    if name in _FRESH_RENDERERS:
        return _FRESH_RENDERERS[name](STYLE_SIZE, FRESH_SEED)
    if name not in STYLES:
        raise ValueError(f"unknown benchmark style {name!r}; allowed: {', '.join(STYLES)}")
    return example_style(name)


def _shapes_ink() -> Image.Image:
    # Four ink scenes tiled: one scene is a single shape on paper, the style should have several.
    half = STYLE_SIZE // 2
    canvas = Image.new("RGB", (STYLE_SIZE, STYLE_SIZE))
    for index in range(4):
        tile = render_look(scene_for_index(SEED, index), half, "ink").convert("RGB")
        canvas.paste(tile, ((index % 2) * half, (index // 2) * half))
    return canvas


def render_hatch(size: int, seed: int) -> Image.Image:
    """Pen hatching: patches of short parallel ink strokes, each patch at its own angle, on warm paper."""
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (size, size), (238, 226, 200))
    draw = ImageDraw.Draw(image)
    inks = [(30, 40, 90), (110, 40, 30), (20, 20, 20)]
    cell = size // 8
    for top in range(0, size, cell):
        for left in range(0, size, cell):
            angle = rng.uniform(0, np.pi)
            ink = inks[rng.integers(len(inks))]
            direction = np.array([np.cos(angle), np.sin(angle)])
            for _ in range(int(rng.integers(10, 22))):
                centre = np.array([left, top]) + rng.uniform(0, cell, 2)
                half = direction * rng.uniform(0.3, 0.7) * cell
                start, end = centre - half, centre + half
                draw.line([tuple(start), tuple(end)], fill=ink, width=int(rng.integers(1, 4)))
    return image


def render_mosaic(size: int, seed: int) -> Image.Image:
    """A coloured tile mosaic: Voronoi cells in a saturated palette with dark grout between them."""
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, size, (size // 4, 2))
    palette = np.array([(200, 40, 40), (240, 180, 30), (30, 110, 190), (40, 150, 80), (230, 230, 215), (120, 50, 140)])
    colours = palette[rng.integers(len(palette), size=len(centres))]
    ys, xs = np.mgrid[0:size, 0:size]
    _, label = cKDTree(centres).query(np.stack([xs.ravel(), ys.ravel()], 1))
    label = label.reshape(size, size)
    grout = np.zeros((size, size), bool)
    grout[:, 1:] |= label[:, 1:] != label[:, :-1]
    grout[1:, :] |= label[1:, :] != label[:-1, :]
    grout[:, :-1] |= grout[:, 1:].copy()  # two pixels wide
    array = colours[label].astype(np.uint8)
    array[grout] = (35, 30, 28)
    return Image.fromarray(array)


def render_stipple(size: int, seed: int) -> Image.Image:
    """Pointillism: dense dots of three inks, of several sizes, on cream paper."""
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (size, size), (245, 236, 214))
    draw = ImageDraw.Draw(image)
    inks = [(200, 60, 50), (40, 90, 160), (230, 170, 40)]
    for _ in range(size * size // 60):
        x, y = rng.uniform(0, size, 2)
        radius = float(rng.uniform(1, 4))
        draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=inks[rng.integers(len(inks))])
    return image


def _smooth_noise(size: int, rng: np.random.Generator, cells: int) -> np.ndarray:
    """Value noise: a ``cells`` x ``cells`` grid of random values, enlarged to ``size`` bicubically."""
    grid = Image.fromarray((rng.uniform(0, 1, (cells + 1, cells + 1)) * 255).astype(np.uint8))
    return np.asarray(grid.resize((size, size), Image.Resampling.BICUBIC), np.float32) / 255.0


def render_waves(size: int, seed: int) -> Image.Image:
    """Flowing bands: a sine field bent by smooth noise, its phase in bands of blues and yellows."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) / size
    warp = _smooth_noise(size, rng, 4) * 6 + _smooth_noise(size, rng, 12)
    phase = (np.sin(2 * np.pi * (5 * ys + 2 * xs) + warp * 3) + 1) / 2
    palette = np.array([(20, 40, 110), (50, 100, 180), (120, 170, 220), (240, 210, 90), (250, 240, 200)], np.float32)
    band = np.minimum((phase * len(palette)).astype(int), len(palette) - 1)
    return Image.fromarray(palette[band].astype(np.uint8))


def render_plaid(size: int, seed: int) -> Image.Image:
    """Tartan: warp and weft stripes of a palette, crossed in a twill (alternate diagonal threads)."""
    rng = np.random.default_rng(seed)
    palette = np.array([(150, 30, 40), (30, 60, 40), (20, 30, 70), (220, 200, 120), (20, 20, 20)], np.float32)
    widths = rng.integers(4, 24, 10)
    sett = np.repeat(rng.integers(len(palette), size=len(widths)), widths)
    stripes = palette[np.resize(sett, size)]
    ys, xs = np.mgrid[0:size, 0:size]
    twill = ((xs + ys) // 2) % 2 == 0
    array = np.where(twill[..., None], stripes[None, :, :], stripes[:, None, :])
    return Image.fromarray(array.astype(np.uint8))


def render_marble(size: int, seed: int) -> Image.Image:
    """Marble: dark green veins, a sine of turbulence, through pale stone."""
    rng = np.random.default_rng(seed)
    xs = np.mgrid[0:size, 0:size][1].astype(np.float32) / size
    turbulence = sum(_smooth_noise(size, rng, cells) / k for k, cells in ((1, 4), (2, 8), (4, 16), (8, 32)))
    vein = np.abs(np.sin(2 * np.pi * (3 * xs + 1.5 * turbulence))) ** 0.3
    stone, dark = np.array((232, 230, 220), np.float32), np.array((30, 70, 55), np.float32)
    return Image.fromarray((dark + (stone - dark) * vein[..., None]).astype(np.uint8))


_FRESH_RENDERERS = {"stipple": render_stipple, "waves": render_waves, "plaid": render_plaid, "marble": render_marble}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for photos/NAME.png and styles/NAME.png")
    args = parser.parse_args()
    for folder, names, load in (("photos", PHOTOS, photo), ("styles", STYLES, style)):
        (args.out / folder).mkdir(parents=True, exist_ok=True)
        for name in names:
            load(name).save(args.out / folder / f"{name}.png")
    print(f"{len(PHOTOS)} photos, {len(STYLES)} styles in {args.out}; {len(TUNED)} tuned, {len(HELD_OUT)} held-out, {len(FRESH)} fresh pairs")


if __name__ == "__main__":
    main()
