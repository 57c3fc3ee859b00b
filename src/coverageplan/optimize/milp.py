"""The MILP, assembled once as sparse matrices from the Problem's arrays.

Variables (all binary): ``x_ij`` village i takes option j (only where feasible
and useful), ``y_s`` site s is built, ``g_i`` the trench from village i to its
parent is laid, and with site capacity ``z_is`` village i is served by site s
(one per nonzero of ``cover`` whose demand fits the site).

Units: money in the Problem's currency, benefit in its units (e.g. people)::

    maximise    Σ_ij benefit_ij x_ij
    subject to  Σ_j x_ij ≤ 1                              each village, one option
                x_i,cell − Σ_s cover_is y_s ≤ 0           unless existing_cover_i
                x_i,fibre − g_i ≤ 0                        fibre needs its trench ...
                g_i − g_parent(i) ≤ 0                      ... and the path to the network
                Σ cost_ij x_ij + Σ site_cost_s y_s
                    + Σ edge_cost_i g_i ≤ budget           public money
                Σ_{i in beam b} sat_demand_i x_i,sat ≤ beam_capacity_b
                x, y, g ∈ {0, 1}

With site capacity the site row becomes an assignment (villages with
``existing_cover`` need none; capacity rows are divided by one power of ten)::

                x_i,cell − Σ_s z_is = 0                    unless existing_cover_i
                z_is − y_s ≤ 0
                Σ_i cell_demand_i z_is − site_capacity_s y_s ≤ 0
                z ∈ {0, 1}

Money is divided by a power of ten near the typical cost before solving (and
benefit likewise), so the solver sees coefficients of order one. The solver's
tolerances could let a rounded plan overspend by a hair; :func:`solve` checks
the rounded plan's exact cost and, if it is over, solves again with the budget
row tightened by the excess (:func:`with_budget_margin`).

Backends take the same :class:`Formulation`: HiGHS through highspy (default),
or PuLP (CBC, or any solver PuLP reaches).
"""

from __future__ import annotations

import threading
import time
import warnings
from dataclasses import dataclass, replace

import numpy as np
from scipy import sparse

from coverageplan.optimize.problem import CELLULAR, CONSOLIDATE, FIBRE, SATELLITE, Problem
from coverageplan.processes import CHILD_GRACE_S, call_with_deadline

FEASIBILITY_TOLERANCE = 1e-7
PRESOLVE_LIGHT = 2  # HiGHS's presolve_mode for its light presolve


def power_of_ten_scale(values: np.ndarray) -> float:
    """A power of ten near the median positive value (1 when there is none)."""
    positive = values[values > 0]
    if positive.size == 0:
        return 1.0
    return float(10.0 ** np.round(np.log10(np.median(positive))))


def free_standing(problem: Problem) -> np.ndarray:
    """(n, k) bool: option j of village i needs nothing shared (no site, trench, beam or host)."""
    free = np.ones(problem.cost.shape, dtype=bool)
    if problem.has_fibre_tree:
        free[:, FIBRE] = False
    if problem.has_cellular:
        free[:, CELLULAR] = problem.existing_cover
    if problem.has_beams:
        free[:, SATELLITE] = False
    if problem.has_hosts:
        free[:, CONSOLIDATE] = False
    return free


def dominated(problem: Problem, usable: np.ndarray) -> np.ndarray:
    """(n, k) bool: options another usable, free-standing option of the village dominates.

    Option j' dominates j when it costs no more, brings no less benefit and
    counts no less towards every target, and needs nothing shared; any plan
    using j is then no worse with j' instead, so dropping j is exact. Of two
    equal free-standing options the lower index stays. The loop is over
    option pairs (k ≤ 4), not villages.
    """
    free = free_standing(problem) & usable
    out = np.zeros_like(usable)
    k = problem.cost.shape[1]
    for j in range(k):
        for better in range(k):
            if better == j:
                continue
            at_least = (
                free[:, better]
                & (problem.cost[:, better] <= problem.cost[:, j])
                & (problem.benefit[:, better] >= problem.benefit[:, j])
            )
            strictly = (problem.cost[:, better] < problem.cost[:, j]) | (
                problem.benefit[:, better] > problem.benefit[:, j]
            )
            if len(problem.target_names):
                weights = problem.target_weight
                at_least &= (weights[:, :, better] >= weights[:, :, j]).all(axis=0)
                strictly |= (weights[:, :, better] > weights[:, :, j]).any(axis=0)
            out[:, j] |= at_least & (strictly | (better < j) | ~free[:, j])
    return out & usable


