"""The README stays short and every link in it and in docs/ leads somewhere: relative links name
existing files, #anchors name existing headings (GitHub's slugs), and the repository paths the text
names exist. Renaming a file, a heading or a preset without updating the docs fails here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
README_MAX_LINES = 200

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
INLINE_CODE = re.compile(r"`[^`]*`")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
# A repository path as prose names it, e.g. `benchmarks/results/stylegan.md` or configs/stylegan*.yaml.
REPO_PATH = re.compile(r"(?<![\w./~$-])((?:gan_lightning|tests|benchmarks|configs|scripts|docs|notebooks)/[\w./*<>:-]*)")


def prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks (their `#` comments are not headings, `[a](b)` not links)."""
    lines, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced:
            lines.append(line)
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = INLINE_CODE.sub(lambda m: m.group(0).strip("`"), heading).lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    for line in prose_lines(page.read_text()):
        match = HEADING.match(line)
        if match:
            base = slug(match.group(2))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(page: Path) -> list[str]:
    return [target for line in prose_lines(page.read_text()) for target in LINK.findall(line)]


def test_readme_is_short() -> None:
    lines = (REPO / "README.md").read_text().count("\n")
    assert lines < README_MAX_LINES, f"README.md has {lines} lines; details belong in docs/"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_and_anchors_resolve(page: Path) -> None:
    broken = []
    for target in links(page):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto: are not checked offline
            continue
        path_part, _, anchor = target.partition("#")
        linked = (page.parent / path_part).resolve() if path_part else page
        if not linked.exists():
            broken.append(f"{target}: no file {linked}")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target}: no heading with anchor #{anchor} in {linked.name}")
    assert not broken, "\n".join(broken)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_named_repository_paths_exist(page: Path) -> None:
    missing = []
    for line in page.read_text().splitlines():
        for named in REPO_PATH.findall(line):
            path = named.split("::")[0].rstrip(".:")
            if "<" in path:  # a placeholder such as data_throughput_<device>.json
                continue
            if not (list(REPO.glob(path)) if "*" in path else (REPO / path).exists()):
                missing.append(named)
    assert not missing, f"{page.name} names paths that do not exist: {missing}"


def test_the_anchor_rule_follows_github() -> None:
    assert slug("Logging: Weights & Biases and TensorBoard") == "logging-weights--biases-and-tensorboard"
    assert slug("The StyleGAN metric suite (`evaluate`)") == "the-stylegan-metric-suite-evaluate"
    assert slug("Export: model folder, ONNX, torch.export") == "export-model-folder-onnx-torchexport"
