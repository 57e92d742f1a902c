"""Write tiny R3GAN snapshot pickles with the official code (brownvc/R3GAN) and what their networks make.

    python benchmarks/r3gan_fixture.py ~/src/R3GAN --out tests/assets/r3gan

Imports their ``training/networks.py`` from the given checkout (as compare_r3gan_step.py does; their
CUDA ops are not built, their reference paths run on the CPU), builds tiny networks, moves every
weight off its initial value (their blocks' last layers start at zero) and pickles them the way
their training loop's snapshot does: ``dict(G, D, G_ema, training_set_kwargs, cur_nimg, G_opt_state,
D_opt_state)`` with ``pickle.dump``, the networks deep-copied, in eval mode and frozen. Writes

- ``tiny.pkl``: unconditional, 16 px, all stages in float32;
- ``tiny_conditional.pkl``: 3 classes, 16 px, the highest stage in bfloat16 (their FP16Stages);
- ``outputs.pt``: per pickle, their G_ema and G images for ``z`` (and one-hot ``c``) and their D
  logits for ``images``, with those inputs (``torch.load(..., weights_only=True)`` reads it).
"""

from __future__ import annotations

import argparse
import copy
import pickle
from pathlib import Path

import torch
from compare_r3gan_step import import_r3gan, perturb, their_networks

FIXTURES = {
    # name: (widths, cardinalities, blocks, c_dim, FP16Stages of G)
    "tiny": ([8, 8, 4], [2, 2, 1], [1, 1, 1], 0, []),
    "tiny_conditional": ([8, 4, 4], [2, 1, 1], [1, 0, 1], 3, [-1]),
}
Z_DIM = 8
BATCH = 3


def with_stages(networks, widths, cardinalities, blocks, c_dim, fp16_stages):
    """Their G and D, with their train.py's FP16Stages (D's shifted to its highest stages, as theirs)."""
    G, D = their_networks(networks, widths, cardinalities, blocks, c_dim, Z_DIM)
    for index in fp16_stages:
        G.Model.MainLayers[index].DataType = torch.bfloat16
        D.Model.MainLayers[index + len(fp16_stages)].DataType = torch.bfloat16
    return G, D


def snapshot(G, D, G_ema, c_dim: int) -> dict:
    opt_states = {}
    for name, module in (("G", G), ("D", D)):
        # one Adam step so that the optimizer states hold tensors, as a training snapshot's do
        opt = torch.optim.Adam(module.parameters(), lr=0.0, betas=(0.0, 0.99), eps=1e-8)
        for p in module.parameters():
            p.grad = torch.zeros_like(p)
        opt.step()
        opt_states[f"{name}_opt_state"] = opt.state_dict()
        for p in module.parameters():
            p.grad = None
    training_set_kwargs = dict(class_name="training.dataset.ImageFolderDataset", path="tiny.zip", use_labels=c_dim > 0, max_size=64,
                               xflip=False, resolution=16, random_seed=0)  # fmt: skip
    data = dict(G=G, D=D, G_ema=G_ema, training_set_kwargs=training_set_kwargs, cur_nimg=1234, **opt_states)
    return {key: copy.deepcopy(value).eval().requires_grad_(False) if isinstance(value, torch.nn.Module) else value for key, value in data.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("clone", type=Path, help="a brownvc/R3GAN checkout")
    parser.add_argument("--out", type=Path, required=True, help="folder for the pickles and outputs.pt")
    args = parser.parse_args()
    torch.set_num_threads(1)
    networks, _, _ = import_r3gan(args.clone)
    args.out.mkdir(parents=True, exist_ok=True)
    outputs = {}
    for seed, (name, (widths, cardinalities, blocks, c_dim, fp16_stages)) in enumerate(FIXTURES.items()):
        torch.manual_seed(seed)
        G, D = with_stages(networks, widths, cardinalities, blocks, c_dim, fp16_stages)
        noise = torch.Generator().manual_seed(100 + seed)
        perturb(G, 0.5, noise)
        perturb(D, 0.5, noise)
        G_ema = copy.deepcopy(G)
        perturb(G_ema, 0.1, noise)
        resolution = 4 * 2 ** (len(widths) - 1)
        z = torch.randn(BATCH, Z_DIM, generator=noise)
        c = torch.nn.functional.one_hot(torch.arange(BATCH) % c_dim, c_dim).float() if c_dim else None
        images = torch.rand(BATCH, 3, resolution, resolution, generator=noise) * 2 - 1
        data = snapshot(G, D, G_ema, c_dim)
        with (args.out / f"{name}.pkl").open("wb") as file:
            pickle.dump(data, file)
        with torch.no_grad():
            outputs[name] = {
                "z": z,
                "images": images,
                "G_ema": data["G_ema"](z, c).float(),
                "G": data["G"](z, c).float(),
                "D": data["D"](images, c).float(),
                **({"c": c} if c is not None else {}),
            }
        print(f"{name}.pkl: {(args.out / f'{name}.pkl').stat().st_size} bytes")
    torch.save(outputs, args.out / "outputs.pt")


if __name__ == "__main__":
    main()
