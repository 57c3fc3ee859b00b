"""The pipeline: scenario → region → reach → problem → plan → outputs.

:func:`run` is the only place that knows the whole chain; each stage takes the
previous stage's value and returns a new one.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from coverageplan.economics import N_OPTIONS, Economics, economics
from coverageplan.engineering import Reach, compute_reach
from coverageplan.engineering.fibre import access_points_xy
from coverageplan.optimize import Problem, solve
from coverageplan.policy import (
    Problems,
    Villages,
    build_problems,
    classify_by_rules,
    consolidation_hosts,
)
from coverageplan.region import Region, read_region, validate_region, write_region
from coverageplan.region.importers import ImportReport, import_region
from coverageplan.region.io import DEM_NAME, metric_crs_for, reproject_terrain
from coverageplan.region.synth import synthesize
from coverageplan.report import PlanContext, write_outputs
from coverageplan.scenario import Demand, Engineering, Policy, RegionSource, Scenario

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


def imported_region_dir(source: RegionSource) -> Path:
    """The cache folder of an imported region, named by a hash of its inputs.

    The hash covers the ``files`` section and each file's size and modification
    time, so editing either re-imports.
    """
    assert source.files is not None
    files = source.files
    paths = [*files.dem, files.villages.path, *(t.path for t in files.towers)]
    paths += [layer.path for layer in (files.fibre, files.fibre_nodes, files.roads) if layer]
    paths += [files.population_raster] if files.population_raster else []
    digest = hashlib.sha256(files.model_dump_json().encode())
    digest.update((source.crs or "").encode())
    for path in paths:
        stat = path.stat() if path.exists() else None
        digest.update(f"{path}:{stat and stat.st_size}:{stat and stat.st_mtime_ns}".encode())
    return files.cache_dir / digest.hexdigest()[:16]


def import_to(source: RegionSource, folder: Path) -> ImportReport:
    """Import the raw files a scenario lists and save the Region in ``folder``."""
    assert source.files is not None
    region, report = import_region(source.files, crs=source.crs)
    write_region(region, folder)
    return report


def load_region(source: RegionSource) -> Region:
    """The region a scenario names: read from its folder, imported (cached), or generated."""
    if source.files is not None:
        folder = imported_region_dir(source)
        if not (folder / DEM_NAME).is_file():
            report = import_to(source, folder)
            log.info("imported region into %s: %s", folder, "; ".join(report.lines()))
        return read_region(folder, crs=source.crs)
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


def assign_classes(
    given: np.ndarray, network_distance_m: np.ndarray, slope_deg: np.ndarray, policy: Policy
) -> np.ndarray:
    """Area class per village: ``given`` (None where absent), else the rules', else the default.

    The rules (``policy.class_rules``) apply only when enabled.
    """
    missing = np.asarray(pd.isna(given), dtype=bool)
    if policy.class_rules.enabled and missing.any():
        fallback = classify_by_rules(network_distance_m, slope_deg, policy)
    else:
        fallback = np.full(len(given), policy.default_region_class, dtype=object)
    return np.where(missing, fallback, given).astype(str)


def class_inputs(
    region: Region, engineering: Engineering
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What area classes are assigned from: (given class, network distance (m), slope (deg)).

    Per village: the data's class (None where absent), the distance to the
    nearest fibre access point (inf without any) and the terrain slope.
    """
    table = region.villages
    n = len(table)
    xy = shapely.get_coordinates(table.geometry.to_numpy())
    network = access_points_xy(region, engineering.fibre.access_spacing_m)
    distance = cKDTree(network).query(xy)[0] if len(network) else np.full(n, np.inf)
    given: np.ndarray = np.full(n, None, dtype=object)
    if "region_class" in table:
        given = table["region_class"].to_numpy(dtype=object).copy()
        given[np.asarray(pd.isna(given), dtype=bool)] = None
    slope = region.terrain.sample(xy[:, 0], xy[:, 1], region.terrain.slope_deg())
    return given, np.asarray(distance, dtype=float), slope


