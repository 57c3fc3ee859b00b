"""Time terrain-aware coverage at province scale, and batch ITM against one profile at a time.

Usage: python benchmarks/radio_scale.py [--villages 50000] [--sites 5000] [--smoke]

Builds a seeded synthetic region (``coverageplan.region.synth``), puts the
sites on randomly chosen villages' cells, and times ``coverage_matrix``
(cKDTree pairs within 15 km, DEM profiles at the DEM cell size, ITM,
link budget) on all cores. Then times ITM on a sample of those profiles
one per call. Targets (issue 4): coverage under 60 s on 2 cores for 50,000
villages × 5,000 sites (~1 million pairs), batch ITM ≥ 100× faster per profile.
``--smoke``: 2,000 villages × 200 sites (CI).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import shapely

from coverageplan.engineering.itm import itm_point_to_point
from coverageplan.engineering.radio import coverage_matrix, itm_parameters, pairs_within
from coverageplan.engineering.terrain import terrain_profiles, void_filled
from coverageplan.region.synth import synthesize
from coverageplan.scenario import RadioEngineering

COVERAGE_TARGET_S = 60.0
SPEEDUP_TARGET = 100.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--villages", type=int, default=50_000)
    parser.add_argument("--sites", type=int, default=5_000)
    parser.add_argument("--single", type=int, default=300)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    if args.smoke:
        args.villages, args.sites, args.single = 2_000, 200, 50
    region = synthesize(args.villages, seed=11)
    village_xy = shapely.get_coordinates(region.villages.geometry.to_numpy())
    rng = np.random.default_rng(0)
    site_xy = village_xy[rng.choice(len(village_xy), args.sites, replace=False)] + 150.0
    site_xy = np.clip(site_xy, region.terrain.bounds[:2], region.terrain.bounds[2:])
    heights = np.full(len(site_xy), 30.0)
    radio = RadioEngineering()
    pairs = len(pairs_within(site_xy, village_xy, radio.max_range_m)[0])

    start = time.perf_counter()
    cover = coverage_matrix(village_xy, site_xy, heights, radio, terrain=region.terrain)
    coverage_s = time.perf_counter() - start
    cores = os.cpu_count()
    print(f"villages {args.villages:,}, sites {args.sites:,}, pairs within 15 km {pairs:,}")
    print(f"DEM {region.terrain.elevation_m.shape}, cell {region.terrain.cell_size_m[0]:.0f} m")
    verdict = "meets" if coverage_s < COVERAGE_TARGET_S else "MISSES"
    print(
        f"coverage: {coverage_s:.1f} s on {cores} cores ({verdict} the "
        f"{COVERAGE_TARGET_S:.0f} s target); {cover.nnz:,} covered pairs, "
        f"{(cover.sum(axis=1) > 0).mean():.0%} of villages covered"
    )

    # Batch ITM vs one profile per call, on the same kind of profiles.
    site, village, _ = pairs_within(site_xy, village_xy, radio.max_range_m)
    pick = rng.choice(len(site), min(20_000, len(site)), replace=False)
    grid = void_filled(region.terrain)
    spacing = max(30.0, region.terrain.cell_size_m[0])
    z, n, d = terrain_profiles(
        region.terrain, grid, site_xy[site[pick]], village_xy[village[pick]], spacing_m=spacing
    )
    params = {**itm_parameters(radio), "rx_height_m": radio.rx_height_m, "tx_height_m": 30.0}
    start = time.perf_counter()
    batch = itm_point_to_point(z, n, d, **params).loss_db
    batch_us = (time.perf_counter() - start) / len(pick) * 1e6
    single = range(min(args.single, len(pick)))
    start = time.perf_counter()
    one = [
        itm_point_to_point(z[i, : n[i] + 1], n[i : i + 1], d[i], **params).loss_db[0]
        for i in single
    ]
    single_us = (time.perf_counter() - start) / len(single) * 1e6
    speedup = single_us / batch_us
    agree = float(np.abs(np.array(one) - batch[: len(one)]).max())
    verdict = "meets" if speedup >= SPEEDUP_TARGET else "MISSES"
    print(
        f"ITM: batch {batch_us:.1f} µs per profile, one at a time {single_us:.0f} µs; "
        f"speedup {speedup:.0f}× ({verdict} the {SPEEDUP_TARGET:.0f}× target); "
        f"max difference {agree:.1e} dB"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
