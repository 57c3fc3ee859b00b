"""Parameter sweeps: many scenario points on one region's engineering, locally or on Dask.

A scenario's ``sweep`` section expands into *points* (:func:`expand`): the
cartesian product of a grid, zipped lists, a seeded Latin hypercube, seeded
Monte Carlo draws and a budget axis. Points that differ only in the budget
form one *economic point*: its Problem is priced once and ``frontier`` answers
all its budgets in one call (``milp``: one exact solve per budget). A task
holds several economic points that differ only in what is priced per point
(costs, demand figures, subsidy, budget): they are priced together in one
batch (:func:`~coverageplan.pipeline.price_points`) and solved in turn.

Engineering (the Reach) is the expensive part, so it is computed once per
region and engineering section and cached on disk (:func:`engineering_cache`);
a sweep key under ``region.`` or ``engineering.`` makes its own cache entry.

Tasks run in local worker processes or, given a scheduler address, on a Dask
distributed cluster. As each task finishes its rows are written to a part file
(atomically); ``resume`` skips points whose rows exist, so a killed sweep
loses at most the points in flight. At the end the parts are compacted into
``sweep.parquet`` (a row per point, in expansion order) and the charts are
drawn beside it.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import itertools
import json
import logging
import os
import pickle
import shutil
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from coverageplan import __version__
from coverageplan.atomic import atomic_file
from coverageplan.errors import InfeasibleError, InputError, SolverError
from coverageplan.optimize import Plan, Problem, frontier, solve
from coverageplan.optimize.frontier import greedy_full_cost
from coverageplan.pipeline import (
    Engineered,
    economics_key,
    engineer,
    imported_region_dir,
    load_region,
    points_per_batch,
    price_points,
    pricing_structure,
)
from coverageplan.policy import Problems, Villages, tier_index
from coverageplan.processes import clean_process_context
from coverageplan.region.io import DEM_NAME, GPKG_NAME
from coverageplan.report.sweep_charts import draw_charts, write_parquet
from coverageplan.scenario import OPTIONS, Scenario
from coverageplan.sweep_spec import (
    Lognormal,
    MonteCarlo,
    Normal,
    Triangular,
    Uniform,
    with_values,
)

log = logging.getLogger(__name__)

BUDGET_USD, BUDGET_SHARE = "policy.budget_usd", "budget_share"
"""Point parameters that set the budget: USD, or a share of the greedy full cost."""
OPTION_COLUMNS = (*OPTIONS, "consolidate")
TIMING_COLUMNS = ("solve_time_s", "point_time_s")
"""Columns that vary from run to run; every other column is deterministic."""
MAX_TASK_POINTS, TASKS_PER_WORKER = 16, 4
"""Most units (economic points; milp: points) per task, and tasks per worker to aim for."""
TABLE_NAME, MANIFEST_NAME, PARTS_DIR, CHOICES_NAME = (
    "sweep.parquet",
    "sweep.json",
    "parts",
    "choices.npz",
)


@dataclass(frozen=True)
class Point:
    """One scenario point: its parameters, position in expansion order and Monte Carlo draw.

    ``params``: swept key -> value, the budget as ``policy.budget_usd`` (USD)
    or ``budget_share`` (of the greedy full cost); ``draw`` −1 outside Monte Carlo.
    """

    index: int
    params: dict[str, Any]
    draw: int = -1

    @property
    def point_id(self) -> str:
        """A deterministic id: a hash of the parameters."""
        return digest(self.params)

    @property
    def economic(self) -> dict[str, Any]:
        """The parameters that are not the budget."""
        return {k: v for k, v in self.params.items() if k not in (BUDGET_USD, BUDGET_SHARE)}


@dataclass(frozen=True)
class EconomicPoint:
    """One economic point's scenario and the points (its budgets) it answers."""

    scenario: Scenario
    points: tuple[Point, ...]


