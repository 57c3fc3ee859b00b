"""The pipeline: scenario → region → reach → problem → plan → outputs.

:func:`run` is the only place that knows the whole chain; each stage takes the
previous stage's value and returns a new one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from coverageplan.economics import economics
from coverageplan.engineering import compute_reach
from coverageplan.optimize import solve
from coverageplan.policy import Villages, build_problem, consolidation_hosts
from coverageplan.region import Region, read_region, validate_region
from coverageplan.region.io import metric_crs_for, reproject_terrain
from coverageplan.region.synth import synthesize
from coverageplan.report import PlanContext, write_outputs
from coverageplan.scenario import RegionSource, Scenario

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Result:
    """A finished run: every stage's value, the output folder and stage timings (s)."""

    context: PlanContext
    output_dir: Path | None
    timings_s: dict[str, float] = field(default_factory=dict)


@contextmanager
def _stage(name: str, timings_s: dict[str, float]) -> Iterator[None]:
    log.info("%s ...", name)
    started = time.perf_counter()
    yield
    timings_s[name] = time.perf_counter() - started
    log.info("%s done in %.2f s", name, timings_s[name])


def load_region(source: RegionSource) -> Region:
    """The region a scenario names: read from its folder, or generated."""
    if source.path is not None:
        return read_region(source.path, crs=source.crs)
    assert source.synthetic is not None
    region = synthesize(source.synthetic.villages, source.synthetic.seed)
    if source.crs is not None:
        crs = metric_crs_for(region.villages, source.crs)
        region = Region(
            terrain=reproject_terrain(region.terrain, crs),
            **{name: layer.to_crs(crs) for name, layer in region.layers().items()},
        )
    return validate_region(region, source="synthetic region")


def region_class_of(region: Region, scenario: Scenario) -> np.ndarray:
    """Each village's area class, the scenario default where the data gives none."""
    default = scenario.policy.default_region_class
    if "region_class" not in region.villages:
        return np.full(len(region.villages), default)
    return region.villages["region_class"].fillna(default).to_numpy().astype(str)


def village_arrays(region: Region, scenario: Scenario) -> Villages:
    """The village table as the arrays policy and economics use (defaults filled in)."""
    table = region.villages
    n = len(table)

    def column(name: str, default: float) -> np.ndarray:
        if name not in table:
            return np.full(n, default)
        return table[name].fillna(default).to_numpy(dtype=float)

    return Villages(
        population=table["population"].to_numpy(dtype=float),
        households=table["households"].to_numpy(dtype=float),
        region_class=region_class_of(region, scenario),
        priority=column("priority", 1.0),
        dispersion=column("dispersion", 0.0),
        income_usd_per_month=column("income", np.nan) if "income" in table else None,
    )


def run(scenario: Scenario, *, write: bool = True) -> Result:
    """Plan one scenario end to end; write its outputs unless ``write`` is False."""
    timings: dict[str, float] = {}
    with _stage("region", timings):
        region = load_region(scenario.region)
        villages = village_arrays(region, scenario)
    with _stage("engineering", timings):  # physics, once per region
        reach = compute_reach(region, scenario.engineering)
    with _stage("economics and policy", timings):  # cheap, per scenario point
        policy = scenario.policy
        host = consolidation_hosts(reach.village_xy, villages.population, policy.consolidation)
        household_income = (
            None
            if villages.income_usd_per_month is None
            else villages.income_usd_per_month
            * villages.population
            / np.maximum(villages.households, 1)
        )
        econ = economics(
            reach, villages.households, household_income, host, scenario.costs, scenario.demand
        )
        problem = build_problem(villages, reach, econ, policy, scenario.demand)
    with _stage("optimize", timings):
        optimizer = scenario.optimizer
        plan = solve(
            problem,
            optimizer.method,
            goal="max_benefit" if policy.mode == "max_coverage" else "min_cost",
            solver=optimizer.solver,
            time_limit_s=optimizer.time_limit_s,
            mip_gap=optimizer.mip_gap,
        )
    context = PlanContext(scenario, region, reach, econ, problem, plan, villages)
    output_dir = None
    if write:
        with _stage("outputs", timings):
            output_dir = write_outputs(context, scenario.outputs.directory, timings)
    return Result(context=context, output_dir=output_dir, timings_s=timings)
