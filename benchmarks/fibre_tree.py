"""Time the fibre extension tree at country scale (issue 5 target: 700,000 villages < 60 s, < 8 GB).

Usage: python benchmarks/fibre_tree.py [--villages 700000]

Generates a synthetic region (not timed), then times the tree and, for
comparison, the independent-spur model, and prints the trench totals of both
(length × terrain factor) and the process's peak memory.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

import shapely

from coverageplan.engineering.fibre import fibre_reach
from coverageplan.region.synth import synthesize
from coverageplan.scenario import FibreEngineering

TIME_TARGET_S = 60.0
MEMORY_TARGET_GB = 8.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--villages", type=int, default=700_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    region = synthesize(args.villages, args.seed)
    xy = shapely.get_coordinates(region.villages.geometry.to_numpy())
    slope = region.terrain.slope_deg()
    timings, totals = {}, {}
    for topology in ("tree", "spur"):
        started = time.perf_counter()
        reach = fibre_reach(region, xy, slope, FibreEngineering(topology=topology))
        timings[topology] = time.perf_counter() - started
        totals[topology] = float((reach.edge_length_m * reach.edge_terrain_factor).sum()) / 1e3
        print(
            f"{topology:<5} {timings[topology]:6.1f} s  reachable {reach.reachable.mean():.1%}  "
            f"all-village trench {totals[topology]:,.0f} km-equivalent"
        )
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(
        f"villages {args.villages:,}; tree saves {1 - totals['tree'] / totals['spur']:.1%} vs spurs"
    )
    print(f"peak memory (whole process, generator included) {peak_gb:.2f} GB")
    ok = timings["tree"] < TIME_TARGET_S and peak_gb < MEMORY_TARGET_GB
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
