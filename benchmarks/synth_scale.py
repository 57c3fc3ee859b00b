"""Time the synthetic-region generator at country scale and report peak memory.

Usage: python benchmarks/synth_scale.py [--villages 700000] [--out benchmarks/out/country]

Runs ``coverageplan synth`` in a child process (so its peak resident memory is
measured alone) and prints wall time, peak RSS and the files' sizes. Targets
(issue 2): under 120 s and under 8 GB for 700,000 villages on 2 cores.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

TIME_TARGET_S = 120.0
MEMORY_TARGET_GB = 8.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--villages", type=int, default=700_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/country"))
    args = parser.parse_args()
    command = [
        sys.executable,
        "-m",
        "coverageplan.cli",
        "synth",
        "--villages",
        str(args.villages),
        "--seed",
        str(args.seed),
        "--out",
        str(args.out),
    ]
    started = time.perf_counter()
    completed = subprocess.run(command, check=False, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if completed.returncode != 0:
        print(completed.stderr, file=sys.stderr)
        return completed.returncode
    peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2  # kB -> GB
    sizes = {p.name: p.stat().st_size / 1024**2 for p in sorted(args.out.iterdir())}
    print(completed.stdout.strip())
    print(f"villages           {args.villages:,}")
    print(f"wall time          {elapsed:.1f} s   (target < {TIME_TARGET_S:.0f} s)")
    print(f"peak memory        {peak_gb:.2f} GB  (target < {MEMORY_TARGET_GB:.0f} GB)")
    for name, size in sizes.items():
        print(f"{name:<18} {size:.1f} MB")
    ok = elapsed < TIME_TARGET_S and peak_gb < MEMORY_TARGET_GB
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