@dataclass(frozen=True)
class Formulation:
    """``max c·v`` s.t. ``row_lower ≤ A v ≤ row_upper``, ``v`` binary; v = [x, y, g, z].

    ``x_village``/``x_option`` give the (village, option) of each x column,
    ``z_village``/``z_site`` the (village, site) of each z column;
    ``n_x``, ``n_y``, ``n_g``, ``n_z`` the block sizes. ``objective`` and ``a_matrix``
    are in scaled units (``money_scale``, ``benefit_scale``).
    """

    objective: np.ndarray
    a_matrix: sparse.csc_matrix
    row_lower: np.ndarray
    row_upper: np.ndarray
    x_village: np.ndarray
    x_option: np.ndarray
    budget_row: int
    n_x: int
    n_y: int
    n_g: int
    money_scale: float
    benefit_scale: float
    goal: str
    z_village: np.ndarray
    z_site: np.ndarray
    money: np.ndarray  # (columns,) money each column spends, scaled (the budget row's terms)

    @property
    def n_z(self) -> int:
        """Number of assignment columns (0 without site capacity)."""
        return len(self.z_village)


def problem_scales(problem: Problem) -> tuple[float, float]:
    """(money_scale, benefit_scale): powers of ten near the typical money and benefit."""
    money_scale = power_of_ten_scale(
        np.abs(np.concatenate([problem.cost.ravel(), problem.site_cost, problem.edge_cost]))
    )
    return money_scale, power_of_ten_scale(problem.benefit.ravel())


