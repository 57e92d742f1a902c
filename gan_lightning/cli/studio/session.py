"""The studio's actions on one loaded generator, without any web framework: each checks its input,
calls the function its CLI command calls, writes the result with the command's writer into a fresh
folder under the session's temporary folder, and returns the files with the command line that
reproduces them. The page and its API endpoints are thin wrappers around these."""

from __future__ import annotations

import re
import shlex
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image
from torch import nn

from gan_lightning.checkpoints.reading import generator_from_checkpoint, load_checkpoint
from gan_lightning.checkpoints.registry import STYLE_IMAGE_ALGORITHMS
from gan_lightning.cli.arguments import resolve_device
from gan_lightning.cli.commands.generate import generate_images, takes_sampling_options
from gan_lightning.cli.commands.project import invert, mix_projections, multiscale_mse
from gan_lightning.cli.commands.interpolate import has_w_space, images_along_z, walk_latents, walk_projected
from gan_lightning.cli.commands.style_mix import style_mix_grid
from gan_lightning.cli.commands.stylize import check_stylize_options, read_photo, write_stylized
from gan_lightning.cli.style_image import image_network
from gan_lightning.cli.stylegan_arguments import class_input, parse_int_list, synthesize, ws_for_seeds
from gan_lightning.cli.walks import read_projected_ws
from gan_lightning.common.errors import UserError
from gan_lightning.common.images import IMAGE_EXTENSIONS, save_image_grid
from gan_lightning.common.sampling import seed_range
from gan_lightning.common.tiling import DEFAULT_TILE_SIZE
from gan_lightning.common.video import write_video
from gan_lightning.core.nets.layers import NOISE_MODES

PANELS: tuple[str, ...] = ("generate", "style_mix", "walk", "project", "stylize")
MAX_SEED = 2**32 - 1  # seeds as NVlabs' tools take them
MAX_IMAGES = 64  # images in one grid: a request stays seconds long on a CPU
MAX_FRAMES = 600  # frames of one walk
MAX_PROJECT_STEPS = 1000
MAX_UPLOAD_BYTES = 20 * 1024 * 1024  # also the web server's upload limit
MAX_PIXELS = 4096 * 4096  # larger photos are refused before they are decoded
Progress = Callable[[int, int], None]
# Latents by name among seeds: projN, the Nth latent a projection of this session wrote (walks and
# style mixing); fileN, the Nth latent file uploaded with that walk (walks only).
PROJECTION_NAME = re.compile(r"proj[1-9][0-9]*")
LATENT_NAME = re.compile(r"(proj|file)[1-9][0-9]*")


@dataclass(frozen=True)
class Result:
    """What an action wrote (in the order the page shows them) and the CLI line that writes the same."""

    files: tuple[Path, ...]
    command: str
    latents: tuple[str, ...] = ()  # the names walks and style mixing know this action's latents by (proj1, ...)


def command_line(command: str, *options: object) -> str:
    """``python -m gan_lightning COMMAND OPTIONS``, quoted for a POSIX shell; floats in their
    shortest exact form, so the CLI parses the very value the page used."""
    words = [repr(float(o)) if isinstance(o, float) else str(o) for o in options]
    return shlex.join(["python", "-m", "gan_lightning", command, *words])


def panels_of(generator: nn.Module) -> tuple[str, ...]:
    """The panels this generator supports, read from what it has, not from its class name: a latent
    generator (``z_dim``) generates and walks (in Z where it has no W); one with a mapping to W and a
    synthesis from W+ also mixes styles and projects; an image translator (no latent) stylizes."""
    latent = hasattr(generator, "z_dim")
    w_space = latent and has_w_space(generator)
    supported = {"generate": latent, "style_mix": w_space, "walk": latent, "project": w_space, "stylize": not latent}
    return tuple(panel for panel in PANELS if supported[panel])


