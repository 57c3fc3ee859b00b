"""Time a budget × subsidy sweep with ``frontier``, engineering included once (issue 8).

Usage:
    python benchmarks/sweep_scale.py            # 50,000 villages, 10 subsidy points × 100 budgets
    python benchmarks/sweep_scale.py --smoke    # 1,000 villages, 2 × 5 (CI)
    python benchmarks/sweep_scale.py --local-cluster   # the same through a Dask LocalCluster
    python benchmarks/sweep_scale.py --compare-dask    # both, then the tables compared

The region is synthetic (``region.synthetic``, seed 1); the engineering cache
is emptied first, so the time includes generating the region and computing
its Reach once. Subsidy points are zipped: public build, gap funding, two
capex shares, two benchmark caps and four satellite vouchers. Budgets are
shares of each point's greedy full cost. Each frontier call gets
``--call-seconds`` (default 60 s, which no call needs at 50,000 villages,
so the outcome does not depend on timing and ``--compare-dask`` finds the
tables identical); under a tighter limit the frontier still returns
verified plans and proven bounds, and the gaps printed are what that time
buys. Printed: total, per-point and engineering seconds, statuses and the
max/median gap.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path(__file__).parent / "out"
TARGET_S = 120.0
CALL_S = 60.0  # each frontier call's time limit: enough that none is cut short at 50,000
SUBSIDY_POINTS = {
    "policy.subsidy.mechanism": [
        "public_build",
        "gap_funding",
        "capex_share",
        "capex_share",
        "benchmark_cap",
        "benchmark_cap",
        "satellite_voucher",
        "satellite_voucher",
        "satellite_voucher",
        "satellite_voucher",
    ],
    "policy.subsidy.capex_share.remote": [0.3, 0.3, 0.3, 0.6, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3],
    "policy.subsidy.cap_usd_per_month": [200, 200, 200, 200, 100, 200, 200, 200, 200, 200],
    "policy.subsidy.voucher_usd": [500, 500, 500, 500, 500, 500, 200, 400, 600, 800],
}


def scenario(villages: int, subsidy: int, budgets: int, call_s: float) -> object:
    """The benchmark's sweep scenario."""
    from coverageplan.scenario import scenario_from_dict

    return scenario_from_dict(
        {
            "name": f"sweep{villages}",
            "region": {"synthetic": {"villages": villages, "seed": 1}},
            "optimizer": {"time_limit_s": call_s, "mip_gap": 5e-3},
            "sweep": {
                "method": "frontier",
                "zip": {key: values[:subsidy] for key, values in SUBSIDY_POINTS.items()},
                "budgets": {"share_of_full_cost": {"start": 0.005, "stop": 0.2, "count": budgets}},
                "cache_dir": str(OUT / "sweep_cache"),
            },
        }
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--villages", type=int, default=50_000)
    parser.add_argument("--subsidy", type=int, default=10, help="subsidy points (≤ 10)")
    parser.add_argument("--budgets", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--call-seconds", type=float, help="time limit of each frontier call")
    parser.add_argument("--smoke", action="store_true", help="1,000 villages, 2 × 5 points")
    parser.add_argument("--scheduler", metavar="ADDRESS", help="run on this Dask scheduler")
    parser.add_argument(
        "--local-cluster", action="store_true", help="run on a Dask LocalCluster of --workers"
    )
    parser.add_argument(
        "--compare-dask",
        action="store_true",
        help="run locally, then on a LocalCluster, and check the tables are identical",
    )
    args = parser.parse_args()
    if args.smoke:
        args.villages, args.subsidy, args.budgets = 1_000, 2, 5
    call_s = args.call_seconds or CALL_S
    if args.smoke:
        call_s = args.call_seconds or 10.0

    runs = [False, True] if args.compare_dask else [args.local_cluster]
    tables = [run(args, call_s, on_cluster) for on_cluster in runs]
    if args.compare_dask:
        from coverageplan.sweep import TIMING_COLUMNS

        local, dask = (table.drop(columns=list(TIMING_COLUMNS)) for table in tables)
        same = local.equals(dask)
        print(f"local and Dask LocalCluster tables {'identical' if same else 'DIFFER'}")
        return 0 if same else 1
    return 0


def run(args: argparse.Namespace, call_s: float, on_cluster: bool) -> pd.DataFrame:
    """One sweep (locally, or on a LocalCluster); prints its figures and returns its table."""
    from coverageplan.sweep import run_sweep

    shutil.rmtree(OUT / "sweep_cache", ignore_errors=True)  # engineering counted, once
    with contextlib.ExitStack() as stack:
        scheduler = args.scheduler
        if on_cluster:
            from distributed import LocalCluster

            cluster = stack.enter_context(
                LocalCluster(n_workers=args.workers, threads_per_worker=1, dashboard_address=None)
            )
            scheduler = cluster.scheduler_address
        result = run_sweep(
            scenario(args.villages, args.subsidy, args.budgets, call_s),  # type: ignore[arg-type]
            directory=OUT / f"sweep_{args.villages}{'_dask' if scheduler else ''}",
            workers=args.workers,
            scheduler=scheduler,
            progress=False,
        )
    table, timings = result.table, result.timings_s
    gap = table["gap"].replace(np.inf, np.nan)
    points = len(table)
    print(
        f"sweep: {args.villages:,} villages, {args.subsidy} subsidy points × {args.budgets} "
        f"budgets = {points:,} points, frontier, {args.workers} workers"
        f"{' (Dask)' if args.scheduler or on_cluster else ''}, {call_s:.1f} s per call"
    )
    print(f"total {timings['total']:.1f} s; per point {timings['total'] / points:.4f} s")
    print(
        f"engineering (region + reach, once) {timings['engineering']:.1f} s; points "
        f"{timings['points']:.1f} s; charts {timings['charts']:.1f} s"
    )
    statuses = ", ".join(f"{k} {v}" for k, v in table["status"].value_counts().items())
    print(f"statuses: {statuses}")
    print(
        f"gap: max {gap.max():.3g}, median {gap.median():.3g}, "
        f"mean {gap.mean():.3g} (no plan: {int(gap.isna().sum())})"
    )
    coverage = table["population_served_share"]
    print(f"coverage: {coverage.min():.1%} to {coverage.max():.1%} of the population")
    met = timings["total"] < TARGET_S
    if not args.smoke:
        print(
            f"target: 1,000 points in < {TARGET_S:.0f} s on 2 cores: {'met' if met else 'MISSED'}"
        )
    return table


if __name__ == "__main__":
    sys.exit(main())