def build_formulation(
    problem: Problem, goal: str = "max_benefit", scales: tuple[float, float] | None = None
) -> Formulation:
    """Assemble the MILP as arrays; no Python loop over villages, sites or pairs.

    ``goal`` is ``"max_benefit"`` (within the budget) or ``"min_cost"``
    (meeting the targets). The objective vector is always maximised.
    ``scales`` (money, benefit) overrides :func:`problem_scales`, so parts of
    one problem share units.
    """
    n = problem.n_villages
    money_scale, benefit_scale = scales or problem_scales(problem)

    counts = problem.target_weight.any(axis=0) if len(problem.target_names) else False
    # An option is worth a variable if it brings benefit, money, target weight, or
    # serves a village others may consolidate into.
    is_host = np.zeros(n, dtype=bool)
    is_host[problem.host[problem.host >= 0]] = True
    useful = (problem.benefit > 0) | (problem.cost < 0) | counts | is_host[:, None]
    usable = problem.feasible & useful
    if problem.has_hosts:
        usable[:, CONSOLIDATE] &= problem.host >= 0
    pairs = problem.cover.tocoo()
    if problem.has_site_capacity:  # a pair whose demand exceeds the site's capacity is no use
        fits = problem.cell_demand[pairs.row] <= problem.site_capacity[pairs.col]
        pairs = sparse.coo_matrix(
            (pairs.data[fits], (pairs.row[fits], pairs.col[fits])), shape=pairs.shape
        )
    if problem.has_cellular:
        reachable = problem.existing_cover | (np.bincount(pairs.row, minlength=n) > 0)
        usable[:, CELLULAR] &= reachable
    if problem.has_beams:
        usable[:, SATELLITE] &= problem.sat_demand <= problem.beam_capacity[problem.beam]
    usable &= ~dominated(problem, usable)
    x_village, x_option = np.nonzero(usable)
    n_x = len(x_village)
    n_y = problem.n_sites if problem.has_cellular else 0
    n_g = n if problem.has_fibre_tree else 0
    y0, g0 = n_x, n_x + n_y
    x_index = np.full(problem.cost.shape, -1, dtype=np.int64)
    x_index[x_village, x_option] = np.arange(n_x)

    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    lower: list[np.ndarray] = []
    upper: list[np.ndarray] = []
    row_count = 0

    def add_rows(
        row: np.ndarray,
        col: np.ndarray,
        val: np.ndarray,
        count: int,
        lo: np.ndarray,
        up: np.ndarray,
    ) -> None:
        nonlocal row_count
        rows.append(row + row_count)
        cols.append(col)
        vals.append(val)
        lower.append(lo)
        upper.append(up)
        row_count += count

    # One option per village: only villages with two or more candidate options need a row.
    per_village = np.bincount(x_village, minlength=n)
    multi = per_village >= 2
    row_of_village = np.cumsum(multi) - 1
    keep = multi[x_village]
    n_multi = int(multi.sum())
    add_rows(
        row_of_village[x_village[keep]],
        np.flatnonzero(keep),
        np.ones(int(keep.sum())),
        n_multi,
        np.full(n_multi, -np.inf),
        np.ones(n_multi),
    )

    z_village = np.zeros(0, dtype=np.int64)
    z_site = np.zeros(0, dtype=np.int64)
    # Cellular needs a built site covering the village (unless already covered) ...
    if problem.has_site_capacity:  # ... and, with capacity, one assigned to it
        needs_site = (x_index[:, CELLULAR] >= 0) & ~problem.existing_cover
        keep = needs_site[pairs.row]
        z_village, z_site = pairs.row[keep].astype(np.int64), pairs.col[keep].astype(np.int64)
        order = np.lexsort((z_site, z_village))
        z_village, z_site = z_village[order], z_site[order]
        n_z, z0 = len(z_village), n_x + n_y + n_g
        relying = np.flatnonzero(needs_site)
        row_of = np.full(n, -1)
        row_of[relying] = np.arange(len(relying))
        count = len(relying)
        add_rows(
            np.concatenate([np.arange(count), row_of[z_village]]),
            np.concatenate([x_index[relying, CELLULAR], z0 + np.arange(n_z)]),
            np.concatenate([np.ones(count), -np.ones(n_z)]),
            count,
            np.zeros(count),
            np.zeros(count),
        )
        add_rows(
            np.tile(np.arange(n_z), 2),
            np.concatenate([z0 + np.arange(n_z), y0 + z_site]),
            np.concatenate([np.ones(n_z), -np.ones(n_z)]),
            n_z,
            np.full(n_z, -np.inf),
            np.zeros(n_z),
        )
        sites, site_row = np.unique(z_site, return_inverse=True)
        scale = power_of_ten_scale(problem.site_capacity[sites])
        add_rows(
            np.concatenate([site_row.ravel(), np.arange(len(sites))]),
            np.concatenate([z0 + np.arange(n_z), y0 + sites]),
            np.concatenate([problem.cell_demand[z_village], -problem.site_capacity[sites]]) / scale,
            len(sites),
            np.full(len(sites), -np.inf),
            np.zeros(len(sites)),
        )
    elif problem.has_cellular:
        needs_site = np.flatnonzero((x_index[:, CELLULAR] >= 0) & ~problem.existing_cover)
        count = len(needs_site)
        covering = problem.cover[needs_site].tocoo()
        add_rows(
            np.concatenate([np.arange(count), covering.row]),
            np.concatenate([x_index[needs_site, CELLULAR], y0 + covering.col]),
            np.concatenate([np.ones(count), -np.ones(covering.nnz)]),
            count,
            np.full(count, -np.inf),
            np.zeros(count),
        )

    # Fibre needs its trench, and a trench needs its parent's.
    if problem.has_fibre_tree:
        fibre = np.flatnonzero(x_index[:, FIBRE] >= 0)
        count = len(fibre)
        add_rows(
            np.tile(np.arange(count), 2),
            np.concatenate([x_index[fibre, FIBRE], g0 + fibre]),
            np.concatenate([np.ones(count), -np.ones(count)]),
            count,
            np.full(count, -np.inf),
            np.zeros(count),
        )
        child = np.flatnonzero(problem.parent >= 0)
        count = len(child)
        add_rows(
            np.tile(np.arange(count), 2),
            np.concatenate([g0 + child, g0 + problem.parent[child]]),
            np.concatenate([np.ones(count), -np.ones(count)]),
            count,
            np.full(count, -np.inf),
            np.zeros(count),
        )

    # Satellite capacity per beam.
    if problem.has_beams:
        on_sat = np.flatnonzero(x_index[:, SATELLITE] >= 0)
        beams, beam_row = np.unique(problem.beam[on_sat], return_inverse=True)
        add_rows(
            beam_row.ravel(),
            x_index[on_sat, SATELLITE],
            problem.sat_demand[on_sat],
            len(beams),
            np.full(len(beams), -np.inf),
            problem.beam_capacity[beams],
        )

    # Consolidation needs its host served by a real option.
    if problem.has_hosts:
        moved = np.flatnonzero(x_index[:, CONSOLIDATE] >= 0)
        host_x = x_index[problem.host[moved], :CONSOLIDATE]
        row, option = np.nonzero(host_x >= 0)
        count = len(moved)
        add_rows(
            np.concatenate([np.arange(count), row]),
            np.concatenate([x_index[moved, CONSOLIDATE], host_x[row, option]]),
            np.concatenate([np.ones(count), -np.ones(len(row))]),
            count,
            np.full(count, -np.inf),
            np.zeros(count),
        )

    # Coverage targets: Σ weight x ≥ required, each row scaled to order one.
    for weight, required in zip(problem.target_weight, problem.target_required, strict=True):
        coefficient = weight[x_village, x_option]
        scale = power_of_ten_scale(np.abs(coefficient))
        nonzero = np.flatnonzero(coefficient)
        add_rows(
            np.zeros(len(nonzero), dtype=np.int64),
            nonzero,
            coefficient[nonzero] / scale,
            1,
            np.array([required / scale]),
            np.array([np.inf]),
        )

    # Budget: everything that costs money, in scaled units.
    money = (
        np.concatenate(
            [
                problem.cost[x_village, x_option],
                problem.site_cost[:n_y],
                problem.edge_cost[:n_g],
                np.zeros(len(z_village)),
            ]
        )
        / money_scale
    )
    spend = np.flatnonzero(money)
    budget_row = -1
    if np.isfinite(problem.budget):
        budget_row = row_count
        add_rows(
            np.zeros(len(spend), dtype=np.int64),
            spend,
            money[spend],
            1,
            np.array([-np.inf]),
            np.array([problem.budget / money_scale]),
        )

    n_vars = n_x + n_y + n_g + len(z_village)
    a_matrix = sparse.csc_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(row_count, n_vars),
    )
    benefit = np.zeros(n_vars)
    benefit[:n_x] = problem.benefit[x_village, x_option] / benefit_scale
    # No tie-break on cost in max_benefit: HiGHS was seen to return wrong
    # "optimal" answers with objective coefficients of order 1e-8.
    if goal == "min_cost":
        objective = -money
    elif goal == "max_benefit":
        objective = benefit
    else:
        raise ValueError(f"unknown goal {goal!r}; expected 'max_benefit' or 'min_cost'")
    return Formulation(
        objective=objective,
        a_matrix=a_matrix,
        row_lower=np.concatenate(lower),
        row_upper=np.concatenate(upper),
        x_village=x_village,
        x_option=x_option,
        budget_row=budget_row,
        n_x=n_x,
        n_y=n_y,
        n_g=n_g,
        money_scale=money_scale,
        benefit_scale=benefit_scale,
        goal=goal,
        z_village=z_village,
        z_site=z_site,
        money=money,
    )