def check_seeds(seeds: list[int], what: str) -> None:
    too_large = [s for s in seeds if s > MAX_SEED]
    if too_large:
        raise UserError(f"{what} {too_large[0]} is out of range; allowed: 0 to {MAX_SEED}")


def check_count(count: int, what: str, most: int) -> None:
    if not 1 <= count <= most:
        raise UserError(f"{what} {count} is out of range; allowed: 1 to {most}")


def check_upload(path: str | Path | None, what: str) -> Path:
    """An uploaded image: a file with an image extension, at most MAX_UPLOAD_BYTES and MAX_PIXELS."""
    if path is None or str(path) == "":
        raise UserError(f"{what}: upload an image first")
    file = Path(path)
    if not file.is_file():
        raise UserError(f"{what} {file.name!r} was not received; upload it again")
    if file.suffix.lower() not in IMAGE_EXTENSIONS:
        raise UserError(f"{what} {file.name!r} is not an image; allowed: {', '.join(IMAGE_EXTENSIONS)}")
    size = file.stat().st_size
    if size > MAX_UPLOAD_BYTES:
        raise UserError(f"{what} {file.name!r} has {size} bytes; allowed: up to {MAX_UPLOAD_BYTES}")
    try:
        with Image.open(file) as image:  # reads the header only
            width, height = image.size
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):  # PIL's ways of saying it cannot read it
        raise UserError(f"{what} {file.name!r} is not a readable image; allowed: {', '.join(IMAGE_EXTENSIONS)}") from None
    if width * height > MAX_PIXELS:
        raise UserError(f"{what} {file.name!r} is {width}x{height} pixels; allowed: up to {MAX_PIXELS} pixels")
    return file


def check_latent_upload(path: str | Path, name: str) -> Path:
    """An uploaded latent: a ``.pt`` file of at most MAX_UPLOAD_BYTES (its content is checked when read)."""
    file = Path(path)
    if not file.is_file():
        raise UserError(f"latent {name} {file.name!r} was not received; upload it again")
    if file.suffix.lower() != ".pt":
        raise UserError(f"latent {name} {file.name!r} is not a .pt file; allowed: the *_ws.pt files `project` writes")
    size = file.stat().st_size
    if size > MAX_UPLOAD_BYTES:
        raise UserError(f"latent {name} {file.name!r} has {size} bytes; allowed: up to {MAX_UPLOAD_BYTES}")
    return file


def walk_points(text: str) -> list[int | str]:
    """'1,proj1,3-4,file1' -> [1, 'proj1', 3, 4, 'file1']: seeds (single or ranges) and latent names."""
    points: list[int | str] = []
    for part in text.split(","):
        part = part.strip()
        if LATENT_NAME.fullmatch(part):
            points.append(part)
            continue
        try:
            points.extend(parse_int_list(part, "seeds"))
        except UserError:
            raise UserError(f"walk point {part!r} is neither a seed (5 or 5-7) nor a latent name; allowed: seeds, proj1, proj2 ... (projections), file1, file2 ... (uploaded latents)") from None
    return points