@dataclass(frozen=True)
class Task:
    """Economic points priced in one batch and solved in turn: what a worker does in one go.

    They share the engineering and the pricing structure
    (:func:`~coverageplan.pipeline.pricing_structure`).
    """

    engineering_key: str
    economic: tuple[EconomicPoint, ...]
    method: str

    @property
    def points(self) -> tuple[Point, ...]:
        """Every point of the task, economic point by economic point."""
        return tuple(point for economic in self.economic for point in economic.points)

    @property
    def scenario(self) -> Scenario:
        """The first economic point's scenario (its region and engineering are the task's)."""
        return self.economic[0].scenario

    @property
    def task_id(self) -> str:
        """A hash of its points' ids (the part file's name)."""
        return digest([point.point_id for point in self.points])

    def without(self, done: set[str]) -> Task | None:
        """The task less the points whose ids are in ``done``; None when none is left."""
        left = []
        for economic in self.economic:
            points = tuple(p for p in economic.points if p.point_id not in done)
            if points:
                left.append(EconomicPoint(economic.scenario, points))
        return Task(self.engineering_key, tuple(left), self.method) if left else None


@dataclass(frozen=True)
class TaskResult:
    """A task's rows (a dict per point) and, if kept, each point's choice per village."""

    task_id: str
    rows: list[dict[str, Any]]
    choices: np.ndarray | None


@dataclass(frozen=True)
class SweepResult:
    """A finished sweep: its table, output folder and timings (s)."""

    table: pd.DataFrame
    directory: Path
    timings_s: dict[str, float] = field(default_factory=dict)


def digest(value: object) -> str:
    """A short stable hash of a JSON-able value (16 hex digits)."""
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def latin_hypercube(ranges: dict[str, tuple[float, float]], samples: int, seed: int) -> np.ndarray:
    """(samples, keys) seeded Latin-hypercube sample: one draw per stratum of each range."""
    rng = np.random.default_rng(seed)
    keys = len(ranges)
    strata = np.argsort(rng.random((keys, samples)), axis=1)  # a random permutation per key
    unit = (strata + rng.random((keys, samples))) / samples
    low, high = np.asarray(list(ranges.values()), dtype=float).T
    return (low[:, None] + unit * (high - low)[:, None]).T


def monte_carlo(spec: MonteCarlo) -> np.ndarray:
    """(samples, keys) seeded independent draws, one column per distribution in spec order."""
    rng = np.random.default_rng(spec.seed)
    n = spec.samples
    columns = []
    for dist in spec.distributions.values():
        if isinstance(dist, Normal):
            values = rng.normal(dist.mean, dist.sd, n)
        elif isinstance(dist, Lognormal):
            values = dist.median * np.exp(dist.sigma * rng.standard_normal(n))
        elif isinstance(dist, Uniform):
            values = rng.uniform(dist.low, dist.high, n)
        else:
            assert isinstance(dist, Triangular)
            values = rng.triangular(dist.low, dist.mode, dist.high, n)
        clip = getattr(dist, "clip", None)
        columns.append(values if clip is None else np.clip(values, *clip))
    return np.column_stack(columns)


def _rows(keys: Iterable[str], matrix: np.ndarray) -> list[dict[str, Any]]:
    names = list(keys)
    return [dict(zip(names, map(float, row), strict=True)) for row in matrix]


def expand(scenario: Scenario) -> list[Point]:
    """Every point of the scenario's sweep, in a fixed order (grid, zip, LHS, MC, budget)."""
    sweep = scenario.sweep
    if sweep is None:
        raise InputError(f"scenario {scenario.name!r} has no 'sweep' section")
    parts: list[list[tuple[dict[str, Any], int]]] = []
    if sweep.grid:
        combos = itertools.product(*sweep.grid.values())
        parts.append([(dict(zip(sweep.grid, combo, strict=True)), -1) for combo in combos])
    if sweep.zip:
        length = len(next(iter(sweep.zip.values())))
        parts.append([({k: v[i] for k, v in sweep.zip.items()}, -1) for i in range(length)])
    if sweep.latin_hypercube:
        lhs = sweep.latin_hypercube
        sample = latin_hypercube(lhs.ranges, lhs.samples, lhs.seed)
        parts.append([(row, -1) for row in _rows(lhs.ranges, sample)])
    if sweep.monte_carlo:
        draws = _rows(sweep.monte_carlo.distributions, monte_carlo(sweep.monte_carlo))
        parts.append([(row, i) for i, row in enumerate(draws)])
    if sweep.budgets:
        key = BUDGET_SHARE if sweep.budgets.relative else BUDGET_USD
        parts.append([({key: float(b)}, -1) for b in sweep.budgets.values()])
    points = []
    for index, combo in enumerate(itertools.product(*parts)):
        params: dict[str, Any] = {}
        for values, _ in combo:
            params.update(values)
        draw = max((d for _, d in combo), default=-1)
        points.append(Point(index=index, params=params, draw=draw))
    ids = [point.point_id for point in points]
    if len(set(ids)) != len(ids):
        raise InputError("sweep: two points have the same parameters (check zip for repeats)")
    return points


