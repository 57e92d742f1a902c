"""`presets`: the presets and overlays that `fit --config NAME` runs, one line each (name, what it is).

They ship inside the package, so a name works from any folder; `--config` takes a file of your own
as well (start from a copy of one of these: the folder is printed on stderr).
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

from gan_lightning.cli.arguments import parse_command_line
from gan_lightning.cli.config_files import PRESETS, preset_files

SUMMARY_WIDTH = 100  # characters of a preset's leading comment shown on its line


def summary(path: Path) -> str:
    """The start of a preset's leading comment block, which says what it is, shortened to one line."""
    lines = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("#").strip())
    return textwrap.shorten(" ".join(lines), SUMMARY_WIDTH, placeholder=" ...")


def main(argv: list[str]) -> None:
    parse_command_line(argv, "presets", __doc__, lambda parser: None)  # no options: it only lists
    files = preset_files()
    width = max(map(len, files))
    for name, path in files.items():
        kind = "overlay: " if path.parent != PRESETS else ""
        print(f"{name:<{width}}  {kind}{summary(path)}")
    print(f"files: {PRESETS} (base/trainer.yaml applies to every run)", file=sys.stderr)
