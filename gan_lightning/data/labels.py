"""Class labels for conditional training: where an image folder's labels come from (its class
subfolders, or NVlabs' ``dataset.json``), and the labels of a dataset's items without decoding
their images (what conditional FID draws its labels from).

Labels are int class indices 0..num_classes-1; a DataModule's ``num_classes`` is 0 when it gives
none (the model then trains unconditionally).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal, Sequence

import torch
from torch.utils.data import Dataset, Subset

from gan_lightning.common.errors import UserError

FolderLabels = Literal["none", "folders", "dataset.json"]
DATASET_JSON = "dataset.json"  # NVlabs' dataset_tool.py name, at the top of the folder


def subfolder_labels(names: Sequence[str], root: str) -> tuple[list[int], list[str]]:
    """Each image's class is the subfolder of ``root`` it lies in (at any depth below it); classes
    are numbered in sorted name order, as torchvision's ImageFolder does. ``names``: the images'
    "/"-separated paths under ``root``."""
    classes_of = []
    for name in names:
        parts = name.split("/")
        if len(parts) < 2:
            raise UserError(
                f"labels folders: {str(Path(root).expanduser() / name)!r} is not inside a class subfolder of {root!r}; "
                "allowed: ROOT/<class>/<image> for every image (or labels none)"
            )
        classes_of.append(parts[0])
    names = sorted(set(classes_of))
    index = {name: i for i, name in enumerate(names)}
    return [index[name] for name in classes_of], names


def dataset_json_labels(names: Sequence[str], root: str) -> list[int] | None:
    """Each image's class from ``ROOT/dataset.json`` (``{"labels": [[relative path, int], ...]}``, as
    NVlabs' dataset_tool writes it); None when it says ``"labels": null`` (an unconditional dataset).
    ``names``: the images' "/"-separated paths under ``root``, as dataset.json names them."""
    base = Path(root).expanduser()
    source = base / DATASET_JSON
    if not source.is_file():
        raise UserError(f"labels dataset.json: {str(source)!r} does not exist; allowed: labels folders or none for this folder")
    try:
        entries = json.loads(source.read_text(encoding="utf-8"))["labels"]
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError):
        raise UserError(f"{str(source)!r} is not a dataset.json of the form {{\"labels\": [[relative_path, class], ...]}}") from None
    if entries is None:
        return None
    if not isinstance(entries, list) or not all(isinstance(entry, list) and len(entry) == 2 for entry in entries):
        raise UserError(f"{str(source)!r}: \"labels\" must be a list of [relative_path, class] pairs")
    table: dict[str, int] = {}
    for name, label in entries:
        if isinstance(label, bool) or not isinstance(label, int) or label < 0:
            raise UserError(
                f"{str(source)!r}: label {label!r} of {name!r} is not a class index; allowed: integers >= 0 "
                "(vector labels are not supported)"
            )
        table[str(name).replace("\\", "/")] = label
    labels = []
    for name in names:
        if name not in table:
            raise UserError(f"{str(source)!r} has no label for {name!r}; every image needs one")
        labels.append(table[name])
    return labels


def item_labels(dataset: Dataset) -> list[int]:
    """The class label of every item, in order: from the dataset's ``labels`` (or torchvision's
    ``targets``) when it keeps them, else by reading the items."""
    if isinstance(dataset, Subset):
        labels = item_labels(dataset.dataset)
        return [labels[i] for i in dataset.indices]
    for name in ("labels", "targets"):
        known = getattr(dataset, name, None)
        if known is not None:
            return [int(label) for label in known]
    return [int(dataset[i][1]) for i in range(len(dataset))]  # type: ignore[arg-type]


def drawn_labels(labels: Sequence[int], count: int, seed: int = 0) -> list[int]:
    """``count`` labels drawn at random (with replacement) from the items' ``labels``: generated
    image i gets the label of a random real item, so the generated set has the real set's label
    distribution (NVlabs' metrics draw their labels this way). Fixed by ``seed``."""
    if not labels:
        raise UserError("conditional generation needs labelled real images to draw classes from; the set is empty")
    generator = torch.Generator().manual_seed(seed)
    picks = torch.randint(len(labels), (count,), generator=generator)
    return [int(labels[i]) for i in picks.tolist()]
