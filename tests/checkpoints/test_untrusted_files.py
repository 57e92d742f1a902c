"""A checkpoint from an untrusted place never runs code, whichever command reads it: each refuses it
with one line naming the refused global, and the file the payload would create never appears."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from tests.conftest import REPO, fast_trainer_args, run_cli


class CallsSystem:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


LOADING_PATHS = {
    "generate": ["generate", "--ckpt", "{evil}", "--out", "{tmp}/grid.png"],
    "fit --ckpt_path": ["fit", "--config", str(REPO / "configs" / "stylegan.yaml"), "--ckpt_path", "{evil}"],
    "fit init_from": ["fit", "--config", str(REPO / "configs" / "stylegan.yaml"), "--model.init_args.init_from", "{evil}",
                      "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "1", "--trainer.limit_val_batches", "0"],
    "convert rosinality": ["convert", "--from", "rosinality", "{evil}", "--out", "{tmp}/o.ckpt"],
    "convert nvlabs": ["convert", "--from", "nvlabs", "{evil}", "--out", "{tmp}/o.ckpt"],
}  # fmt: skip


@pytest.mark.parametrize("path", LOADING_PATHS, ids=list(LOADING_PATHS))
def test_a_malicious_checkpoint_is_refused_in_one_line_without_running(path: str, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    marker = tmp_path / "pwned.txt"
    evil = tmp_path / "evil.ckpt"
    payload = CallsSystem(f"touch {marker}")
    torch.save({"algorithm": "StyleGAN", "hyper_parameters": {"resolution": 32, "x": payload}, "state_dict": {}, "g_ema": payload}, evil)
    args = [arg.format(evil=evil, tmp=tmp_path) for arg in LOADING_PATHS[path]]
    if path == "fit init_from":
        args += fast_trainer_args(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        run_cli(*args)
    assert exit_info.value.code == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(err) == 1, err
    if path != "convert nvlabs":  # torch's weights_only reader names the global; ours reads a pickle, not a zip
        assert f"{os.system.__module__}.system" in err[0], err[0]
    assert not marker.exists()