def region_class_of(region: Region, scenario: Scenario) -> np.ndarray:
    """Each village's area class: the data's, else the rules' (if enabled), else the default."""
    return assign_classes(*class_inputs(region, scenario.engineering), scenario.policy)


@dataclass(frozen=True)
class Engineered:
    """A region's physics and its village table as arrays: all a scenario point is priced from.

    Computed once per region and engineering section (:func:`engineer`); sweeps
    cache it on disk. ``village_id`` (n,) str; ``population``, ``households``,
    ``priority``, ``dispersion`` (n,); ``income_usd_per_month`` (n,) per capita,
    None without data; ``given_class`` (n,) object, None where the data gives
    none; ``network_distance_m`` (n,) to the nearest fibre access point (inf
    without any); ``slope_deg`` (n,) at each village; ``crs`` the metric CRS (WKT).
    """

    village_id: np.ndarray
    population: np.ndarray
    households: np.ndarray
    priority: np.ndarray
    dispersion: np.ndarray
    income_usd_per_month: np.ndarray | None
    given_class: np.ndarray
    network_distance_m: np.ndarray
    slope_deg: np.ndarray
    reach: Reach
    crs: str


def engineer(region: Region, engineering: Engineering) -> Engineered:
    """The region's village arrays and its Reach: the expensive, per-region part."""
    table = region.villages
    n = len(table)

    def column(name: str, default: float) -> np.ndarray:
        if name not in table:
            return np.full(n, default)
        return table[name].fillna(default).to_numpy(dtype=float)

    given, distance, slope = class_inputs(region, engineering)
    return Engineered(
        village_id=table["village_id"].to_numpy(dtype=str),
        population=table["population"].to_numpy(dtype=float),
        households=table["households"].to_numpy(dtype=float),
        priority=column("priority", 1.0),
        dispersion=column("dispersion", 0.0),
        income_usd_per_month=column("income", np.nan) if "income" in table else None,
        given_class=given,
        network_distance_m=distance,
        slope_deg=slope,
        reach=compute_reach(region, engineering),
        crs=region.crs.to_wkt(),
    )


def village_arrays(engineered: Engineered, policy: Policy) -> Villages:
    """The village table as the arrays policy and economics use (classes filled in)."""
    return Villages(
        population=engineered.population,
        households=engineered.households,
        region_class=assign_classes(
            engineered.given_class, engineered.network_distance_m, engineered.slope_deg, policy
        ),
        priority=engineered.priority,
        dispersion=engineered.dispersion,
        income_usd_per_month=engineered.income_usd_per_month,
    )


BATCH_ENTRIES = 2**21
"""(point, village, option) entries per pricing batch: 16 MB per float array of costs."""
SHARED_DEMAND = ("tiers", "enforce_site_capacity")
"""Demand keys that shape the Problem; the rest of ``demand`` is priced per point."""
PRICING_EXCLUDED: dict[str, Any] = {
    "name": True,
    "description": True,
    "optimizer": True,
    "outputs": True,
    "sweep": True,
    "overrides": True,
    "costs": True,
    "demand": set(Demand.model_fields) - set(SHARED_DEMAND),
    "policy": {"subsidy", "budget_usd"},
}
"""What points of one pricing batch may differ in: costs, demand figures, subsidy, budget."""


def pricing_structure(scenario: Scenario) -> dict[str, Any]:
    """The scenario without what is priced per point: points sharing it price in one batch."""
    return scenario.model_dump(mode="json", exclude=PRICING_EXCLUDED)


def economics_key(scenario: Scenario) -> str:
    """What a point's Economics depends on (its costs and demand): equal keys, equal Economics."""
    return scenario.costs.model_dump_json() + scenario.demand.model_dump_json()