def with_budget(formulation: Formulation, budget: float) -> Formulation:
    """The same formulation with the budget row's limit set to ``budget`` (money units)."""
    if formulation.budget_row < 0:
        return formulation
    row_upper = formulation.row_upper.copy()
    row_upper[formulation.budget_row] = max(0.0, budget / formulation.money_scale)
    return replace(formulation, row_upper=row_upper)


def with_budget_margin(formulation: Formulation, margin: float) -> Formulation:
    """The same formulation with the budget row's limit lowered by ``margin`` (money units)."""
    if formulation.budget_row < 0 or margin == 0:
        return formulation
    budget = formulation.row_upper[formulation.budget_row] * formulation.money_scale
    return with_budget(formulation, budget - margin)


@dataclass(frozen=True)
class SolverResult:
    """What a backend returns: values of v (None without a solution), bound, status, time."""

    values: np.ndarray | None
    bound: float
    status: str
    solver: str
    solve_time_s: float


def _highs_status(highs: object, has_solution: bool) -> str:
    import highspy

    status_by_model = {
        highspy.HighsModelStatus.kOptimal: "optimal",
        highspy.HighsModelStatus.kTimeLimit: "time_limit",
        highspy.HighsModelStatus.kInterrupt: "time_limit",
        highspy.HighsModelStatus.kInfeasible: "infeasible",
    }
    status = status_by_model.get(
        highs.getModelStatus(),  # type: ignore[attr-defined]
        "feasible" if has_solution else "no_solution",
    )
    if status in ("time_limit", "feasible") and not has_solution:
        status = "no_solution"
    return status