def point_scenario(base: dict[str, Any], params: dict[str, Any], where: str) -> Scenario:
    """The scenario of one economic point; an invalid combination names the point."""
    try:
        return Scenario.model_validate(with_values(base, params))
    except (ValueError, TypeError) as error:  # pydantic's ValidationError is a ValueError
        raise InputError(f"{where}: point {params} is not a valid scenario:\n{error}") from None


def fingerprint(scenario: Scenario) -> str:
    """A hash of everything but the sweep and outputs: points of equal id are comparable."""
    base = scenario.model_dump(mode="json", exclude={"sweep", "outputs", "overrides"})
    return digest({"scenario": base, "version": __version__})


def engineering_key(scenario: Scenario) -> str:
    """A hash of what the Reach depends on: region source (files' sizes and times), engineering."""
    source = scenario.region
    stamp: dict[str, Any] = {
        "region": source.model_dump(mode="json"),
        "engineering": scenario.engineering.model_dump(mode="json"),
        "version": __version__,
    }
    if source.path is not None:
        files = [source.path / GPKG_NAME, source.path / DEM_NAME]
        stamp["files"] = [
            [str(p), p.stat().st_size, p.stat().st_mtime_ns] if p.exists() else [str(p)]
            for p in files
        ]
    if source.files is not None:
        stamp["import"] = imported_region_dir(source).name
    return digest(stamp)


def engineering_cache(scenario: Scenario, cache_dir: Path) -> tuple[Path, Engineered, bool]:
    """The scenario's Engineered from ``cache_dir`` or computed and cached (pickle, atomic).

    Returns (cache file, engineered, whether it was a cache hit).
    """
    path = cache_dir / f"engineering-{engineering_key(scenario)}.pkl"
    if path.is_file():
        try:
            return path, pickle.loads(path.read_bytes()), True
        except (pickle.UnpicklingError, EOFError, AttributeError, ImportError):
            log.warning("unreadable engineering cache %s; recomputing", path)
    engineered = engineer(load_region(scenario.region), scenario.engineering)
    with atomic_file(path) as temporary:
        temporary.write_bytes(pickle.dumps(engineered, protocol=pickle.HIGHEST_PROTOCOL))
    return path, engineered, False


_LOADED: dict[str, Engineered] = {}
"""A worker process's engineering, by cache file: loaded once, reused by its tasks."""


def _engineered(source: Path | Engineered) -> Engineered:
    if isinstance(source, Engineered):
        return source
    if str(source) not in _LOADED:
        _LOADED.clear()
        _LOADED[str(source)] = pickle.loads(Path(source).read_bytes())
    return _LOADED[str(source)]


def coverage_rows(
    engineered: Engineered,
    villages_class: np.ndarray,
    speed_mbps: np.ndarray,
    scenario: Scenario,
    choices: np.ndarray,
) -> dict[str, np.ndarray]:
    """Coverage columns for (P, n) choices: population shares by option, class and tier.

    ``share_<option>`` and ``share_tier_<tier>`` (at or above) are shares of the
    whole population; ``share_class_<class>`` of that class's population.
    """
    population = engineered.population
    total = max(float(population.sum()), 1.0)
    served = choices >= 0
    columns = {"population_served_share": served @ population / total}
    for j, name in enumerate(OPTION_COLUMNS):
        columns[f"share_{name}"] = (choices == j) @ population / total
    for name in np.unique(villages_class):
        in_class = villages_class == name
        columns[f"share_class_{name}"] = (
            (served & in_class) @ population / max(float(population[in_class].sum()), 1.0)
        )
    rows = np.arange(choices.shape[1])
    speed = np.where(served, speed_mbps[rows, np.maximum(choices, 0)], 0.0)
    tier = np.where(served, tier_index(speed, scenario.demand), -1)
    for i, t in enumerate(scenario.demand.tiers):
        columns[f"share_tier_{t.name}"] = (tier >= i) @ population / total
    return columns


