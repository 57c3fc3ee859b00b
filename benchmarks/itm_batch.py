"""Time batched ITM against calling it one profile at a time.

Usage: python benchmarks/itm_batch.py [--profiles 20000] [--single 200] [--seed 0]

Builds seeded synthetic hill profiles (2-15 km, 100 m spacing, padded pfl
layout), evaluates all of them in one ``itm_point_to_point`` call, then a
subset one profile per call, and prints the time per profile of both and the
speedup. Target (issue 4): batch at least 100× faster per profile.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from coverageplan.engineering.itm import itm_point_to_point

SPEEDUP_TARGET = 100.0
SPACING_M = 100.0


def synthetic_profiles(count: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Padded profiles: a random walk of slopes plus a few hills, lengths 2-15 km."""
    rng = np.random.default_rng(seed)
    intervals = np.round(rng.uniform(2e3, 15e3, size=count) / SPACING_M).astype(np.int64)
    points = int(intervals.max()) + 1
    x_m = np.arange(points) * SPACING_M
    slope = np.cumsum(rng.normal(0.0, 0.02, size=(count, points)), axis=1)
    walk_m = np.cumsum(slope, axis=1) * SPACING_M * 0.1
    hill_at_m = rng.uniform(0.0, 15e3, size=(count, 3, 1))
    hill_m = rng.uniform(0.0, 400.0, size=(count, 3, 1))
    hills_m = (hill_m * np.exp(-(((x_m - hill_at_m) / 800.0) ** 2))).sum(axis=1)
    elevation_m = 300.0 + walk_m + hills_m
    return elevation_m, intervals, np.full(count, SPACING_M)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", type=int, default=20_000)
    parser.add_argument("--single", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    elevation_m, intervals, spacing_m = synthetic_profiles(args.profiles, args.seed)
    link = {"tx_height_m": 30.0, "rx_height_m": 5.0, "freq_mhz": 900.0, "mdvar": 12}

    start = time.perf_counter()
    batch = itm_point_to_point(elevation_m, intervals, spacing_m, **link)
    batch_s = time.perf_counter() - start

    subset = np.arange(min(args.single, args.profiles))
    start = time.perf_counter()
    single_db = np.array(
        [
            itm_point_to_point(
                elevation_m[i : i + 1, : intervals[i] + 1], intervals[i : i + 1], SPACING_M, **link
            ).loss_db[0]
            for i in subset
        ]
    )
    single_s = time.perf_counter() - start

    per_batch_us = batch_s / args.profiles * 1e6
    per_single_us = single_s / len(subset) * 1e6
    speedup = per_single_us / per_batch_us
    agree_db = float(np.abs(single_db - batch.loss_db[subset]).max())
    modes = np.bincount(batch.mode, minlength=4)[1:]
    print(f"profiles: {args.profiles} batched, {len(subset)} one at a time")
    print(f"ITM modes (LOS / diffraction / troposcatter): {modes[0]} / {modes[1]} / {modes[2]}")
    obstructed = batch.d_hzn_m.sum(axis=0) < batch.distance_m
    print(f"paths with a terrain horizon: {obstructed.mean():.0%}")
    print(f"batch:        {batch_s:8.3f} s total, {per_batch_us:9.1f} µs per profile")
    print(f"one-at-a-time:{single_s:8.3f} s total, {per_single_us:9.1f} µs per profile")
    verdict = "meets" if speedup >= SPEEDUP_TARGET else "MISSES"
    print(f"speedup: {speedup:.0f}× ({verdict} the {SPEEDUP_TARGET:.0f}× target)")
    print(f"max |batch − single| on the subset: {agree_db:.2e} dB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