def highs_model(formulation: Formulation, *, integer: bool, offset: float = 0.0) -> object:
    """A silent ``highspy.Highs`` holding the formulation (HiGHS minimises: costs negated).

    ``offset`` is a constant added to the objective (scaled): HiGHS measures
    its relative gap on the objective with it.
    """
    import highspy

    n_vars = formulation.objective.size
    highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    highs.setOptionValue("primal_feasibility_tolerance", FEASIBILITY_TOLERANCE)
    lp = highspy.HighsLp()
    lp.num_col_ = n_vars
    lp.num_row_ = formulation.a_matrix.shape[0]
    lp.col_cost_ = -formulation.objective
    lp.offset_ = -float(offset)
    lp.col_lower_ = np.zeros(n_vars)
    lp.col_upper_ = np.ones(n_vars)
    lp.row_lower_ = formulation.row_lower
    lp.row_upper_ = formulation.row_upper
    matrix = formulation.a_matrix
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = matrix.indptr.astype(np.int32)
    lp.a_matrix_.index_ = matrix.indices.astype(np.int32)
    lp.a_matrix_.value_ = matrix.data.astype(np.float64)
    if integer:
        lp.integrality_ = [highspy.HighsVarType.kInteger] * n_vars
    highs.passModel(lp)
    return highs


def run_with_watchdog(highs: object, time_limit_s: float) -> float:
    """Run HiGHS under its time limit; a watchdog cancels it on an overrun. Returns seconds.

    HiGHS checks its limit only between phases (a 30 s limit was seen to
    stop at 78 s), so a thread calls ``cancelSolve`` half a second after it.
    """
    # HiGHS's clock runs over the instance's life, not per run: the limit is set past it.
    already = float(highs.getRunTime())  # type: ignore[attr-defined]
    highs.setOptionValue("time_limit", already + float(time_limit_s))  # type: ignore[attr-defined]
    watchdog = threading.Timer(time_limit_s + 0.5, highs.cancelSolve)  # type: ignore[attr-defined]
    started = time.perf_counter()
    watchdog.start()
    try:
        highs.run()  # type: ignore[attr-defined]
    finally:
        watchdog.cancel()
    return time.perf_counter() - started


def solve_highs_in_child(
    formulation: Formulation, *, time_limit_s: float, mip_gap: float, restart: bool = True
) -> SolverResult:
    """:func:`solve_highs` in a child process, killed ``CHILD_GRACE_S`` past the limit.

    A killed run returns no plan and an infinite bound, status "time_limit":
    the caller keeps its own incumbent and bound.
    """
    started = time.perf_counter()
    result = call_with_deadline(
        time_limit_s + CHILD_GRACE_S,
        solve_highs,
        formulation,
        time_limit_s=time_limit_s,
        mip_gap=mip_gap,
        restart=restart,
    )
    if result is None:
        return SolverResult(None, np.inf, "time_limit", "highs", time.perf_counter() - started)
    return result