def _solve_points(
    scenario: Scenario, method: str, problem: Problem, budgets_usd: list[float]
) -> tuple[list[Plan | None], list[str], float]:
    """Plans (None where there is none), statuses and solve seconds for one economic point."""
    optimizer = scenario.optimizer
    max_coverage = scenario.policy.mode == "max_coverage"
    started = time.perf_counter()
    if method == "frontier":
        found = frontier(
            problem, budgets_usd, time_limit_s=optimizer.time_limit_s, mip_gap=optimizer.mip_gap
        )
        return list(found), [p.status for p in found], time.perf_counter() - started
    plans: list[Plan | None] = []
    statuses: list[str] = []
    for budget in budgets_usd:
        try:
            plan = solve(
                problem.at_budget(budget) if max_coverage else problem,
                "milp",
                goal="max_benefit" if max_coverage else "min_cost",
                solver=optimizer.solver,
                time_limit_s=optimizer.time_limit_s,
                mip_gap=optimizer.mip_gap,
            )
            plans.append(plan)
            statuses.append(plan.status)
        except InfeasibleError:
            plans.append(None)
            statuses.append("infeasible")
        except SolverError as error:
            log.warning("point at budget %.6g: %s", budget, error)
            plans.append(None)
            statuses.append("solver_error")
    return plans, statuses, time.perf_counter() - started


def economic_rows(
    engineered: Engineered,
    priced: tuple[Villages, Problems],
    index: int,
    economic: EconomicPoint,
    method: str,
) -> tuple[list[dict[str, Any]], np.ndarray]:
    """Solve all budgets of the economic point at ``index`` of a priced batch; rows and choices.

    Choices (points, n) per village, −1 unserved. A point's ``point_time_s``
    is left at NaN for the task to fill in.
    """
    villages, problems = priced
    scenario, points = economic.scenario, economic.points
    n = len(engineered.population)
    try:
        problem = problems.problem(index)
    except InfeasibleError:  # a target no plan can reach
        rows = [
            {"point_id": p.point_id, "draw": p.draw, **p.params, "status": "infeasible"}
            for p in points
        ]
        return rows, np.full((len(rows), n), -1, np.int64)
    relative = any(BUDGET_SHARE in p.params for p in points)
    # A mechanism whose surpluses pay for everything (gap funding) has a full cost ≤ 0.
    full_cost = max(greedy_full_cost(problem), 0.0) if relative else np.nan
    budgets = [
        p.params[BUDGET_SHARE] * full_cost if relative else p.params.get(BUDGET_USD, problem.budget)
        for p in points
    ]
    plans, statuses, solve_s = _solve_points(scenario, method, problem, budgets)
    choice = np.stack([np.full(n, -1, np.int64) if plan is None else plan.choice for plan in plans])
    speed = problems.economics(index).speed_mbps
    coverage = coverage_rows(engineered, villages.region_class, speed, scenario, choice)
    most = float(np.where(problem.feasible, problem.benefit, 0.0).max(axis=1).sum())
    edge_km = engineered.reach.fibre.edge_length_m / 1_000.0
    rows = []
    for i, (point, plan, status) in enumerate(zip(points, plans, statuses, strict=True)):
        row: dict[str, Any] = {"point_id": point.point_id, "draw": point.draw, **point.params}
        row |= {
            "budget_usd": float(budgets[i]),
            "full_cost_usd": float(full_cost),
            "status": status,
            "public_cost_usd": plan.total_cost if plan else np.nan,
            "objective": plan.objective if plan else np.nan,
            "bound": plan.bound if plan else np.nan,
            "gap": plan.gap if plan else np.nan,
            "benefit_share": plan.benefit / most if plan and most > 0 else np.nan,
            "villages_served": int((choice[i] >= 0).sum()),
            "sites_built": int(plan.sites_built.sum()) if plan else 0,
            "fibre_km": float(edge_km[plan.edges_built].sum()) if plan else 0.0,
        }
        row |= {name: float(values[i]) for name, values in coverage.items()}
        row |= {"solve_time_s": solve_s, "point_time_s": np.nan}
        rows.append(row)
    return rows, choice


