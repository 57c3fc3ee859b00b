"""A readable reference model: the MILP written element by element with PuLP.

This is the model as most planning tools build it, one PuLP variable and one
constraint at a time straight from the :class:`Problem`, with no
pre-reduction or scaling. It exists to check the array-built formulation
(tests compare the optima on small instances) and as the baseline that
``benchmarks/optimizer_scale.py`` times against; it is not meant for large
regions (Python loops over villages and pairs by design).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np

from coverageplan.optimize.milp import pulp_solver
from coverageplan.optimize.problem import CELLULAR, CONSOLIDATE, FIBRE, SATELLITE, Problem


@dataclass(frozen=True)
class ReferenceResult:
    """The reference model's answer: objective (problem units), status and seconds."""

    objective: float
    status: str
    build_time_s: float
    solve_time_s: float
    choice: np.ndarray


def reference_model(problem: Problem, goal: str = "max_benefit") -> tuple[object, dict]:
    """The PuLP problem and its village-option variables ``{(village, option): LpVariable}``."""
    import pulp

    n, k, m = problem.n_villages, problem.n_options, problem.n_sites
    sense = pulp.LpMaximize if goal == "max_benefit" else pulp.LpMinimize
    model = pulp.LpProblem("coverageplan_reference", sense)
    x = {
        (i, j): model.add_variable(f"x_{i}_{j}", 0, 1, cat=pulp.LpBinary)
        for i in range(n)
        for j in range(k)
        if problem.feasible[i, j]
    }
    y = {s: model.add_variable(f"y_{s}", 0, 1, cat=pulp.LpBinary) for s in range(m)}
    g = {i: model.add_variable(f"g_{i}", 0, 1, cat=pulp.LpBinary) for i in range(n)}
    spend = (
        pulp.lpSum(problem.cost[i, j] * var for (i, j), var in x.items())
        + pulp.lpSum(problem.site_cost[s] * y[s] for s in range(m))
        + pulp.lpSum(problem.edge_cost[i] * g[i] for i in range(n))
    )
    if goal == "max_benefit":
        model += pulp.lpSum(problem.benefit[i, j] * var for (i, j), var in x.items())
        if np.isfinite(problem.budget):
            model += spend <= problem.budget, "budget"
    else:
        model += spend
    for i in range(n):
        model += pulp.lpSum(x[i, j] for j in range(k) if (i, j) in x) <= 1, f"one_option_{i}"
    cover = problem.cover.tocsr()
    if problem.has_site_capacity:
        # Each village relying on a new site is served by one built site covering it,
        # and the demand a site serves fits its capacity.
        z = {}
        for i in range(n):
            if (i, CELLULAR) in x and not problem.existing_cover[i]:
                sites = cover.indices[cover.indptr[i] : cover.indptr[i + 1]]
                for s in sites:
                    z[i, s] = model.add_variable(f"z_{i}_{s}", 0, 1, cat=pulp.LpBinary)
                    model += z[i, s] <= y[s], f"assigned_site_built_{i}_{s}"
                model += x[i, CELLULAR] == pulp.lpSum(z[i, s] for s in sites), f"assign_{i}"
        for s in range(m):
            load = pulp.lpSum(problem.cell_demand[i] * var for (i, t), var in z.items() if t == s)
            model += load <= problem.site_capacity[s] * y[s], f"site_capacity_{s}"
    elif problem.has_cellular:
        for i in range(n):
            if (i, CELLULAR) in x and not problem.existing_cover[i]:
                sites = cover.indices[cover.indptr[i] : cover.indptr[i + 1]]
                model += x[i, CELLULAR] <= pulp.lpSum(y[s] for s in sites), f"site_{i}"
    if problem.has_fibre_tree:
        for i in range(n):
            if (i, FIBRE) in x:
                model += x[i, FIBRE] <= g[i], f"trench_{i}"
            if problem.parent[i] >= 0:
                model += g[i] <= g[problem.parent[i]], f"parent_trench_{i}"
    else:
        for i in range(n):
            model += g[i] == 0, f"no_trench_{i}"
    if problem.has_beams:
        for b in range(len(problem.beam_capacity)):
            load = pulp.lpSum(
                problem.sat_demand[i] * x[i, SATELLITE]
                for i in range(n)
                if problem.beam[i] == b and (i, SATELLITE) in x
            )
            model += load <= problem.beam_capacity[b], f"beam_{b}"
    if problem.has_hosts:
        for i in range(n):
            if (i, CONSOLIDATE) in x:
                host = problem.host[i]
                served = [x[host, j] for j in (FIBRE, CELLULAR, SATELLITE) if (host, j) in x]
                if host < 0:
                    model += x[i, CONSOLIDATE] == 0, f"no_host_{i}"
                else:
                    model += x[i, CONSOLIDATE] <= pulp.lpSum(served), f"host_{i}"
    for t, name in enumerate(problem.target_names):
        reached = pulp.lpSum(problem.target_weight[t, i, j] * var for (i, j), var in x.items())
        model += reached >= problem.target_required[t], f"target_{t}_{name}"
    return model, x


def solve_reference(
    problem: Problem,
    goal: str = "max_benefit",
    *,
    solver: str = "cbc",
    time_limit_s: float = 600.0,
    mip_gap: float = 1e-4,
) -> ReferenceResult:
    """Build the reference model and solve it; status from PuLP's *solution* status."""
    import pulp

    started = time.perf_counter()
    model, x = reference_model(problem, goal)
    build_time_s = time.perf_counter() - started
    backend = pulp_solver(solver, time_limit_s=time_limit_s, mip_gap=mip_gap)
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        model.solve(backend)  # type: ignore[attr-defined]
    solve_time_s = time.perf_counter() - started
    status = {
        pulp.LpSolutionOptimal: "optimal",
        pulp.LpSolutionIntegerFeasible: "time_limit",
        pulp.LpSolutionInfeasible: "infeasible",
    }.get(model.sol_status, "no_solution")  # type: ignore[attr-defined]
    choice = np.full(problem.n_villages, -1, dtype=np.int64)
    objective = -np.inf if goal == "max_benefit" else np.inf
    if status in ("optimal", "time_limit"):
        for (i, j), var in x.items():
            if (var.value() or 0.0) > 0.5:
                choice[i] = j
        objective = float(pulp.value(model.objective) or 0.0)  # type: ignore[attr-defined]
    return ReferenceResult(objective, status, build_time_s, solve_time_s, choice)
