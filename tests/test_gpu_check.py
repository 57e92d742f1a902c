"""benchmarks/gpu_check.py, the first GPU run's one command, runs every part on the CPU with tiny
networks (--dry-run) and writes its record and table; what needs CUDA is skipped with the reason.
What the dry run trains under 16-mixed is recorded, not asserted: the record is the finding."""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from pathlib import Path

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def gpu_check():
    sys.path.insert(0, str(BENCHMARKS))  # as `python benchmarks/gpu_check.py` has it
    try:
        spec = importlib.util.spec_from_file_location("benchmark_gpu_check", BENCHMARKS / "gpu_check.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(str(BENCHMARKS))


@pytest.fixture(scope="module")
def dry_run(gpu_check, tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    record = gpu_check.main(["--dry-run", "--out-dir", str(out)])
    return record, out


def test_dry_run_writes_its_record_and_table(dry_run) -> None:
    record, out = dry_run
    assert json.loads((out / "gpu_check_cpu.json").read_text()) == record
    table = (out / "gpu_check_cpu.md").read_text()
    runs = [row["run"] for part in ("precision", "compile", "nvlabs") for row in record[part].get("rows", [])]
    assert len(runs) == 6 and all(f"| {run} |" in table for run in runs)
    assert record["dry_run"] and set(record["budgets_s"]) == {"precision", "nvlabs", "compile", "cuda_tests"}
    assert sum(record["budgets_s"].values()) <= 8 * 60


def test_every_precision_trains_or_records_why_not(dry_run, gpu_check) -> None:
    record, _ = dry_run
    rows = {row["run"]: row for row in record["precision"]["rows"]}
    assert list(rows) == [f"ours, {r.name}" for r in gpu_check.PRECISION_ROWS]
    checked = gpu_check.DRY_SCALE.checked
    for name in ("32-true", "bf16-mixed", "fp16 layers", "32-true, no augmentation"):
        row = rows[f"ours, {name}"]
        assert row["finite_batches"] == row["checked_batches"] == checked, row
        assert row["whole_lazy_cycle"] and row["s_per_kimg"] > 0 and row["peak_memory_gib"] is None
    for row in rows.values():
        assert row["finite_batches"] == checked or "stopped" in row or "ran_out" in row, row
    mixed = rows["ours, 16-mixed"]
    assert mixed["emulated"].startswith("MixedPrecision('16-mixed', 'cpu'")
    assert mixed["loss_scale_first_last"][0] == 65536.0 and "skipped_steps_from" in mixed
    # the blocks marked fp16 ran (in whatever dtype this device gives them)
    assert rows["ours, fp16 layers"]["fp16_block_dtype"]


def test_fid_dtype_is_what_the_feature_network_computed_in(dry_run) -> None:
    record, _ = dry_run
    rows = {row["precision"]: row for row in record["precision"]["rows"] if not row["fp16_layers"] and row["augment_p"] > 0}
    assert rows["32-true"]["fid_dtype"] == ["float32"]
    assert all(row["fid_dtype"] and isinstance(row["fid"], float) for row in rows.values())
    assert record["precision"]["fid_relative_to_32_true"]["32-true"] == 0.0


def test_compile_part_times_warm_up_and_steady_batches(dry_run) -> None:
    record, _ = dry_run
    [row] = record["compile"]["rows"]
    assert row["compile_backend"] == "eager" and row["first_batch_s"] > 0 and row["timed_batches"] > 0


def test_parts_that_need_cuda_or_a_checkout_say_why(dry_run, gpu_check) -> None:
    record, _ = dry_run
    assert record["nvlabs"]["skipped"] == "no --nvlabs checkout given"
    tests = record["cuda_tests"]
    assert tests["skipped"].startswith("no CUDA device")
    assert tests["tests"] == gpu_check.cuda_only_tests()


def test_cuda_only_tests_are_found_by_their_skip_markers(gpu_check) -> None:
    found = gpu_check.cuda_only_tests()
    assert "tests/training/models/test_vanilla_gan.py::test_16_mixed_with_grad_scaler" in found
    assert "tests/training/models/test_stylegan.py::test_16_mixed_with_fp16_layers_on_gpu" in found
    assert "tests/training/models/test_stylegan.py::test_bf16_mixed_on_cpu" not in found


def test_a_run_out_of_time_records_that_it_did(gpu_check, tmp_path) -> None:
    row = gpu_check.train_row(gpu_check.PRECISION_ROWS[0], gpu_check.DRY_SCALE, torch.device("cpu"), gpu_check.Budget(0.05), tmp_path, None)
    assert "budget" in row["ran_out"] and row["finite_batches"] < gpu_check.DRY_SCALE.checked


def test_skipped_steps_counted_from_the_scalers_backoffs(gpu_check) -> None:
    observer = gpu_check.Observer(gpu_check.Budget(1))
    observer.scales = [65536.0, 32768.0, 32768.0, 4096.0, 4096.0]  # one skip, then three in one batch
    assert observer.backoffs(4) == 4
    assert observer.backoffs(1) == 1


def test_pytest_outcomes_read_from_junit_xml(gpu_check, tmp_path) -> None:
    report = tmp_path / "junit.xml"
    report.write_text(
        '<testsuites><testsuite><testcase classname="tests.test_x" name="test_a"/>'
        '<testcase name="test_b"><failure message="AssertionError: nan&#10;more">trace</failure></testcase>'
        '<testcase name="test_c"><skipped message="needs a CUDA GPU"/></testcase></testsuite></testsuites>'
    )
    assert gpu_check.junit_outcomes(report) == {"tests.test_x.test_a": "passed", "test_b": "failed: AssertionError: nan", "test_c": "skipped: needs a CUDA GPU"}


def test_a_budget_alarm_that_code_wraps_in_another_error_still_counts_as_running_out(gpu_check, tmp_path, monkeypatch) -> None:
    def wrapping_fid(*args):  # as torch's load_state_dict does with an error raised inside it
        try:
            time.sleep(5)
        except gpu_check.OutOfBudget as error:
            raise RuntimeError("Error(s) in loading state_dict for ShapesClassifier:") from error

    monkeypatch.setattr(gpu_check, "fid_under", wrapping_fid)
    row = gpu_check.train_row(gpu_check.PRECISION_ROWS[0], gpu_check.DRY_SCALE, torch.device("cpu"), gpu_check.Budget(0.05), tmp_path, None)
    assert "stopped" not in row and row["ran_out"] == "interrupted at its 0 s budget (surfaced as RuntimeError)"