class Studio:
    """One generator (EMA copy) loaded from a checkpoint or model folder, and a temporary folder that
    every output goes to."""

    def __init__(self, ckpt: str, device: str = "auto", workdir: Path | None = None) -> None:
        self.ckpt = str(Path(ckpt).expanduser().absolute())  # the command lines work from any folder
        self.device_name = device
        self.device = resolve_device(device)
        checkpoint = load_checkpoint(self.ckpt)
        self.algorithm: str = checkpoint["algorithm"]
        self.channels = int(checkpoint["hyper_parameters"]["channels"])
        # the scale style training saw (0: none recorded); `stylize` resizes photos to it by default
        self.photo_size = int(checkpoint["hyper_parameters"].get("stylize_size") or 0)
        self.generator = generator_from_checkpoint(checkpoint, self.device)
        self.panels = panels_of(self.generator)
        self.classes = int(getattr(self.generator, "c_dim", 0))
        self.sampling_options = takes_sampling_options(self.generator) if "generate" in self.panels else False
        self.style_image = self.algorithm in STYLE_IMAGE_ALGORITHMS
        self.workdir = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="gan_lightning_studio_"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.projections: dict[str, Path] = {}  # proj1, proj2 ... -> the *_ws.pt a projection wrote in workdir

    # --- helpers -----------------------------------------------------------------------------------

    def _needs(self, panel: str) -> None:
        if panel not in self.panels:
            raise UserError(f"this {self.algorithm} model has no {panel.replace('_', ' ')}; it supports: {', '.join(self.panels)}")

    def _folder(self, action: str) -> Path:
        return Path(tempfile.mkdtemp(prefix=f"{action}_", dir=self.workdir))

    def _model_options(self) -> list[object]:
        return ["--ckpt", self.ckpt, "--device", self.device_name]

    def _sampling(self, truncation: float, noise_mode: str, class_index: int | None) -> list[object]:
        """The options of the sampling settings, checked; those the generator does not take are left
        out (so a VanillaGAN's line has no --truncation)."""
        if noise_mode not in NOISE_MODES:
            raise UserError(f"noise mode {noise_mode!r} is unknown; allowed: {', '.join(NOISE_MODES)}")
        if not 0.0 <= truncation <= 2.0:
            raise UserError(f"truncation {truncation} is out of range; allowed: 0 to 2")
        class_input(self.generator, class_index, 1, self.device)
        options: list[object] = ["--truncation", float(truncation), "--noise-mode", noise_mode] if self.sampling_options else []
        return options + (["--class", class_index] if class_index is not None else [])

    def _keep_projections(self, *files: Path) -> tuple[str, ...]:
        """Names the projections' latents proj1, proj2 ... (in the order they were made), for walks and style mixing."""
        names = tuple(f"proj{len(self.projections) + i}" for i in range(1, len(files) + 1))
        self.projections.update(zip(names, files))
        return names

    def _class(self, class_index: int | None) -> int | None:
        """The page sends the class of an unconditional model too; it means nothing there."""
        return class_index if self.classes else None

    # --- the actions ---------------------------------------------------------------------------------

    def generate(self, seed: int, num: int = 1, truncation: float = 1.0, noise_mode: str = "const", class_index: int | None = None) -> Result:
        """Seeds ``seed .. seed + num - 1`` as one grid: `generate --seed S --num N --out grid.png`."""
        self._needs("generate")
        check_count(num, "number of images", MAX_IMAGES)
        if not 0 <= seed <= MAX_SEED - num + 1:
            raise UserError(f"seed {seed} is out of range; allowed: 0 to {MAX_SEED - num + 1} (for {num} images)")
        seeds = seed_range(seed, num)
        class_index = self._class(class_index)
        options = self._sampling(truncation, noise_mode, class_index)
        images = generate_images(self.generator, self.algorithm, seeds, truncation, noise_mode, class_index)
        path = save_image_grid(images, self._folder("generate") / "generate.png")
        return Result((path,), command_line("generate", *self._model_options(), "--seed", seed, "--num", num, *options, "--out", path.name))

    def style_mix(self, rows: str, cols: str, crossover: int, truncation: float = 1.0, noise_mode: str = "const", class_index: int | None = None) -> Result:
        """Row seeds x column seeds, layers 0 .. crossover-1 (the coarse ones) from the column seed:
        `style-mix --styles 0-K`. Rows and columns may name this session's projections (proj1 ...),
        which the command line names by their *_ws.pt files."""
        self._needs("style_mix")
        row_sources, col_sources = self._mix_sources(rows, "row seeds"), self._mix_sources(cols, "column seeds")
        check_seeds([s for s in row_sources + col_sources if isinstance(s, int)], "seed")
        check_count(len(row_sources) * len(col_sources), "rows x columns", MAX_IMAGES)
        num_ws = self.generator.num_ws
        if not 1 <= crossover <= num_ws:
            raise UserError(f"crossover layer {crossover} is out of range; allowed: 1 to {num_ws}")
        styles = f"0-{crossover - 1}"
        class_index = self._class(class_index)
        options = self._sampling(truncation, noise_mode, class_index)
        grid = style_mix_grid(self.generator, row_sources, col_sources, parse_int_list(styles, "--styles"), truncation, noise_mode, class_index)
        path = save_image_grid(grid, self._folder("style_mix") / "style_mix.png", nrow=len(col_sources) + 1)
        rows, cols = (self._with_files(text) for text in (rows, cols))
        line = command_line("style-mix", *self._model_options(), "--rows", rows, "--cols", cols, "--styles", styles, *options, "--out", path.name)
        return Result((path,), line)

    def _mix_sources(self, text: str, what: str) -> list[int | Path]:
        """Seeds (1, 3-5) and projection names of one side of the style-mixing grid."""
        sources: list[int | Path] = []
        for part in text.split(","):
            if PROJECTION_NAME.fullmatch(part.strip()):
                sources.append(self._projection(part.strip()))
            else:
                sources.extend(parse_int_list(part, what))
        return sources

    def _projection(self, name: str) -> Path:
        if name not in self.projections:
            known = ", ".join(self.projections) or "none yet: project a photo first"
            raise UserError(f"{name!r} is not a projection of this session; it has: {known}")
        return self.projections[name]

    def _with_files(self, text: str) -> str:
        """``text`` with each projection name replaced by its file, as `style-mix` takes it."""
        return ",".join(str(self.projections[p.strip()]) if PROJECTION_NAME.fullmatch(p.strip()) else p for p in text.split(","))

    def walk(
        self, seeds: str, steps: int = 24, fps: float = 24.0, space: str = "w", loop: bool = False,
        truncation: float = 1.0, noise_mode: str = "const", class_index: int | None = None,
        latents: Sequence[str | Path] | None = None,
    ) -> Result:  # fmt: skip
        """A latent walk through ``seeds`` as an MP4: `interpolate --seeds ... --out walk.mp4`. Points
        may also name latents: ``proj1`` ... (this session's projections) and ``file1`` ... (the
        ``latents`` files, uploaded ``*_ws.pt``); such a walk goes through W+ files in its folder, each
        seed's W written as ``seedN_ws.pt``: `interpolate --latents ...`."""
        self._needs("walk")
        points = walk_points(seeds)
        check_seeds([p for p in points if isinstance(p, int)], "seed")
        if len(points) < 2:
            raise UserError(f"seeds {seeds!r}: give at least 2 seeds to walk between")
        if space not in ("w", "z"):
            raise UserError(f"space {space!r} is unknown; allowed: w, z")
        if not 1.0 <= fps <= 60.0:
            raise UserError(f"fps {fps} is out of range; allowed: 1 to 60")
        frames = steps * (len(points) - (0 if loop else 1)) + (0 if loop else 1)
        check_count(steps, "steps", MAX_FRAMES)
        check_count(frames, "frames", MAX_FRAMES)
        class_index = self._class(class_index)
        options = self._sampling(truncation, noise_mode, class_index)
        if not has_w_space(self.generator):
            return self._walk_z(seeds, points, steps, fps, space, loop, options, class_index, latents)
        uploads = {f"file{i}": check_latent_upload(path, f"file{i}") for i, path in enumerate(latents or (), start=1)}
        if all(isinstance(p, int) for p in points):
            if uploads:
                raise UserError(f"uploaded latents {', '.join(uploads)} are not among the points {seeds!r}; name them there, e.g. 1,file1")
            ws = walk_latents(self.generator, points, steps, space, loop, truncation, class_index)
            path = write_video(synthesize(self.generator, ws, noise_mode), self._folder("walk") / "walk.mp4", fps)
            line = command_line(
                "interpolate", *self._model_options(), "--seeds", seeds, "--steps", steps, "--fps", float(fps), "--space", space,
                *(["--loop"] if loop else []), *options, "--out", path.name,
            )  # fmt: skip
            return Result((path,), line)
        if space != "w":
            raise UserError("space z walks between seeds only; a walk through latents goes in W+: choose w")
        folder = self._folder("walk")
        files = self._latent_files(points, uploads, truncation, class_index, folder)
        ws = walk_projected(self.generator, files, steps, loop)
        path = write_video(synthesize(self.generator, ws, noise_mode), folder / "walk.mp4", fps)
        noise = ["--noise-mode", noise_mode] if self.sampling_options else []  # truncation and class are in the seeds' files
        line = command_line(
            "interpolate", *self._model_options(), "--latents", ",".join(str(f) for f in files), "--steps", steps, "--fps", float(fps),
            *(["--loop"] if loop else []), *noise, "--out", path.name,
        )  # fmt: skip
        return Result((path,), line)

    def _walk_z(
        self, seeds: str, points: list[int | str], steps: int, fps: float, space: str, loop: bool, options: list[object],
        class_index: int | None, latents: Sequence[str | Path] | None,
    ) -> Result:  # fmt: skip
        """A generator without W (R3GAN, VanillaGAN) walks between seeds in Z, as `interpolate` does."""
        if space != "z":
            raise UserError(f"space {space!r}: a {self.algorithm} generator maps z straight to images, with no W space; allowed: z")
        if latents or not all(isinstance(p, int) for p in points):
            raise UserError(f"a {self.algorithm} generator has no W space for projected latents; walk between seeds")
        images = images_along_z(self.generator, points, steps, loop, class_index)
        path = write_video(images, self._folder("walk") / "walk.mp4", fps)
        line = command_line(
            "interpolate", *self._model_options(), "--seeds", seeds, "--steps", steps, "--fps", float(fps), "--space", "z",
            *(["--loop"] if loop else []), *options, "--out", path.name,
        )  # fmt: skip
        return Result((path,), line)

    def _latent_files(
        self, points: list[int | str], uploads: dict[str, Path], truncation: float, class_index: int | None, folder: Path
    ) -> list[Path]:
        """The W+ file of each point, all in the studio folder so the command line can name them: a
        projection's own, an upload checked and copied to ``fileN_ws.pt``, a seed's W as ``seedN_ws.pt``."""
        unknown = [p for p in points if isinstance(p, str) and p not in self.projections and p not in uploads]
        if unknown:
            known = [*self.projections, *uploads] or ["none yet: project a photo or upload a *_ws.pt"]
            raise UserError(f"walk point {unknown[0]!r} is unknown; this session has: {', '.join(known)}")
        unused = [name for name in uploads if name not in points]
        if unused:
            raise UserError(f"uploaded latents {', '.join(unused)} are not among the points; name them there, e.g. 1,{unused[0]}")
        files: dict[int | str, Path] = {}
        for name, upload in uploads.items():
            read_projected_ws(upload, self.generator, f"latent {name} {upload.name!r}")  # a bad file is refused before a copy
            files[name] = Path(shutil.copyfile(upload, folder / f"{name}_ws.pt"))
        seeds = sorted({p for p in points if isinstance(p, int)})
        if seeds:
            with torch.no_grad():
                seed_ws = ws_for_seeds(self.generator, seeds, truncation, class_index)
            for seed, ws in zip(seeds, seed_ws):
                files[seed] = folder / f"seed{seed}_ws.pt"
                source = f"seed {seed}, truncation {truncation}" + ("" if class_index is None else f", class {class_index}")
                torch.save({"ws": ws.cpu(), "space": "w", "source": source}, files[seed])
        return [files[p] if p in files else self.projections[p] for p in points]  # type: ignore[index]

    def project(
        self, target: str | Path | None, steps: int = 300, space: str = "w+", seed: int = 0,
        style: str | Path | None = None, coarse_layers: int | None = None, on_step: Progress | None = None,
    ) -> Result:  # fmt: skip
        """The photo's latent and its reconstruction: `project --target PHOTO --out project/`. With a
        ``style`` photo too, both are projected and mixed, layers 0 .. coarse_layers-1 from the first:
        `project --content PHOTO --style STYLE --coarse-layers K`."""
        self._needs("project")
        photo = check_upload(target, "photo")
        style_photo = check_upload(style, "style photo") if style is not None and str(style) != "" else None
        check_count(steps, "steps", MAX_PROJECT_STEPS)
        check_seeds([seed], "seed")
        if space not in ("w", "w+"):
            raise UserError(f"space {space!r} is unknown; allowed: w, w+")
        num_ws = self.generator.num_ws
        cut = coarse_layers if coarse_layers is not None else num_ws // 2
        if style_photo is not None and not 1 <= cut <= num_ws - 1:
            raise UserError(f"coarse layers {cut} is out of range; allowed: 1 to {num_ws - 1}")
        folder = self._folder("project")
        options = ["--steps", steps, "--space", space, "--seed", seed, "--out", "project/"]
        if style_photo is None:
            invert(self.generator, photo, folder, "target", space, steps, 0.1, multiscale_mse, 2000, seed, on_step)
            files = tuple(folder / name for name in ("target_projection.png", "target_target.png", "target_ws.pt"))
            return Result(files, command_line("project", *self._model_options(), "--target", photo, *options), self._keep_projections(files[2]))
        # One progress bar over both projections.
        first = (lambda done, total: on_step(done, 2 * total)) if on_step else None
        second = (lambda done, total: on_step(total + done, 2 * total)) if on_step else None
        content_ws, content_image, _ = invert(self.generator, photo, folder, "content", space, steps, 0.1, multiscale_mse, 2000, seed, first)
        style_ws, style_image, _ = invert(self.generator, style_photo, folder, "style", space, steps, 0.1, multiscale_mse, 2000, seed, second)
        stylized = mix_projections(self.generator, content_ws, content_image, style_ws, style_image, cut, folder)
        line = command_line("project", *self._model_options(), "--content", photo, "--style", style_photo, "--coarse-layers", cut, *options)
        names = self._keep_projections(folder / "content_ws.pt", folder / "style_ws.pt")
        return Result((stylized, folder / "content_projection.png", folder / "content_ws.pt"), line, names)

    def stylize(
        self, photo: str | Path | None, style: str | Path | None = None, alpha: float = 1.0, preserve_color: bool = False,
        style_size: int = 512, tile_size: int = DEFAULT_TILE_SIZE,
    ) -> Result:  # fmt: skip
        """The photo stylized at its full size (tiled above ``tile_size``): `stylize --input PHOTO --out stylize/`."""
        self._needs("stylize")
        content = check_upload(photo, "photo")
        check_stylize_options(alpha, tile_size)
        style_file = check_upload(style, "style image") if self.style_image else None
        if style is not None and str(style) != "" and not self.style_image:
            raise UserError(f"this {self.algorithm} model has its trained style; it takes no style image")
        network, multiple, pixel_alpha = image_network(
            self.generator, self.algorithm, None if style_file is None else str(style_file), style_size, alpha, self.device
        )
        original = read_photo(content, self.channels)
        path = write_stylized(network, original, self._folder("stylize") / content.name, tile_size, None, preserve_color, multiple, pixel_alpha, self.photo_size)
        style_options = ["--style", style_file, "--style-size", style_size] if style_file is not None else []
        line = command_line(
            "stylize", "--ckpt", self.ckpt, "--device", self.device_name, "--input", content, *style_options,
            "--alpha", float(alpha), *(["--preserve-color"] if preserve_color else []), "--tile-size", tile_size, "--out", "stylize/",
        )  # fmt: skip
        return Result((path,), line)
