"""A run killed again and again, as a preempted cluster job is: how many kills it survives, how many
checkpoints a kill corrupted, how many bytes of temporary files are left, and whether SIGTERM saves
and exits 143.

Each round starts `fit` (the shipped vanilla_gan config, tiny networks, last.ckpt every 2 batches)
with `--ckpt_path last`, waits until it has resumed and saved once, then a random 0-3 s, and sends SIGKILL (every ``--sigterm-every``-th round
SIGTERM instead). After each round: ``last.ckpt`` must load, and ``*.partial`` files are counted.
The next round's start removes stale temporary files; after the last round the total left must be 0.

Then the exact-resume scenarios: a short run trained once uninterrupted, and once killed at random
moments (SIGKILL, SIGTERM, Ctrl-C in turn, ``--exact-kills`` times) and restarted with
``--ckpt_path last`` until it finishes; its final weights and optimizer states must equal the
uninterrupted run's, bit for bit. ``validation``: the bundled data, validation every 2 batches
(the sanity check and a validation worker on), so kills land before, during and after validations;
``prepared``: a prepared dataset (litdata, 2 persistent workers) with epochs cut short by
``limit_train_batches``. Then both killed at chosen batches: ``validation`` by SIGKILL just after each
epoch-end save; ``prepared`` by SIGKILL just after the save at the end of an epoch cut short, then
SIGTERM and Ctrl-C mid-epoch (the moments of the run in which a prepared-data resume was not exact).

    python benchmarks/kill_campaign.py [--rounds 12] [--exact-kills 4] [--out benchmarks/results/kill_campaign.json]
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


def exact_scenarios(folder: Path, env: dict[str, str]) -> dict[str, list[str]]:
    """Command-line tails of the exact-resume scenarios (a prepared dataset is written first)."""
    from PIL import Image

    images = folder / "images"
    images.mkdir()
    rng = random.Random(1)
    for index in range(48):
        Image.frombytes("RGB", (40, 40), bytes(rng.getrandbits(8) for _ in range(40 * 40 * 3))).save(images / f"{index:03d}.png")
    prepared = folder / "prepared"
    subprocess.run([sys.executable, "-m", "gan_lightning", "prepare", "--source", str(images), "--out", str(prepared),
                    "--resolution", "32", "--workers", "2"], cwd=folder, env=env, check=True, capture_output=True)  # fmt: skip
    return {
        "validation": ["--trainer.max_epochs", "8", "--trainer.val_check_interval", "2", "--trainer.check_val_every_n_epoch", "1",
                       "--trainer.limit_val_batches", "2", "--data.init_args.num_train", "64", "--data.init_args.num_val", "16",
                       "--data.init_args.num_workers", "1"],
        "prepared": ["--data", "gan_lightning.data.StreamingDataModule", "--data.input_dir", str(prepared), "--data.batch_size", "4",
                     "--trainer.max_epochs", "24", "--trainer.limit_train_batches", "5", "--trainer.limit_val_batches", "0"],
    }  # fmt: skip


def exact_command(root: Path, tail: list[str]) -> list[str]:
    return [
        sys.executable, "-m", "gan_lightning", "fit", "--config", str(REPO / "configs" / "vanilla_gan.yaml"),
        "--trainer.logger", "false", "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
        "--trainer.default_root_dir", str(root), "--data.init_args.batch_size", "8",
        "--model.init_args.generator.width", "8", "--model.init_args.discriminator.width", "8",
        "--model.init_args.fid_num_samples", "16", "--trainer.callbacks.every_kimg", "0.016", "--ckpt_path", "last", *tail,
    ]  # fmt: skip


def same_training_state(a: dict, b: dict) -> list[str]:
    """The names of the tensors (weights, buffers, optimizer states) that differ."""
    differ = [name for name, value in a["state_dict"].items() if not torch.equal(value, b["state_dict"][name])]
    for index, (first, second) in enumerate(zip(a["optimizer_states"], b["optimizer_states"], strict=True)):
        for key, state in first["state"].items():
            differ += [f"optimizer{index}.{key}.{field}" for field, value in state.items()
                       if not torch.equal(torch.as_tensor(value), torch.as_tensor(second["state"][key][field]))]  # fmt: skip
    return differ


def exact_resume(name: str, tail: list[str], folder: Path, env: dict[str, str], kills: int, rng: random.Random) -> dict:
    """The scenario uninterrupted, then killed ``kills`` times at random moments and resumed to its end."""
    uninterrupted = folder / f"{name}_uninterrupted"
    subprocess.run(exact_command(uninterrupted, tail), cwd=folder, env=env, check=True, capture_output=True, timeout=600)
    interrupted, last = folder / f"{name}_interrupted", folder / f"{name}_interrupted" / "checkpoints" / "last.ckpt"
    signals = [signal.SIGKILL, signal.SIGTERM, signal.SIGINT]
    rounds = []
    for index in range(kills + 20):  # the kills, then restarts until it finishes
        process = subprocess.Popen(exact_command(interrupted, tail), cwd=folder, env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, text=True)  # fmt: skip
        if index < kills:
            before = last.stat().st_mtime_ns if last.exists() else None
            start = time.monotonic()
            while process.poll() is None and (not last.exists() or last.stat().st_mtime_ns == before) and time.monotonic() - start < 300:
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, 2.0))
            if process.poll() is None:
                process.send_signal(signals[index % len(signals)])
        _, stderr = process.communicate(timeout=600)
        step = torch.load(last, weights_only=True, map_location="cpu")["global_step"] if readable(last) else None
        rounds.append({"signal": signals[index % len(signals)].name if index < kills else None, "exit_status": process.returncode,
                       "global_step": step})  # fmt: skip
        print(name, json.dumps(rounds[-1]))
        if process.returncode == 0:
            break
    reference = torch.load(uninterrupted / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")
    resumed = torch.load(last, weights_only=True, map_location="cpu")
    differ = same_training_state(resumed, reference)
    return {
        "kills": sum(r["signal"] is not None and r["exit_status"] != 0 for r in rounds),
        "finished": rounds[-1]["exit_status"] == 0,
        "global_step": [resumed["global_step"], reference["global_step"]],
        "tensors_differing_from_uninterrupted": len(differ),
        "first_differing": differ[:5],
        "rounds": rounds,
    }


def planned_kills(tail: list[str], folder: Path, env: dict[str, str], plan: list[tuple[str, int]], name: str) -> dict:
    """A scenario killed at chosen batches (counted over the whole run), resumed after each kill and
    run to its end: ``plan`` is (SIGKILL, SIGTERM or SIGINT, batch) pairs. SIGKILL at an epoch's first
    batch lands just after the scheduled save at the previous epoch's end, a moment random kills
    reach only by chance."""
    env = {**env, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))}  # the tests' KillAtBatch
    uninterrupted, interrupted = folder / f"{name}_uninterrupted", folder / f"{name}_interrupted"
    subprocess.run(exact_command(uninterrupted, tail), cwd=folder, env=env, check=True, capture_output=True, timeout=900)
    rounds = []
    for signal_name, at_batch in [*plan, (None, None)]:
        if signal_name == "SIGKILL":
            kill = ["--trainer.callbacks+=tests.helpers.reliability.KillAtBatch", "--trainer.callbacks.at_batch", str(at_batch)]
        elif signal_name is not None:
            kill = ["--trainer.callbacks+=tests.helpers.reliability.SignalAtBatch", "--trainer.callbacks.at_batch", str(at_batch),
                    "--trainer.callbacks.signal_name", signal_name]  # fmt: skip
        else:
            kill = []
        run = subprocess.run(exact_command(interrupted, [*tail, *kill]), cwd=folder, env=env, check=False, capture_output=True, timeout=900)
        step = torch.load(interrupted / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")["global_step"]
        rounds.append({"signal": signal_name, "at_batch": at_batch, "exit_status": run.returncode, "global_step": step})
        print(name, json.dumps(rounds[-1]))
    reference = torch.load(uninterrupted / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")
    resumed = torch.load(interrupted / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")
    return {"kills": sum(r["signal"] is not None and r["exit_status"] != 0 for r in rounds), "finished": run.returncode == 0,
            "global_step": [resumed["global_step"], reference["global_step"]],
            "tensors_differing_from_uninterrupted": len(same_training_state(resumed, reference)), "rounds": rounds}  # fmt: skip


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
    parser.add_argument("--exact-kills", type=int, default=4, help="kills per exact-resume scenario (0: skip them)")
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
        exact = {}
        if args.exact_kills > 0:
            scenarios = exact_scenarios(Path(folder), env)
            for name, tail in scenarios.items():
                exact[name] = exact_resume(name, tail, Path(folder), env, args.exact_kills, rng)
            # 8 batches an epoch: SIGKILL just after the epoch-end saves of the first two epochs
            exact["validation_killed_after_epoch_end_saves"] = planned_kills(
                [*scenarios["validation"], "--trainer.max_epochs", "3"], Path(folder), env, [("SIGKILL", 8), ("SIGKILL", 16)],
                "validation_epoch_ends")  # fmt: skip
            # 5 batches an epoch (cut short): SIGKILL just after the save at the end of epoch 3, then
            # SIGTERM and Ctrl-C mid-epoch (saved after batches 52 and 88)
            exact["prepared_killed_after_an_epoch_end_save"] = planned_kills(
                scenarios["prepared"], Path(folder), env, [("SIGKILL", 20), ("SIGTERM", 51), ("SIGINT", 87)], "prepared_planned")
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
        "exact_resume": {name: {k: v for k, v in result.items() if k != "rounds"} for name, result in exact.items()},
        "every_resumed_run_equals_uninterrupted": all(r["finished"] and r["tensors_differing_from_uninterrupted"] == 0 for r in exact.values()),
        "rounds": rounds,
        "exact_resume_rounds": {name: result["rounds"] for name, result in exact.items() if "rounds" in result},
    }
    harness.write_json(args.out, summary)
    print({k: v for k, v in summary.items() if not k.endswith("rounds")})


if __name__ == "__main__":
    main()
