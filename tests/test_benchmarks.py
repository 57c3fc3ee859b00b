"""The benchmark scripts' smoke modes run and print their figures."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def test_optimizer_benchmark_smoke_mode_prints_every_method() -> None:
    completed = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "optimizer_scale.py"), "--smoke"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=ROOT,
    )
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    for method in ("milp", "frontier", "baseline"):
        assert any(line.split()[1:2] == [method] for line in lines), completed.stdout
    assert "time ratio" in completed.stdout and "agree within the gap" in completed.stdout


def test_sweep_benchmark_smoke_mode_prints_its_figures() -> None:
    completed = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "sweep_scale.py"), "--smoke"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=ROOT,
    )
    assert completed.returncode == 0, completed.stderr
    for figure in ("per point", "engineering", "gap: max", "10 points"):
        assert figure in completed.stdout, completed.stdout


def test_radio_benchmark_smoke_mode_prints_both_figures() -> None:
    completed = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "radio_scale.py"), "--smoke"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=ROOT,
    )
    assert completed.returncode == 0, completed.stderr
    assert "coverage:" in completed.stdout and "speedup" in completed.stdout
