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
