"""A run killed again and again, as a preempted cluster job is: how many kills it survives, how many
checkpoints a kill corrupted, how many bytes of temporary files are left, and whether SIGTERM saves
and exits 143.

Each round starts `fit` (the shipped vanilla_gan config, tiny networks, last.ckpt every 2 batches)
with `--ckpt_path last`, waits until it has resumed and saved once, then a random 0-3 s, and sends SIGKILL (every ``--sigterm-every``-th round
SIGTERM instead). After each round: ``last.ckpt`` must load, and ``*.partial`` files are counted.
The next round's start removes stale temporary files; after the last round the total left must be 0.

    python benchmarks/kill_campaign.py [--rounds 12] [--out benchmarks/results/kill_campaign.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import harness
import torch
from harness import REPO, RESULTS


def fit_command(root: Path) -> list[str]:
    return [
        sys.executable, "-m", "gan_lightning", "fit", "--config", str(REPO / "configs" / "vanilla_gan.yaml"),
        "--trainer.logger", "false", "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
        "--trainer.num_sanity_val_steps", "0", "--trainer.limit_val_batches", "0", "--trainer.max_epochs", "1000",
        "--trainer.default_root_dir", str(root), "--data.init_args.num_workers", "0", "--data.init_args.batch_size", "8",
        "--data.init_args.num_train", "256", "--data.init_args.num_val", "16",
        "--model.init_args.generator.width", "16", "--model.init_args.discriminator.width", "16",
        "--trainer.callbacks.every_kimg", "0.016", "--ckpt_path", "last",
    ]  # fmt: skip


def readable(path: Path) -> bool:
    try:
        torch.load(path, weights_only=True, map_location="cpu")
        return True
    except Exception:  # noqa: BLE001  any failure to load is a corrupted checkpoint here
        return False


def partial_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*.partial") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--sigterm-every", type=int, default=4, help="every N-th round sends SIGTERM instead of SIGKILL")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS / "kill_campaign.json")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    env = harness.child_environment(PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1", WANDB_MODE="offline")
    rounds = []
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "run"
        last = root / "checkpoints" / "last.ckpt"
        for index in range(args.rounds):
            process = subprocess.Popen(fit_command(root), cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            before = last.stat().st_mtime_ns if last.exists() else None
            start = time.monotonic()
            # until this run has resumed and saved once (training, not still importing), then a random
            # moment: during a batch or during one of the frequent saves
            while (not last.exists() or last.stat().st_mtime_ns == before) and time.monotonic() - start < 120:
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, 3.0))
            use_sigterm = (index + 1) % args.sigterm_every == 0
            process.send_signal(signal.SIGTERM if use_sigterm else signal.SIGKILL)
            _, stderr = process.communicate(timeout=120)
            step = torch.load(last, weights_only=True, map_location="cpu")["global_step"] if readable(last) else None
            rounds.append({
                "signal": "SIGTERM" if use_sigterm else "SIGKILL",
                "exit_status": process.returncode,
                "last_ckpt_readable": last.exists() and readable(last),
                "global_step": step,
                "partial_bytes_after_kill": partial_bytes(root),
                "sigterm_saved": use_sigterm and ("SIGTERM: saved" in stderr or "already holds step" in stderr),
            })
            print(json.dumps(rounds[-1]))
        # the next start (what a requeued job does first) removes what interrupted saves left
        final = subprocess.run([*fit_command(root), "--trainer.max_steps", "1"], cwd=folder, env=env, capture_output=True, text=True, timeout=300)
        left = partial_bytes(root)
    steps = [r["global_step"] for r in rounds if r["global_step"] is not None]
    summary = {
        "command": "python benchmarks/kill_campaign.py " + " ".join(sys.argv[1:]),
        "date": harness.today(),
        "machine": f"{platform.machine()} CPU, {os.cpu_count()} cores",
        "kills": len(rounds),
        "sigkills": sum(r["signal"] == "SIGKILL" for r in rounds),
        "sigterms": sum(r["signal"] == "SIGTERM" for r in rounds),
        "sigterms_saved_and_exited_143": sum(r["sigterm_saved"] and r["exit_status"] == 143 for r in rounds),
        "checkpoints_corrupted": sum(not r["last_ckpt_readable"] for r in rounds),
        "progress_kept": steps == sorted(steps) and len(steps) == len(rounds),
        "global_step_after_each_round": steps,
        "partial_bytes_left_after_next_start": left,
        "final_start_exit_status": final.returncode,
        "rounds": rounds,
    }
    harness.write_json(args.out, summary)
    print({k: v for k, v in summary.items() if k != "rounds"})


if __name__ == "__main__":
    main()