def solve_highs(
    formulation: Formulation,
    *,
    time_limit_s: float,
    mip_gap: float,
    integer: bool = True,
    offset: float = 0.0,
    absolute_gap: float = 0.0,
    target: float = np.inf,
    light_presolve: bool = False,
    restart: bool = True,
) -> SolverResult:
    """Solve with HiGHS through highspy; status from HiGHS's own model status.

    ``integer=False`` solves the LP relaxation (its optimum is then the bound).
    ``offset`` (scaled) is added to the objective, and so to the bound, and
    ``mip_gap`` is relative to the objective with it: a restricted MILP
    passes its fixed columns' value, so its gap is one on the whole plan.
    ``absolute_gap`` (scaled objective units, > 0) also stops it once the
    plan is that close to the bound. A finite ``target`` (scaled, offset
    included) stops it at the first plan worth that much.
    ``light_presolve`` runs HiGHS's light presolve instead of its full one;
    ``restart=False`` keeps HiGHS from restarting its MIP after the root.
    No MIP start is passed: HiGHS 1.16 was seen to value a start wrongly in
    its presolved space (a constant offset lost) and then report "optimal"
    with a wrong objective.
    """
    n_vars = formulation.objective.size
    if n_vars == 0:
        return SolverResult(np.zeros(0), 0.0, "optimal", "highs", 0.0)
    highs = highs_model(formulation, integer=integer, offset=offset)
    highs.setOptionValue("mip_rel_gap", float(mip_gap))  # type: ignore[attr-defined]
    if absolute_gap > 0:
        highs.setOptionValue("mip_abs_gap", float(absolute_gap))  # type: ignore[attr-defined]
    if not restart:
        highs.setOptionValue("mip_allow_restart", False)  # type: ignore[attr-defined]
    if light_presolve:
        highs.setOptionValue("presolve_mode", PRESOLVE_LIGHT)  # type: ignore[attr-defined]
    if integer and np.isfinite(target):  # HiGHS minimises −objective: a target from above
        highs.setOptionValue("objective_target", -float(target))  # type: ignore[attr-defined]
    elapsed = run_with_watchdog(highs, time_limit_s)
    info = highs.getInfo()  # type: ignore[attr-defined]
    has_solution = info.primal_solution_status == 2  # kSolutionStatusFeasible
    status = _highs_status(highs, has_solution)
    values = np.asarray(highs.getSolution().col_value) if has_solution else None  # type: ignore[attr-defined]
    if status == "infeasible":
        bound = -np.inf
    elif not integer:
        bound = -float(info.objective_function_value) if status == "optimal" else np.inf
    else:
        bound = -float(info.mip_dual_bound)
    return SolverResult(values, bound, status, "highs", elapsed)


def without_budget(formulation: Formulation) -> Formulation:
    """The same formulation with the budget row taken out (its terms stay in ``money``)."""
    if formulation.budget_row < 0:
        return formulation
    keep = np.arange(formulation.a_matrix.shape[0]) != formulation.budget_row
    return replace(
        formulation,
        a_matrix=formulation.a_matrix.tocsr()[keep].tocsc(),
        row_lower=formulation.row_lower[keep],
        row_upper=formulation.row_upper[keep],
        budget_row=-1,
    )


def priced(formulation: Formulation, price: float) -> Formulation:
    """The formulation without its budget row, maximising benefit − ``price`` · money (scaled)."""
    free = without_budget(formulation)
    return replace(free, objective=formulation.objective - price * formulation.money)


