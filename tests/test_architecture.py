"""The layer rules of ARCHITECTURE.md, checked on the code so they stay true: imports point downward
only, the plain-torch layers never import Lightning, and inference commands run without it."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from gan_lightning.layers import DATA_FOLDERS, FORBIDDEN, LAYERS, NO_TRAINING_STACK, ROOT_MODULES, TORCHMETRICS_LAYERS, TRAINING_STACK
from tests.conftest import ASSETS, REPO

PACKAGE = REPO / "gan_lightning"

ORDER = [layer.folder for layer in LAYERS]


def layer_of(module: str) -> str:
    """The layer of a dotted module name: its top-level folder (``__main__`` is the CLI's entry)."""
    top = module.split(".")[1] if "." in module else "__init__"
    if top == "__main__":
        return "cli"
    if top in ("__init__", "layers"):
        return ORDER[0]  # the root imports nothing of the package
    assert top in ORDER, f"{module} belongs to no layer: put it in one of {ORDER} (gan_lightning/layers.py)"
    return top


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> list[str]:
    """Every module an import statement in the file names, at any depth (function-level imports too)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append(node.module)
    return found


SOURCES = sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent != PACKAGE)


def test_every_module_has_a_layer() -> None:
    for path in SOURCES:
        layer_of(module_name(path))


@pytest.mark.parametrize("path", SOURCES, ids=[module_name(p) for p in SOURCES])
def test_imports_point_downward_only(path: Path) -> None:
    order = ORDER
    own = layer_of(module_name(path))
    for imported in imports_of(path):
        if imported.startswith("gan_lightning."):
            target = layer_of(imported)
            assert order.index(target) <= order.index(own), f"{module_name(path)} ({own}) imports {imported} ({target}): upward"
            assert target not in FORBIDDEN.get(own, ()), f"{module_name(path)} ({own}) must not import {imported} ({target})"
        elif own in NO_TRAINING_STACK:
            assert imported.split(".")[0] not in TRAINING_STACK, f"{module_name(path)} ({own}) imports {imported}"
        if imported.startswith("torchmetrics"):
            assert own in TORCHMETRICS_LAYERS, f"{module_name(path)} ({own}) imports {imported}"


def test_the_package_root_imports_nothing() -> None:
    assert not [m for m in imports_of(PACKAGE / "__init__.py") if m.startswith("gan_lightning")]


def test_the_top_level_folders_are_the_layers() -> None:
    folders = sorted(p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__")
    assert folders == sorted([*ORDER, *DATA_FOLDERS])
    assert all((PACKAGE / folder / "__init__.py").exists() for folder in ORDER)
    assert not [path for folder in DATA_FOLDERS for path in (PACKAGE / folder).rglob("*.py")], "a data folder holds no code"
    root_modules = sorted(p.stem for p in PACKAGE.glob("*.py"))
    assert root_modules == sorted(ROOT_MODULES) and len(root_modules) <= 3


def test_the_docs_follow_the_layer_table() -> None:
    """README and ARCHITECTURE-facing docs name the layers in the table's order (they point at it)."""
    readme = (REPO / "README.md").read_text()
    assert "gan_lightning/layers.py" in readme


def test_the_rule_checker_catches_an_upward_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from gan_lightning.training.models.base import GANModule\n")
    assert "gan_lightning.training.models.base" in imports_of(bad)
    assert layer_of("gan_lightning.training.models.base") == "training" and layer_of("gan_lightning.core.nets.dcgan") == "core"


INFERENCE_RUN = """
import sys
from gan_lightning.cli.main import main
for command in sys.argv[1:]:
    main(command.split("|"))
heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('lightning', 'pytorch_lightning', 'torchmetrics', 'wandb', 'litdata'))
assert not heavy, heavy
print('no training stack loaded')
"""
INFERENCE_COMMANDS = [
    ["generate", "--ckpt", ASSETS / "v0_vanilla_gan.ckpt", "--num", "2", "--out", "{out}/grid.png"],
    ["generate", "--ckpt", ASSETS / "v0_stylegan.ckpt", "--num", "2", "--truncation", "0.7", "--out", "{out}/each/"],
    ["stylize", "--ckpt", ASSETS / "v0_style_transfer.ckpt", "--input", "{photo}", "--out", "{out}/stylized"],
    ["style-mix", "--ckpt", ASSETS / "v0_stylegan.ckpt", "--rows", "1,2", "--cols", "3", "--styles", "0-1", "--out", "{out}/mix.png"],
    ["interpolate", "--ckpt", ASSETS / "v0_stylegan.ckpt", "--seeds", "1,2", "--steps", "2", "--out", "{out}/walk.gif"],
    ["project", "--ckpt", ASSETS / "v0_stylegan.ckpt", "--target", "{photo}", "--steps", "2", "--w-avg-samples", "16", "--out", "{out}/proj"],
    ["export", "--ckpt", ASSETS / "v0_vanilla_gan.ckpt", "--format", "safetensors", "--out", "{out}/folder"],
    ["generate", "--ckpt", "{out}/folder", "--num", "2", "--out", "{out}/from_folder.png"],
]


def test_inference_commands_run_without_lightning(tmp_path: Path) -> None:
    """generate, stylize, style-mix, interpolate, project and export (then generate from the exported
    folder), in one fresh process that never loads Lightning, torchmetrics or wandb."""
    from PIL import Image

    photo = tmp_path / "photo.png"
    Image.new("RGB", (40, 36), (120, 30, 200)).save(photo)
    commands = ["|".join(str(a).format(out=tmp_path, photo=photo) for a in command) for command in INFERENCE_COMMANDS]
    result = subprocess.run([sys.executable, "-c", INFERENCE_RUN, *commands], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "no training stack loaded" in result.stdout
    written = {p.relative_to(tmp_path).parts[0] for p in tmp_path.rglob("*") if p.suffix in (".png", ".gif") and p != photo}
    assert written == {"grid.png", "each", "stylized", "mix.png", "walk.gif", "proj", "folder", "from_folder.png"}
