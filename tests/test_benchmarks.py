"""The benchmark scripts' smoke modes run and print their figures."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def smoke(script: str) -> str:
    """Standard output of ``benchmarks/<script> --smoke``, which must exit 0."""
    completed = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), "--smoke"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=ROOT,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


def test_optimizer_benchmark_smoke_mode_prints_every_method() -> None:
    stdout = smoke("optimizer_scale.py")
    lines = stdout.splitlines()
    for method in ("milp", "frontier", "baseline"):
        assert any(line.split()[1:2] == [method] for line in lines), stdout
    assert "time ratio" in stdout and "agree within the gap" in stdout


def test_optimizer_benchmark_judges_each_target_from_its_runs() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "optimizer_scale", ROOT / "benchmarks" / "optimizer_scale.py"
    )
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    milp = {"status": "optimal", "gap": 7e-4, "build_s": 1.0, "solve_s": 38.0, "peak_gb": 0.7}
    frontier = {"solve_s": 29.0, "gap": 4e-3, "budgets": 100, "monotone": True}
    frontier["within_budget"] = True
    runs = {
        ("50k", "milp"): milp,
        ("700k", "milp"): milp | {"solve_s": 70.0, "peak_gb": 9.0},  # over 8 GB
        ("10k", "milp"): milp | {"solve_s": 1.0, "objective": 100.0},
        ("10k", "baseline"): {"build_s": 1.0, "solve_s": 18.0, "objective": 100.05},
        ("50k", "frontier"): frontier,
    }
    assert bench.target_verdicts(runs) == {
        "50k milp": "PASS",
        "700k milp": "FAIL",
        "10k ratio": "FAIL",  # 19 s against 2 s: 9.5x
        "50k frontier": "PASS",
    }
    runs[("10k", "milp")] = milp | {"build_s": 0.5, "solve_s": 1.4, "objective": 100.0}
    runs[("50k", "frontier")] = frontier | {"gap": 6e-3}  # one budget beyond 0.5 %
    verdicts = bench.target_verdicts(runs)
    assert verdicts["10k ratio"] == "PASS" and verdicts["50k frontier"] == "FAIL"
    del runs[("50k", "milp")]
    assert "50k milp" not in bench.target_verdicts(runs)


def test_sweep_benchmark_smoke_mode_prints_its_figures() -> None:
    stdout = smoke("sweep_scale.py")
    for figure in ("per point", "engineering", "gap: max", "10 points"):
        assert figure in stdout, stdout


def test_radio_benchmark_smoke_mode_prints_both_figures() -> None:
    stdout = smoke("radio_scale.py")
    assert "coverage:" in stdout and "speedup" in stdout


def test_pricing_benchmark_smoke_mode_prints_both_times_and_their_ratio() -> None:
    stdout = smoke("pricing_scale.py")
    for figure in ("batched", "one at a time", "ratio"):
        assert figure in stdout, stdout