class PricedRelaxation:
    """The LP relaxation with money priced instead of budgeted, kept alive for warm re-solves.

    For a price λ ≥ 0 (scaled benefit per scaled money) it solves
    h(λ) = max benefit − λ·money over every row but the budget. Without the
    budget row, which ties every column together, the LP is far easier (at
    50,000 villages 1 s cold and 0.4 s warm, against 20 s with the row).
    By LP duality every λ bounds every budget b: LP(b) ≤ h(λ) + λ b.
    """

    def __init__(self, formulation: Formulation) -> None:
        self.formulation = formulation
        self.highs = highs_model(priced(formulation, 0.0), integer=False)
        self.columns = np.arange(formulation.objective.size, dtype=np.int32)
        self.last: tuple[float, str] | None = None  # (price, status) of the last solve

    def solve(self, price: float, time_limit_s: float) -> SolverResult:
        """h(price) (bound = its value, scaled) and the LP solution; warm from the last solve."""
        f = self.formulation
        cost = -(f.objective - price * f.money)
        self.highs.changeColsCost(len(cost), self.columns, cost)  # type: ignore[attr-defined]
        elapsed = run_with_watchdog(self.highs, time_limit_s)
        info = self.highs.getInfo()  # type: ignore[attr-defined]
        has_solution = info.primal_solution_status == 2
        status = _highs_status(self.highs, has_solution)
        values = np.asarray(self.highs.getSolution().col_value) if has_solution else None  # type: ignore[attr-defined]
        bound = -float(info.objective_function_value) if status == "optimal" else np.inf
        if status == "infeasible":
            bound = -np.inf
        self.last = (price, status)
        return SolverResult(values, bound, status, "highs", elapsed)

    def reduced_costs(self, price: float, time_limit_s: float) -> np.ndarray | None:
        """Reduced costs at ``price`` (scaled benefit, maximisation's sign); None: no optimal LP.

        Read from the last solve if it was an optimal one at ``price``, else
        after a warm re-solve there. By complementary slackness a column
        with a nonzero reduced cost sits at its bound in every optimal LP
        solution at that price; the columns with zero reduced cost are the
        rest: those an optimal solution may move (the optimal face).
        """
        if self.last != (price, "optimal"):
            if time_limit_s <= 0 or self.solve(price, time_limit_s).status != "optimal":
                return None
        reduced = -np.asarray(self.highs.getSolution().col_dual)  # type: ignore[attr-defined]
        return reduced if reduced.size == self.columns.size else None


def restricted(
    formulation: Formulation, lower: np.ndarray, upper: np.ndarray
) -> tuple[Formulation, np.ndarray, np.ndarray] | None:
    """The formulation over the free columns (``lower < upper``), the others fixed.

    Fixed columns' activity moves into the row limits; rows left without a
    free column are dropped. Returns (sub-formulation, free column indices,
    full vector of fixed values), or None when the fixed part already breaks
    a row. The sub-formulation's ``x_*`` arrays are those of its x columns.
    """
    free = np.flatnonzero(lower < upper)
    fixed = np.where(lower < upper, 0.0, lower)
    matrix = formulation.a_matrix.tocsc()
    activity = matrix @ fixed
    tolerance = 1e-9
    sub_matrix = matrix[:, free].tocsr()
    has_free = np.diff(sub_matrix.indptr) > 0
    rows, empty = np.flatnonzero(has_free), np.flatnonzero(~has_free)
    lo, up = formulation.row_lower - activity, formulation.row_upper - activity
    if (lo[empty] > tolerance).any() or (up[empty] < -tolerance).any():
        return None
    budget_row = formulation.budget_row
    new_budget_row = -1
    if budget_row >= 0 and budget_row in rows:
        new_budget_row = int(np.searchsorted(rows, budget_row))
    x_free = free[free < formulation.n_x]
    z0 = formulation.n_x + formulation.n_y + formulation.n_g
    z_free = free[free >= z0] - z0
    sub = Formulation(
        objective=formulation.objective[free],
        a_matrix=sub_matrix[rows].tocsc(),
        row_lower=lo[rows],
        row_upper=up[rows],
        x_village=formulation.x_village[x_free],
        x_option=formulation.x_option[x_free],
        budget_row=new_budget_row,
        n_x=len(x_free),
        n_y=int(((free >= formulation.n_x) & (free < formulation.n_x + formulation.n_y)).sum()),
        n_g=int(((free >= formulation.n_x + formulation.n_y) & (free < z0)).sum()),
        money_scale=formulation.money_scale,
        benefit_scale=formulation.benefit_scale,
        goal=formulation.goal,
        z_village=formulation.z_village[z_free],
        z_site=formulation.z_site[z_free],
        money=formulation.money[free],
    )
    return sub, free, fixed


