"""How far compiled training drifts from eager training: the largest absolute difference of every
weight and buffer after the same few batches (the tiny networks and data of
tests/training/models/test_compiled_step.py, one thread, seed 0), per algorithm.

    python benchmarks/compiled_equality.py                       # aot_eager (seconds)
    python benchmarks/compiled_equality.py --backend inductor    # C++ code generation (many minutes on CPU)

With inductor, ``fallback_random`` makes the compiled generator draw its noise from the torch RNG as
eager does (inductor's own random kernels would draw different numbers). Results are printed and
written to benchmarks/results/compiled_equality_<backend>.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import harness
import torch
from harness import RESULTS

from tests.training.models.test_compiled_step import CASES, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="aot_eager")
    parser.add_argument("--batches", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    results = {"backend": args.backend, "batches": args.batches, "torch": torch.__version__}
    with tempfile.TemporaryDirectory() as tmp, torch._inductor.config.patch(fallback_random=True):
        for algorithm in CASES:
            eager, _ = train(Path(tmp) / f"{algorithm}_eager", algorithm, args.batches)
            compiled, _ = train(Path(tmp) / f"{algorithm}_compiled", algorithm, args.batches, compile=True, compile_backend=args.backend)
            eager_state, compiled_state = eager.state_dict(), compiled.state_dict()
            diffs = {name: (compiled_state[name].double() - value.double()).abs().max().item() for name, value in eager_state.items() if value.numel()}
            worst = max(diffs, key=diffs.get)
            results[algorithm] = {"max_abs_diff": diffs[worst], "where": worst, "tensors": len(diffs), "state_dict_keys_equal": list(eager_state) == list(compiled_state)}
            print(algorithm, json.dumps(results[algorithm]), flush=True)
    out = harness.write_json(RESULTS / f"compiled_equality_{args.backend}.json", results)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