def run_task(task: Task, source: Path | Engineered, keep_choices: bool = False) -> TaskResult:
    """Price the task's economic points in batches, solve all their budgets, measure every plan.

    A batch holds at most :func:`~coverageplan.pipeline.points_per_batch`
    economic points (memory); ``point_time_s`` is the task's time per point.
    """
    started = time.perf_counter()
    engineered = _engineered(source)
    batch = points_per_batch(len(engineered.population))
    rows: list[dict[str, Any]] = []
    choices = []
    for first in range(0, len(task.economic), batch):
        economic = task.economic[first : first + batch]
        priced = price_points(engineered, [e.scenario for e in economic])
        for index, point in enumerate(economic):
            found, choice = economic_rows(engineered, priced, index, point, task.method)
            rows += found
            choices.append(choice)
    per_point_s = (time.perf_counter() - started) / len(rows)
    for row in rows:
        if "point_time_s" in row:
            row["point_time_s"] = per_point_s
    kept = np.concatenate(choices).astype(np.int8) if keep_choices else None
    return TaskResult(task.task_id, rows, kept)


def plan_tasks(scenario: Scenario, points: list[Point], workers: int) -> list[Task]:
    """Group points into economic points, and those into tasks priced in one batch each.

    An economic point answers all its budgets (frontier) or one (milp: one
    solve per point). Economic points sharing engineering and pricing
    structure are cut into tasks of at most :data:`MAX_TASK_POINTS`, fewer
    when that leaves under :data:`TASKS_PER_WORKER` tasks per worker, those
    with equal costs and demand side by side (they share their Economics).
    """
    assert scenario.sweep is not None
    base = scenario.model_dump(exclude={"sweep"})
    method = scenario.sweep.method
    groups: dict[str, list[Point]] = {}
    for point in points:
        groups.setdefault(digest(point.economic), []).append(point)
    batches: dict[tuple[str, str], list[EconomicPoint]] = {}
    for members in groups.values():
        economic = members[0].economic
        where = f"sweep point {members[0].index}"
        point_scenario_ = point_scenario(base, economic, where)
        if BUDGET_USD in members[0].params:
            budgets = {p.params[BUDGET_USD] for p in members}
            for budget in budgets:  # each budget is checked like the field itself
                point_scenario(base, {**economic, BUDGET_USD: budget}, where)
        key = (engineering_key(point_scenario_), digest(pricing_structure(point_scenario_)))
        units = [members] if method == "frontier" else [[p] for p in members]
        batches.setdefault(key, []).extend(EconomicPoint(point_scenario_, tuple(u)) for u in units)
    tasks = []
    for (engineering, _), batch in batches.items():
        first_seen: dict[str, int] = {}  # points sharing costs and demand side by side
        batch.sort(key=lambda u: first_seen.setdefault(economics_key(u.scenario), len(first_seen)))
        size = max(1, min(MAX_TASK_POINTS, len(batch) // (TASKS_PER_WORKER * max(workers, 1))))
        for first in range(0, len(batch), size):
            tasks.append(Task(engineering, merged(batch[first : first + size]), method))
    return tasks


def merged(units: list[EconomicPoint]) -> tuple[EconomicPoint, ...]:
    """Consecutive units of one economic point (milp: a point each) joined into one."""
    joined: list[EconomicPoint] = []
    for unit in units:
        if joined and joined[-1].scenario is unit.scenario:
            joined[-1] = EconomicPoint(unit.scenario, joined[-1].points + unit.points)
        else:
            joined.append(unit)
    return tuple(joined)


def sweep_directory(scenario: Scenario) -> Path:
    """Where the sweep writes: ``sweep.directory``, else ``outputs.directory`` + '-sweep'."""
    assert scenario.sweep is not None
    if scenario.sweep.directory is not None:
        return scenario.sweep.directory
    out = scenario.outputs.directory
    return out.with_name(f"{out.name}-sweep")


def _write_json(path: Path, value: dict[str, Any]) -> None:
    with atomic_file(path) as temporary:
        temporary.write_text(json.dumps(value, indent=2, default=str) + "\n", encoding="utf-8")


def write_part(parts: Path, result: TaskResult) -> None:
    """A finished task's rows (and choices) as part files, each written atomically."""
    if result.choices is not None:  # choices first: a part's rows promise its choices exist
        with atomic_file(parts / f"{result.task_id}.npz") as temporary:
            ids = np.asarray([row["point_id"] for row in result.rows])
            np.savez(temporary, point_id=ids, choice=result.choices)
    write_parquet(parts / f"{result.task_id}.parquet", pd.DataFrame(result.rows))


def finished_rows(directory: Path) -> pd.DataFrame:
    """Rows already written: the compacted table and every part file (deduplicated by id)."""
    frames = [pd.read_parquet(directory / TABLE_NAME)] if (directory / TABLE_NAME).is_file() else []
    frames += [pd.read_parquet(p) for p in sorted((directory / PARTS_DIR).glob("*.parquet"))]
    if not frames:
        return pd.DataFrame({"point_id": pd.Series(dtype=str)})
    rows = pd.concat(frames, ignore_index=True).drop_duplicates("point_id")
    return rows.drop(columns="point", errors="ignore")  # positions are this sweep's to give


def finished_choices(directory: Path) -> dict[str, np.ndarray]:
    """Village choices already written, by point id."""
    files = [directory / CHOICES_NAME] if (directory / CHOICES_NAME).is_file() else []
    files += sorted((directory / PARTS_DIR).glob("*.npz"))
    found: dict[str, np.ndarray] = {}
    for path in files:
        with np.load(path) as data:
            found.update(zip(data["point_id"].tolist(), data["choice"], strict=True))
    return found


def execute(
    tasks: list[Task],
    sources: dict[str, Path],
    engineered: dict[str, Engineered],
    *,
    workers: int,
    scheduler: str | None,
    keep_choices: bool,
) -> Iterator[TaskResult]:
    """Run tasks on a Dask cluster (``scheduler``), in ``workers`` processes, or in this one.

    Yields each task's result as it finishes (in completion order).
    """
    if scheduler is not None:
        from distributed import Client, as_completed

        with Client(scheduler) as client:
            shared = {
                key: client.scatter(value, broadcast=True) for key, value in engineered.items()
            }
            futures = [
                client.submit(
                    run_task,
                    task,
                    shared[task.engineering_key],
                    keep_choices,
                    key=f"sweep-{task.task_id}",
                    pure=False,
                )
                for task in tasks
            ]
            for future in as_completed(futures):
                yield future.result()
        return
    if workers <= 1 or len(tasks) <= 1:
        for task in tasks:
            yield run_task(task, engineered[task.engineering_key], keep_choices)
        return
    with concurrent.futures.ProcessPoolExecutor(
        min(workers, len(tasks)), mp_context=clean_process_context()
    ) as pool:
        pending = [
            pool.submit(run_task, task, sources[task.engineering_key], keep_choices)
            for task in tasks
        ]
        for future in concurrent.futures.as_completed(pending):
            yield future.result()


def run_sweep(
    scenario: Scenario,
    *,
    directory: Path | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    resume: bool = False,
    progress: bool = True,
) -> SweepResult:
    """Run the scenario's sweep; write ``sweep.parquet``, ``sweep.json`` and charts.

    ``workers`` local processes (default: the CPU count) unless ``scheduler``
    names a Dask scheduler. Without ``resume`` an existing folder's part files
    are discarded; with it, finished points are kept and skipped.
    """
    started = time.perf_counter()
    timings: dict[str, float] = {}
    sweep = scenario.sweep
    if sweep is None:
        raise InputError(f"scenario {scenario.name!r} has no 'sweep' section to run")
    directory = Path(directory or sweep_directory(scenario))
    parts = directory / PARTS_DIR
    points = expand(scenario)
    workers = workers or os.cpu_count() or 1
    tasks = plan_tasks(scenario, points, workers)
    stamp = fingerprint(scenario)
    manifest_path = directory / MANIFEST_NAME
    if resume and manifest_path.is_file():
        previous = json.loads(manifest_path.read_text(encoding="utf-8"))
        if previous.get("fingerprint") != stamp:
            raise InputError(
                f"{directory}: holds a sweep of another scenario (fingerprint "
                f"{previous.get('fingerprint')}, this one {stamp}); drop --resume or pick "
                "another --output"
            )
    elif not resume:
        shutil.rmtree(parts, ignore_errors=True)
        for name in (TABLE_NAME, CHOICES_NAME):
            (directory / name).unlink(missing_ok=True)
    parts.mkdir(parents=True, exist_ok=True)
    _write_json(manifest_path, {"fingerprint": stamp, "scenario": scenario.name, "done": False})

    keep_choices = sweep.monte_carlo is not None
    done = set(finished_rows(directory)["point_id"]) if resume else set()
    if keep_choices:
        done &= set(finished_choices(directory))
    todo = [left for task in tasks if (left := task.without(done)) is not None]

    engineering_started = time.perf_counter()
    sources: dict[str, Path] = {}
    engineered: dict[str, Engineered] = {}
    for task in todo:
        if task.engineering_key not in sources:
            path, value, hit = engineering_cache(task.scenario, sweep.cache_dir)
            sources[task.engineering_key], engineered[task.engineering_key] = path, value
            log.info("engineering %s: %s", task.engineering_key, "cached" if hit else "computed")
    timings["engineering"] = time.perf_counter() - engineering_started

    solve_started = time.perf_counter()
    bar = tqdm(
        total=len(points),
        initial=len(points) - sum(len(t.points) for t in todo),
        unit="point",
        desc=f"sweep {scenario.name}",
        disable=not progress,
        smoothing=0.1,
    )
    with bar:
        results = execute(
            todo,
            sources,
            engineered,
            workers=workers,
            scheduler=scheduler,
            keep_choices=keep_choices,
        )
        for result in results:
            write_part(parts, result)
            bar.update(len(result.rows))
    timings["points"] = time.perf_counter() - solve_started

    table = compact(directory, points, keep_choices)
    charts_started = time.perf_counter()
    stability = None
    if keep_choices:  # the villages' positions and ids, and every draw's choices
        first = engineered.get(tasks[0].engineering_key)
        if first is None:
            first = engineering_cache(tasks[0].scenario, sweep.cache_dir)[1]
        stability = (first, finished_choices(directory))
    charts = draw_charts(scenario, table, directory, stability)
    timings["charts"] = time.perf_counter() - charts_started
    timings["total"] = time.perf_counter() - started
    record = manifest(scenario, stamp, table, timings)
    _write_json(manifest_path, {**record, "outputs": [TABLE_NAME, *(p.name for p in charts)]})
    return SweepResult(table=table, directory=directory, timings_s=timings)


def compact(directory: Path, points: list[Point], keep_choices: bool) -> pd.DataFrame:
    """Merge the part files into ``sweep.parquet`` (and ``choices.npz``), in point order.

    Only this sweep's points are kept; the parts are removed once the table is written.
    """
    rows = finished_rows(directory)
    order = {point.point_id: point.index for point in points}
    rows = rows[rows["point_id"].isin(order)].copy()
    rows.insert(0, "point", rows["point_id"].map(order).astype(np.int64))
    table = rows.sort_values("point", kind="stable").reset_index(drop=True)
    if keep_choices:
        found = finished_choices(directory)
        ids = table["point_id"].tolist()
        with atomic_file(directory / CHOICES_NAME) as temporary:
            np.savez(temporary, point_id=np.asarray(ids), choice=np.stack([found[i] for i in ids]))
    write_parquet(directory / TABLE_NAME, table)
    shutil.rmtree(directory / PARTS_DIR, ignore_errors=True)
    return table


def manifest(
    scenario: Scenario, stamp: str, table: pd.DataFrame, timings_s: dict[str, float]
) -> dict[str, Any]:
    """What ``sweep.json`` records: counts, statuses, gaps and timings."""
    gap = table["gap"].replace(np.inf, np.nan) if "gap" in table else pd.Series(dtype=float)
    return {
        "fingerprint": stamp,
        "scenario": scenario.name,
        "done": True,
        "points": len(table),
        "statuses": table["status"].value_counts().to_dict(),
        "gap_max": None if gap.dropna().empty else float(gap.max()),
        "gap_median": None if gap.dropna().empty else float(gap.median()),
        "timings_s": {k: round(v, 3) for k, v in timings_s.items()},
        "seconds_per_point": round(timings_s["total"] / max(len(table), 1), 4),
    }