def solve_fixed(
    formulation: Formulation,
    lower: np.ndarray,
    upper: np.ndarray,
    *,
    time_limit_s: float,
    mip_gap: float,
    absolute_gap: float = 0.0,
    target: float = np.inf,
    light_presolve: bool = False,
) -> np.ndarray | None:
    """Column values of the MILP with columns outside ``lower < upper`` fixed (HiGHS).

    The free columns' values come rounded from the :func:`restricted` MILP,
    solved to ``mip_gap`` relative to the whole plan's objective (fixed
    columns included), or to ``absolute_gap``, or until a plan reaches
    ``target``, with HiGHS's light presolve if ``light_presolve`` (see
    :func:`solve_highs`); None when the fixed part breaks a row or the MILP
    finds no plan.
    """
    sub = restricted(formulation, lower, upper)
    if sub is None:
        return None
    sub_formulation, free, fixed = sub
    result = solve_highs(
        sub_formulation,
        time_limit_s=time_limit_s,
        mip_gap=mip_gap,
        offset=float(formulation.objective @ fixed),
        absolute_gap=absolute_gap,
        target=target,
        light_presolve=light_presolve,
    )
    if result.values is None:
        return None
    values = fixed.copy()
    values[free] = np.round(result.values)
    return values


def pulp_solver(name: str, *, time_limit_s: float, mip_gap: float) -> object:
    """A PuLP solver by name; 'cbc' is an installed CBC (COIN_CMD) or PuLP's bundled one."""
    import pulp

    options = {"msg": False, "timeLimit": time_limit_s, "gapRel": mip_gap}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        if name.lower() == "cbc":
            installed = pulp.COIN_CMD(**options)
            return installed if installed.available() else pulp.PULP_CBC_CMD(**options)
        return pulp.getSolver(name, **options)


def solve_pulp(
    formulation: Formulation, *, solver_name: str, time_limit_s: float, mip_gap: float
) -> SolverResult:
    """Solve through PuLP (e.g. CBC) from the same arrays; status from PuLP's solution status.

    Rows are passed as ``LpAffineExpression`` built from (variable, coefficient)
    pairs of the CSR matrix. PuLP's problem status reads "Optimal" for a
    time-limited CBC run, so only ``sol_status == LpSolutionOptimal`` counts.
    """
    import pulp

    n_vars = formulation.objective.size
    if n_vars == 0:
        return SolverResult(np.zeros(0), 0.0, "optimal", solver_name.lower(), 0.0)
    model = pulp.LpProblem("coverageplan", pulp.LpMaximize)
    variables = [model.add_variable(f"v{i}", 0, 1, cat=pulp.LpBinary) for i in range(n_vars)]
    model += pulp.LpAffineExpression(
        [(variables[i], formulation.objective[i]) for i in np.flatnonzero(formulation.objective)]
    )
    matrix = formulation.a_matrix.tocsr()
    for row in range(matrix.shape[0]):
        start, end = matrix.indptr[row], matrix.indptr[row + 1]
        expression = pulp.LpAffineExpression(
            [
                (variables[c], v)
                for c, v in zip(matrix.indices[start:end], matrix.data[start:end], strict=True)
            ]
        )
        if np.isfinite(formulation.row_upper[row]):
            model += expression <= float(formulation.row_upper[row])
        if np.isfinite(formulation.row_lower[row]):
            model += expression >= float(formulation.row_lower[row])
    solver = pulp_solver(solver_name, time_limit_s=time_limit_s, mip_gap=mip_gap)
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        model.solve(solver)
    elapsed = time.perf_counter() - started
    if model.sol_status == pulp.LpSolutionOptimal:
        status = "optimal"
    elif model.sol_status == pulp.LpSolutionIntegerFeasible:
        status = "time_limit"
    elif model.sol_status == pulp.LpSolutionInfeasible:
        status = "infeasible"
    else:
        status = "no_solution"
    values = None
    if status in ("optimal", "time_limit"):
        values = np.array([v.value() or 0.0 for v in variables])
    objective = float(formulation.objective @ values) if values is not None else -np.inf
    # PuLP exposes no dual bound: an optimal stop is within the relative gap, else no proof.
    bound = objective * (1 + mip_gap) + 1e-9 if status == "optimal" else np.inf
    return SolverResult(values, bound, status, solver_name.lower(), elapsed)
