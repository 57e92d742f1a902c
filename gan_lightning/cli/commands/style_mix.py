"""`style-mix`: the StyleGAN style-mixing figure (Karras et al. 2019, fig. 3).

Row i, column j shows row seed i's image with the layers in ``--styles`` taken from column seed j
(coarse layers 0-3 carry pose and shape, the middle ones features, the fine ones colour). The top
row shows the column seeds' own images, the left column the row seeds'.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from gan_lightning.common.errors import UserError
from gan_lightning.core.nets.layers import NoiseMode
from gan_lightning.core.nets.stylegan2 import Generator
from gan_lightning.common.images import save_image_grid
from gan_lightning.common.outputs import add_overwrite_argument, check_output_file
from gan_lightning.cli.arguments import parse_command_line
from gan_lightning.cli.stylegan_arguments import add_common_arguments, class_input, load_stylegan, parse_int_list, synthesize, ws_for_seeds
from gan_lightning.cli.walks import read_projected_ws

Source = int | Path  # a seed, or a `project` output's *_ws.pt


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser)
    parser.add_argument("--rows", required=True, help="seeds of the row images (the base), e.g. 1,2,3 or 1-3, or `project` outputs (proj/a_ws.pt)")
    parser.add_argument("--cols", required=True, help="seeds of the column images (the style donors), or `project` outputs")
    parser.add_argument("--styles", default="0-6", help="layers (W+ rows) taken from the column seed (default 0-6)")
    parser.add_argument("--out", required=True, type=Path, help="grid .png")
    add_overwrite_argument(parser)


def parse_sources(text: str, what: str) -> list[Source]:
    """'1,3-4,proj/a_ws.pt' -> [1, 3, 4, Path('proj/a_ws.pt')]: seeds and `project` outputs (.pt)."""
    sources: list[Source] = []
    for part in text.split(","):
        sources.extend([Path(part)] if part.endswith(".pt") else parse_int_list(part, what))
    return sources


def source_ws(generator: Generator, sources: list[Source], truncation: float, class_index: int | None, what: str) -> torch.Tensor:
    """(len(sources), num_ws, w_dim): the seeds mapped to W together, each `project` output as written."""
    seeds = [s for s in sources if isinstance(s, int)]
    seed_ws = iter(ws_for_seeds(generator, seeds, truncation, class_index) if seeds else ())
    device = generator.mapping.w_avg.device
    return torch.stack([next(seed_ws) if isinstance(s, int) else read_projected_ws(s, generator, f"{what}: {str(s)!r}").to(device) for s in sources])


def style_mix_grid(
    generator: Generator,
    rows: list[Source],
    cols: list[Source],
    styles: list[int],
    truncation: float,
    noise_mode: NoiseMode,
    class_index: int | None = None,
) -> torch.Tensor:
    """(len(rows) + 1) x (len(cols) + 1) images, row-major, the top-left corner blank (-1 = black);
    for a class-conditional generator, every seed of class ``class_index`` (a `project` output keeps its own)."""
    num_ws = generator.num_ws
    bad = [s for s in styles if s >= num_ws]
    if bad:
        raise UserError(f"--styles {bad} out of range: this generator has layers 0-{num_ws - 1}")
    row_ws = source_ws(generator, rows, truncation, class_index, "--rows")
    col_ws = source_ws(generator, cols, truncation, class_index, "--cols")
    mixed = row_ws[:, None].repeat(1, len(cols), 1, 1)  # (rows, cols, num_ws, w_dim)
    mixed[:, :, styles] = col_ws[None, :, styles]
    images = synthesize(generator, torch.cat([col_ws, row_ws, mixed.flatten(0, 1)]), noise_mode)
    col_images, row_images, cells = images.split([len(cols), len(rows), len(rows) * len(cols)])
    blank = torch.full_like(images[:1], -1.0)
    grid = [torch.cat([blank, col_images])]
    for i in range(len(rows)):
        grid.append(torch.cat([row_images[i : i + 1], cells[i * len(cols) : (i + 1) * len(cols)]]))
    return torch.cat(grid)


def main(argv: list[str]) -> None:
    run(parse_command_line(argv, "style-mix", __doc__, add_arguments))


def run(args: argparse.Namespace) -> None:
    rows = parse_sources(args.rows, "--rows")
    cols = parse_sources(args.cols, "--cols")
    styles = parse_int_list(args.styles, "--styles")
    if not str(args.out).lower().endswith(".png"):
        raise UserError(f"--out {str(args.out)!r}: give a .png file")
    generator, device = load_stylegan(args, "style-mix")
    class_input(generator, args.class_index, 1, device)  # a bad --class fails before any file is written
    check_output_file(args.out, args.overwrite, [args.ckpt, *(s for s in rows + cols if isinstance(s, Path))])
    grid = style_mix_grid(generator, rows, cols, styles, args.truncation, args.noise_mode, args.class_index)
    print(f"wrote {save_image_grid(grid, args.out, nrow=len(cols) + 1)}")
