"""Time economics and policy for many economic points: batched over a point axis vs one at a time.

Usage:
    python benchmarks/pricing_scale.py            # 1,000 economic points at 50,000 villages
    python benchmarks/pricing_scale.py --smoke    # 40 points at 1,000 villages (CI)

The points are a sweep's: 5 subsidy mechanisms × 200 seeded Monte Carlo draws
of unit costs, cellular take-up and discount rate on a synthetic region
(seed 1, engineering computed once and cached in ``benchmarks/out``). Both
ways end in each point's Problem, as the optimizer receives it: batched,
``price_points`` on the batches a sweep on 2 workers makes (points sharing
costs and demand, the same draw under another mechanism, share one
Economics); one at a time, ``price`` per point; after one untimed call each
way. Printed: both times, per point, and their ratio; the first points'
Problems are checked equal both ways.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from coverageplan.optimize import Problem
from coverageplan.pipeline import economics_key, points_per_batch, price, price_points
from coverageplan.scenario import Scenario, scenario_from_dict
from coverageplan.sweep import engineering_cache, expand, plan_tasks

OUT = Path(__file__).parent / "out"
CHECKED = 10
WORKERS = 2
MECHANISMS = ["public_build", "gap_funding", "capex_share", "benchmark_cap", "satellite_voucher"]


def pricing_batches(villages: int, draws: int) -> tuple[Scenario, list[list[Scenario]]]:
    """The sweep scenario and its economic points (mechanisms × draws) as the sweep batches them.

    Batches of ``points_per_batch`` within the tasks of ``plan_tasks`` on
    :data:`WORKERS` workers (points sharing costs and demand side by side).
    """
    sweep = scenario_from_dict(
        {
            "name": f"pricing{villages}",
            "region": {"synthetic": {"villages": villages, "seed": 1}},
            "sweep": {
                "grid": {"policy.subsidy.mechanism": MECHANISMS},
                "monte_carlo": {
                    "samples": draws,
                    "seed": 0,
                    "distributions": {
                        "costs.cellular.site_civil_usd": {
                            "distribution": "lognormal",
                            "median": 45_000,
                            "sigma": 0.3,
                        },
                        "costs.fibre.trench_usd_per_km": {
                            "distribution": "triangular",
                            "low": 8_000,
                            "mode": 12_000,
                            "high": 20_000,
                        },
                        "demand.take_up.cellular": {
                            "distribution": "uniform",
                            "low": 0.5,
                            "high": 0.9,
                        },
                        "costs.discount_rate": {
                            "distribution": "uniform",
                            "low": 0.03,
                            "high": 0.1,
                        },
                    },
                },
                "cache_dir": str(OUT / "pricing_cache"),
            },
        }
    )
    size = points_per_batch(villages)
    batches = []
    for task in plan_tasks(sweep, expand(sweep), WORKERS):
        economic = [e.scenario for e in task.economic]
        batches += [economic[first : first + size] for first in range(0, len(economic), size)]
    return sweep, batches


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--villages", type=int, default=50_000)
    parser.add_argument("--draws", type=int, default=200, help="Monte Carlo draws per mechanism")
    parser.add_argument("--smoke", action="store_true", help="1,000 villages, 5 × 8 points")
    args = parser.parse_args()
    if args.smoke:
        args.villages, args.draws = 1_000, 8
    sweep, batches = pricing_batches(args.villages, args.draws)
    scenarios = [scenario for batch in batches for scenario in batch]
    distinct = sum(len({economics_key(s) for s in batch}) for batch in batches)
    assert sweep.sweep is not None
    started = time.perf_counter()
    _, engineered, hit = engineering_cache(sweep, sweep.sweep.cache_dir)
    engineering_s = time.perf_counter() - started

    price_points(engineered, batches[0])  # untimed: the first calls map fresh memory
    price(engineered, scenarios[0])
    kept: list[Problem] = []  # the Problems compared below; a sweep drops each once solved
    started = time.perf_counter()
    for batch in batches:
        _, problems = price_points(engineered, batch)
        for i in range(len(problems)):
            if len(kept) < CHECKED:
                kept.append(problems.problem(i))
            else:
                problems.problem(i)
    batched_s = time.perf_counter() - started

    started = time.perf_counter()
    for index, scenario in enumerate(scenarios):
        problem = price(engineered, scenario)[2]
        if index < CHECKED:
            assert np.array_equal(problem.cost, kept[index].cost)
            assert np.array_equal(problem.benefit, kept[index].benefit)
    alone_s = time.perf_counter() - started
    points = len(scenarios)
    print(
        f"pricing: {points:,} economic points ({len(MECHANISMS)} mechanisms × {args.draws} draws) "
        f"at {args.villages:,} villages; engineering {engineering_s:.1f} s"
        f"{' (cached)' if hit else ''}"
    )
    print(
        f"batched ({len(batches)} batches of up to {points_per_batch(args.villages)} points, "
        f"{distinct} distinct costs and demand in all): {batched_s:.2f} s, "
        f"{1e3 * batched_s / points:.1f} ms per point"
    )
    print(f"one at a time: {alone_s:.2f} s, {1e3 * alone_s / points:.1f} ms per point")
    print(f"ratio: batched is {alone_s / batched_s:.1f}× faster (Problems equal both ways)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