def points_per_batch(villages: int) -> int:
    """How many scenario points to price in one batch for ``villages`` villages (≥ 1)."""
    return max(1, BATCH_ENTRIES // max(villages * N_OPTIONS, 1))


def _difference(a: Any, b: Any, where: str = "") -> str | None:
    """The first dotted key at which two scenario mappings differ, None if equal."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(a.keys() | b.keys()):
            found = _difference(a.get(key), b.get(key), f"{where}.{key}" if where else key)
            if found is not None:
                return found
        return None
    return None if a == b else where


def price_points(
    engineered: Engineered, scenarios: Sequence[Scenario]
) -> tuple[Villages, Problems]:
    """Economics and policy of P scenario points at once, on a region's engineering.

    The points may differ only in what is priced per point (costs, demand
    figures, subsidy, budget; see :data:`PRICING_EXCLUDED`); anything else is
    a ValueError naming the key. Arrays carry a leading point axis. Points
    with equal costs and demand (e.g. other subsidy rules) share one
    computation of their Economics (``Problems.economics(i)``).
    """
    if not scenarios:
        raise ValueError("price_points: no scenario points to price")
    first = scenarios[0]
    structure = pricing_structure(first)
    for index, other in enumerate(scenarios[1:], start=1):
        key = _difference(structure, pricing_structure(other))
        if key is not None:
            raise ValueError(
                f"price_points: point {index} differs from point 0 in {key!r}, which is not "
                "priced per point; price it in its own batch"
            )
    policy = first.policy
    villages = village_arrays(engineered, policy)
    reach = engineered.reach
    host = consolidation_hosts(reach.village_xy, villages.population, policy.consolidation)
    household_income = (
        None
        if villages.income_usd_per_month is None
        else villages.income_usd_per_month
        * villages.population
        / np.maximum(villages.households, 1)
    )
    position: dict[str, int] = {}
    row = np.asarray([position.setdefault(economics_key(s), len(position)) for s in scenarios])
    distinct = [scenarios[i] for i in np.unique(row, return_index=True)[1]]
    econ = economics(
        reach,
        villages.households,
        household_income,
        host,
        [s.costs for s in distinct],
        [s.demand for s in distinct],
    )
    policies = [s.policy for s in scenarios]
    return villages, build_problems(villages, reach, econ, row, policies, first.demand)


def price(engineered: Engineered, scenario: Scenario) -> tuple[Villages, Economics, Problem]:
    """Economics and policy of one scenario point: :func:`price_points` of one."""
    villages, problems = price_points(engineered, [scenario])
    return villages, problems.economics(0), problems.problem(0)


@dataclass(frozen=True)
class Prepared:
    """Every stage up to the optimizer: what ``solve`` needs and what reports draw on."""

    region: Region
    villages: Villages
    reach: Reach
    econ: Economics
    problem: Problem
    timings_s: dict[str, float] = field(default_factory=dict)


def prepare(scenario: Scenario) -> Prepared:
    """Region, engineering, economics and policy: the scenario turned into a Problem."""
    timings: dict[str, float] = {}
    with _stage("region", timings):
        region = load_region(scenario.region)
    with _stage("engineering", timings):  # physics, once per region
        engineered = engineer(region, scenario.engineering)
    with _stage("economics and policy", timings):  # cheap, per scenario point
        villages, econ, problem = price(engineered, scenario)
    return Prepared(region, villages, engineered.reach, econ, problem, timings)


def run(scenario: Scenario, *, write: bool = True) -> Result:
    """Plan one scenario end to end; write its outputs unless ``write`` is False."""
    prepared = prepare(scenario)
    timings = dict(prepared.timings_s)
    with _stage("optimize", timings):
        optimizer = scenario.optimizer
        plan = solve(
            prepared.problem,
            optimizer.method,
            goal="max_benefit" if scenario.policy.mode == "max_coverage" else "min_cost",
            solver=optimizer.solver,
            time_limit_s=optimizer.time_limit_s,
            mip_gap=optimizer.mip_gap,
        )
    context = PlanContext(
        scenario,
        prepared.region,
        prepared.reach,
        prepared.econ,
        prepared.problem,
        plan,
        prepared.villages,
    )
    output_dir = None
    if write:
        with _stage("outputs", timings):
            output_dir = write_outputs(context, scenario.outputs.directory, timings)
    return Result(context=context, output_dir=output_dir, timings_s=timings)
