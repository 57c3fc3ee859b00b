"""``solve``: build the formulation once, run a backend, and check the plan it returns.

With HiGHS the MILP is solved *LP-guided*: the LP relaxation (within a
fraction of a percent of the optimum on these structures) gives the bound; a
MILP restricted to the LP's support, with the sites and trenches the LP
builds whole fixed, gives the plan; on models up to ``FACE_MODEL_COLUMNS``
the next try is the MILP at the budget's price over the LP's optimal face
(that support widened to every column with zero reduced cost at the
budget's price), its plan cut back to the budget, which the LP bound alone
may prove (at 10,000 villages 1.6 s in all, against 3.8 s by the priced
MILP below). Under a budget the LP is solved through its Lagrangian dual,
a few priced LPs without the budget row (at 10,000 villages ~0.3 s against
~0.5 s for the LP with the row, at 50,000 a few seconds against ~11 s).
Dense, overlapping candidate sites leave the LP bound 0.1–0.2 % above the
optimum; then the MILP at the budget's price,
still without the budget row, gives a tighter bound (its cuts) and an
integer solution; that solution, often over the budget, is cut back to it
by a MILP that may drop its sites and trenches but add none
(:func:`within_infrastructure`). Only when the gap is still open does
the full MILP run, for the time left, and the best plan is kept. HiGHS
alone on the full 50k model stopped at its limit with a 4–6 % gap
(benchmarks/optimizer_scale.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

from coverageplan.errors import InfeasibleError, SolverError
from coverageplan.optimize.milp import (
    Formulation,
    PricedRelaxation,
    SolverResult,
    build_formulation,
    priced,
    solve_fixed,
    solve_highs,
    solve_highs_in_child,
    solve_pulp,
    with_budget_margin,
)
from coverageplan.optimize.problem import (
    CELLULAR,
    FIBRE,
    UNSERVED,
    Plan,
    Problem,
    plan_benefit,
    plan_cost,
    plan_violations,
)

log = logging.getLogger(__name__)


def ancestors_of(parent: np.ndarray, selected: np.ndarray) -> np.ndarray:
    """Bool mask of the selected nodes and every ancestor of theirs in the forest ``parent``.

    One breadth-first search from a virtual source linked to the selected
    nodes over child → parent arcs.
    """
    n = len(parent)
    child = np.flatnonzero(parent >= 0)
    source = n
    starts = np.concatenate([child, np.full(int(selected.sum()), source)])
    ends = np.concatenate([parent[child], np.flatnonzero(selected)])
    graph = sparse.csr_matrix(
        (np.ones(len(starts), dtype=np.int8), (starts, ends)), shape=(n + 1, n + 1)
    )
    reached = csgraph.breadth_first_order(graph, source, directed=True, return_predecessors=False)
    mask = np.zeros(n + 1, dtype=bool)
    mask[reached] = True
    return mask[:n]


INTEGRAL = 1e-6  # an LP value this close to 0 or 1 counts as integral
DUAL_ZERO = 1e-7  # a reduced cost this small counts as zero (HiGHS's dual feasibility tolerance)
FACE_TIME_FACTOR = 6.0  # the optimal-face step may take this many times the LP time ...
FACE_MODEL_COLUMNS = 60_000  # ... on models of at most this many columns
SUB_GAP_SHARE = 0.1  # the restricted MILP's own gap, as a share of the requested gap
OBJECTIVE_TOLERANCE = 1e-9  # scaled objective units: solver round-off, not a gap
ROW_TOLERANCE = 1e-6  # relative row violation allowed in a solver's plan (HiGHS's MIP feasibility)


def within_gap(objective: float, bound: float, mip_gap: float) -> bool:
    """True when a maximisation's ``objective`` is proven within ``mip_gap`` of ``bound``."""
    if not np.isfinite(objective):
        return False  # no plan (−inf) is never close to anything
    return bool(bound - objective <= mip_gap * abs(objective) + OBJECTIVE_TOLERANCE)


def proven_objective(bound: float, mip_gap: float) -> float:
    """The least objective :func:`within_gap` accepts against ``bound`` (inf: none)."""
    if not np.isfinite(bound):
        return np.inf
    if bound >= 0:
        return bound / (1 + mip_gap)
    return bound / (1 - mip_gap) if mip_gap < 1 else -np.inf


def lp_restrictions(
    formulation: Formulation, lp_values: np.ndarray, richer_values: np.ndarray | None = None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Column bounds (lower, upper) for the LP-guided MILPs, the narrowest first.

    ``richer_values`` is a second LP that spends more (the two bracket the
    budget's price); without it the one LP stands for both. First every
    column both LPs hold at the same integral value is fixed: a MILP over
    the few disputed columns. Then only the sites and trenches both build
    whole stay fixed, village choices free on the LPs' support, so the MILP
    can round them; still small, and feasible whenever money coefficients
    are non-negative (the LP paid for that infrastructure).
    """
    richer = lp_values if richer_values is None else richer_values
    both_one = np.minimum(lp_values, richer) >= 1 - INTEGRAL
    support = ((lp_values > INTEGRAL) | (richer > INTEGRAL)).astype(float)
    column = np.arange(lp_values.size)
    f = formulation
    infrastructure = (column >= f.n_x) & (column < f.n_x + f.n_y + f.n_g)  # assignments stay free
    return [
        (both_one.astype(float), support),
        (np.where(infrastructure & both_one, 1.0, 0.0), support),
    ]


def face_restriction(
    villages_free: tuple[np.ndarray, np.ndarray], face: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Column bounds (lower, upper): ``villages_free`` widened to the LP's optimal ``face``.

    ``villages_free`` is :func:`lp_restrictions`'s second restriction (the
    sites and trenches both bracketing LPs build whole stay built, the rest
    of their support free); ``face`` marks the columns with zero reduced
    cost at the bound's price, which an optimal LP solution may move. The
    LP is highly degenerate on covering sites: at 10,000 villages with ~850
    candidate sites the near-optimal plan built three sites and dug seven
    trenches that both LP solutions leave at zero, all on the face. Over the
    support alone the best plan was 0.04 % below the optimum; over the face
    0.002 % (the priced MILP over it took 0.7–1.0 s against 3 s over every
    column).
    """
    lower, support = villages_free
    return lower, np.maximum(support, face.astype(float))


def within_infrastructure(
    formulation: Formulation, plan: np.ndarray, *supports: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Column bounds (lower, upper): no site or trench beyond ``plan``'s, options on the supports.

    The MILP over these bounds keeps what of ``plan``'s infrastructure is
    worth its money and lets villages choose among the options ``plan`` and
    the ``supports`` (LP solutions) use. A plan at the budget's price that
    overspends is thus cut back to the budget by what it is least worth:
    at 50,000 villages with ~5,000 candidate sites the priced MILP's plan
    (1.3 % over) was brought within budget 0.07 % below the bound, in 1 s
    (over ~30,000 free columns; the LP-guided restrictions stayed 0.14 %
    below in 20 s).
    """
    f = formulation
    column = np.arange(plan.size)
    infrastructure = (column >= f.n_x) & (column < f.n_x + f.n_y + f.n_g)
    used = plan > INTEGRAL
    for support in supports:
        used |= support > INTEGRAL
    upper = np.where(infrastructure, plan > INTEGRAL, used | (column >= f.n_x + f.n_y + f.n_g))
    return np.zeros(plan.size), upper.astype(float)


@dataclass(frozen=True)
class LPGuide:
    """What the LP tells the MILP: its bound (scaled), solutions and the budget's price.

    ``values`` is the LP solution (the poorer of the two that bracket the
    budget's price), ``richer_values`` the one spending more (None: only one
    LP), ``price`` the price whose line h(λ) + λ b gives ``bound`` (None
    when the budgeted LP was solved), ``face`` the columns with zero reduced
    cost at that price (None: not known). Solutions None: no LP solution.
    """

    status: str
    bound: float
    values: np.ndarray | None = None
    richer_values: np.ndarray | None = None
    price: float | None = None
    face: np.ndarray | None = None


def lp_guide(
    formulation: Formulation,
    *,
    time_limit_s: float,
    mip_gap: float,
    start_price: float | None,
    with_face: bool = False,
) -> LPGuide:
    """The LP bound and solutions for the LP-guided MILP.

    With a budget row and a ``start_price`` the LP is solved through its
    Lagrangian dual: priced LPs without the budget row (far easier for the
    simplex than the row that ties every column together) bracket the
    budget's price (:func:`~coverageplan.optimize.frontier.budget_bracket`);
    the least h(λ) + λ b bounds the LP, and the two bracketing LPs guide the
    MILP. ``with_face``: also the columns with zero reduced cost at that
    price (the LP there re-solved, warm, if it was not the last solved).
    Otherwise, or when that search ends without a bracket, the budgeted LP
    itself.
    """
    started = time.perf_counter()
    if start_price is not None and formulation.budget_row >= 0:
        from coverageplan.optimize.frontier import bracket, budget_bracket

        budget = float(formulation.row_upper[formulation.budget_row])
        priced_lp = PricedRelaxation(formulation)
        points, status = budget_bracket(
            priced_lp,
            budget,
            start_price,
            time_limit_s=time_limit_s,
            tolerance=mip_gap * SUB_GAP_SHARE,
        )
        if status == "infeasible":  # the rows beside the budget, at any price
            return LPGuide(status, -np.inf)
        pair = bracket(points, budget)
        free = [point for point in points if point.price == 0 and point.spend <= budget]
        if pair is None and free:
            pair = (free[0], free[0])  # the budget does not bind: LP(b) = h(0)
        if pair is not None:
            best = min(points, key=lambda point: point.value + point.price * budget)
            richer, poorer = (point.lp_values.astype(float) for point in pair)
            bound = best.value + best.price * budget
            face = None
            if with_face:
                left = time_limit_s - (time.perf_counter() - started)
                reduced = priced_lp.reduced_costs(best.price, left)
                face = None if reduced is None else np.abs(reduced) <= DUAL_ZERO
            return LPGuide("optimal", bound, poorer, richer, best.price, face)
        log.info("price search found no bracket (%s): solving the budgeted LP", status)
    left = max(time_limit_s - (time.perf_counter() - started), 0.0)
    relaxation = solve_highs(formulation, time_limit_s=left, mip_gap=mip_gap, integer=False)
    if relaxation.status != "optimal":
        return LPGuide(relaxation.status, relaxation.bound)
    return LPGuide("optimal", relaxation.bound, relaxation.values)


def solve_lp_guided(
    formulation: Formulation,
    *,
    time_limit_s: float,
    mip_gap: float,
    start_price: float | None = None,
) -> SolverResult:
    """LP bound, restricted MILPs for the plan; a priced MILP, then the full one, if still open.

    ``start_price`` (scaled benefit per money) lets :func:`lp_guide` find the
    LP bound by pricing the budget row instead of solving with it. The
    restrictions (:func:`lp_restrictions`) are tried narrowest first, until
    one's plan is within ``mip_gap`` of the bound; then, on models small
    enough, the MILP at the budget's price over the LP's optimal face
    (:func:`face_restriction`), its plan cut back to the budget, both
    within ``FACE_TIME_FACTOR`` times the LP's time. Restricted MILPs
    stop at the first plan the bound proves, so a plan is often just within
    ``mip_gap``. Where dense, overlapping sites leave the LP bound too far
    above every plan, the MILP at the budget's price without the budget row
    (:func:`priced_milp`) gives a tighter bound and an integer plan, cut
    back to the budget within its infrastructure
    (:func:`within_infrastructure`); the full MILP runs only if that still
    leaves the gap open.
    """
    started = time.perf_counter()

    def remaining() -> float:
        return max(time_limit_s - (time.perf_counter() - started), 0.0)

    guide = lp_guide(
        formulation,
        time_limit_s=time_limit_s,
        mip_gap=mip_gap,
        start_price=start_price,
        with_face=formulation.objective.size <= FACE_MODEL_COLUMNS,
    )
    if guide.status == "infeasible":
        return SolverResult(None, -np.inf, "infeasible", "highs", time.perf_counter() - started)
    lp_seconds = time.perf_counter() - started
    bound, best = guide.bound, Incumbent(formulation)
    lp_restricted = []
    if guide.values is not None:
        floored = floor_plan(formulation, guide.values)
        if floored is not None:  # a safety net: a plan even if every MILP below stops empty
            best.offer(floored)
        lp_restricted = lp_restrictions(formulation, guide.values, guide.richer_values)
        best.try_restrictions(lp_restricted[:1], bound, mip_gap, remaining)
        if (
            guide.face is not None
            and guide.price is not None
            and remaining() > 0
            and not within_gap(best.objective, bound, mip_gap)
        ):  # where the LP bound is within the gap of the optimum, a plan on its face proves it
            # (a wall-clock cap: should it bind, the plan depends on the machine's speed)
            face_deadline = time.perf_counter() + FACE_TIME_FACTOR * lp_seconds

            def face_left() -> float:
                return max(min(remaining(), face_deadline - time.perf_counter()), 0.0)

            on_face = solve_fixed(
                priced(formulation, guide.price),
                *face_restriction(lp_restricted[1], guide.face),
                time_limit_s=face_left(),
                mip_gap=priced_gap(formulation, guide.price, bound, mip_gap),
            )
            if on_face is not None:
                best.cut_back(on_face, guide, bound, mip_gap, face_left)
    log.info(
        "LP bound %.6g (%.1f s); restricted MILP plan %.6g (%.1f s in all)",
        bound,
        lp_seconds,
        best.objective,
        time.perf_counter() - started,
    )
    if not within_gap(best.objective, bound, mip_gap) and guide.price is not None:
        priced_bound, integer = priced_milp(
            formulation,
            guide.price,
            lp_bound=bound,
            time_limit_s=remaining() * PRICED_TIME_SHARE,
            mip_gap=mip_gap,
        )
        bound = min(bound, priced_bound)
        if integer is not None:
            best.cut_back(integer, guide, bound, mip_gap, remaining)
        log.info(
            "priced MILP bound %.6g; plan %.6g (%.1f s in all)",
            bound,
            best.objective,
            time.perf_counter() - started,
        )
    best.try_restrictions(lp_restricted[1:], bound, mip_gap, remaining)
    if best.values is None or not within_gap(best.objective, bound, mip_gap):
        if remaining() > 0:
            full = full_milp(formulation, time_limit_s=remaining(), mip_gap=mip_gap)
            bound = min(bound, full.bound)
            if full.values is not None:
                best.offer(full.values)
            if full.status == "infeasible":
                return full
    elapsed = time.perf_counter() - started
    if best.values is None:
        return SolverResult(None, bound, "no_solution", "highs", elapsed)
    if within_gap(best.objective, bound, mip_gap):
        status = "optimal"
    else:
        status = "time_limit" if remaining() <= 0 else "feasible"
    return SolverResult(best.values, bound, status, "highs", elapsed)


CHILD_PROCESS_COLUMNS = 20_000  # a full MILP this large runs in a child, killed if it overruns


def full_milp(formulation: Formulation, *, time_limit_s: float, mip_gap: float) -> SolverResult:
    """The whole MILP with HiGHS; from ``CHILD_PROCESS_COLUMNS`` columns in a killable child.

    HiGHS's root cut loop was seen to ignore its time limit for minutes on
    large models; only killing the process stops it. HiGHS may not restart
    after the root: the restart repeats presolve and that cut loop, and on
    six synthetic 1,000-village models to a 0.1 % gap it never paid (6.5 s
    → 3.6 s, 8.7 → 4.7 s, the rest equal).
    """
    large = formulation.objective.size >= CHILD_PROCESS_COLUMNS
    solver = solve_highs_in_child if large else solve_highs
    return solver(formulation, time_limit_s=time_limit_s, mip_gap=mip_gap, restart=False)


PRICED_TIME_SHARE = 0.6  # of the time left, for the priced MILP's bound
PRICED_GAP_SHARE = 0.5  # the priced MILP's gap, as a share of the requested one (of the bound)


def priced_gap(formulation: Formulation, price: float, lp_bound: float, mip_gap: float) -> float:
    """A priced MILP's relative gap: ``PRICED_GAP_SHARE`` of ``mip_gap`` on the budgeted bound.

    Its objective, h(λ) = ``lp_bound`` − λ b at its root, can be far smaller
    than the benefit; the gap is scaled so the two are alike in absolute terms.
    """
    budget = float(formulation.row_upper[formulation.budget_row])
    lp_value = lp_bound - price * budget
    return PRICED_GAP_SHARE * mip_gap * abs(lp_bound) / max(abs(lp_value), 1e-9)


def priced_milp(
    formulation: Formulation,
    price: float,
    *,
    lp_bound: float,
    time_limit_s: float,
    mip_gap: float,
) -> tuple[float, np.ndarray | None]:
    """(bound, rounded solution or None) from the MILP at the budget's ``price``, budget row out.

    For any price λ and any plan within budget b, benefit ≤ H(λ) + λ b, where
    H is the priced MILP's optimum (Lagrangian relaxation of the budget
    row); HiGHS's dual bound on H keeps that true when it stops early. Its
    cuts close most of the LP's integrality gap over covering sites (at
    50,000 villages with ~5,000 candidate sites, 0.13 % of 0.2 %), and
    without the budget row the MILP is far easier than the budgeted one.
    Its gap on H is set so the bound is within ``PRICED_GAP_SHARE`` of
    ``mip_gap`` of ``lp_bound``.
    """
    budget = float(formulation.row_upper[formulation.budget_row])
    result = solve_highs(
        priced(formulation, price),
        time_limit_s=time_limit_s,
        mip_gap=priced_gap(formulation, price, lp_bound, mip_gap),
    )
    bound = result.bound + price * budget if np.isfinite(result.bound) else np.inf
    values = None if result.values is None else np.round(result.values)
    return bound, values


def floor_plan(formulation: Formulation, lp_values: np.ndarray) -> np.ndarray | None:
    """The LP solution rounded down, with village options whose rows then break dropped.

    Rounding down only lowers every row's activity except where an option
    leaned on a fractional site or trench; those options (x columns in a
    row over its upper limit) are set to 0. None when rows still break
    (e.g. a target's lower limit).
    """
    values = np.floor(lp_values + INTEGRAL)
    above, _ = row_violations(formulation, values)
    if above.any():
        rows = formulation.a_matrix.tocsr()[np.flatnonzero(above)].tocoo()
        leaning = rows.col[(rows.data > 0) & (rows.col < formulation.n_x)]
        values[leaning] = 0.0
    return values if meets_rows(formulation, values) else None


def row_violations(formulation: Formulation, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(above, below) masks: rows past their upper or lower limit (``ROW_TOLERANCE``, relative)."""
    activity = formulation.a_matrix @ values
    slack = ROW_TOLERANCE * np.maximum(1.0, np.abs(activity))
    return activity > formulation.row_upper + slack, activity < formulation.row_lower - slack


def meets_rows(formulation: Formulation, values: np.ndarray) -> bool:
    """True when ``values`` keeps every row within its limits."""
    above, below = row_violations(formulation, values)
    return not (above.any() or below.any())


class Incumbent:
    """The best plan found so far for a formulation (values None: none yet)."""

    def __init__(self, formulation: Formulation) -> None:
        self.formulation = formulation
        self.values: np.ndarray | None = None
        self.objective = -np.inf

    def offer(self, values: np.ndarray) -> None:
        """Keep ``values`` if it meets every row and beats the incumbent."""
        if not meets_rows(self.formulation, values):
            log.warning("a solver returned a plan that breaks rows; it is not used")
            return
        objective = float(self.formulation.objective @ values)
        if objective > self.objective:
            self.values, self.objective = values, objective

    def cut_back(
        self,
        integer: np.ndarray,
        guide: LPGuide,
        bound: float,
        mip_gap: float,
        remaining: Callable[[], float],
    ) -> None:
        """Offer a priced MILP's plan, then cut it back to the budget within its infrastructure.

        Without the budget row the plan often overspends: the MILPs over
        :func:`within_infrastructure` (its sites and trenches at most, the
        villages' options on it and the LPs), then over the columns it and
        the poorer LP dispute (:func:`lp_restrictions`), bring it within.
        The first, a knapsack over villages' options once the infrastructure
        is bounded, gets HiGHS's light presolve: the full one took 0.33 of
        its 0.34 s at 10,000 villages and 0.97 s at 50,000, the light one
        0.09 and 0.28 s, for the same plans.
        """
        f = self.formulation
        if f.money @ integer <= f.row_upper[f.budget_row]:
            self.offer(integer)
        if guide.values is None:
            return
        supports = [guide.values] + [v for v in [guide.richer_values] if v is not None]
        within = within_infrastructure(f, integer, *supports)
        self.try_restrictions([within], bound, mip_gap, remaining, light_presolve=True)
        self.try_restrictions(lp_restrictions(f, guide.values, integer), bound, mip_gap, remaining)

    def try_restrictions(
        self,
        restrictions: list[tuple[np.ndarray, np.ndarray]],
        bound: float,
        mip_gap: float,
        remaining: Callable[[], float],
        *,
        light_presolve: bool = False,
    ) -> None:
        """Restricted MILPs in order, until one's plan is within ``mip_gap`` of ``bound``.

        The restricted models are small: each is solved tighter (to
        ``SUB_GAP_SHARE`` of the gap) so its plan meets ``mip_gap`` against
        ``bound``, not only against its own, and stops at the first plan
        that does.
        """
        for lower, upper in restrictions:
            if remaining() <= 0 or within_gap(self.objective, bound, mip_gap):
                return
            values = solve_fixed(
                self.formulation,
                lower,
                upper,
                time_limit_s=remaining(),
                mip_gap=mip_gap * SUB_GAP_SHARE,
                target=proven_objective(bound, mip_gap),
                light_presolve=light_presolve,
            )
            if values is not None:
                self.offer(values)


def _run_backend(
    formulation: Formulation,
    solver: str,
    time_limit_s: float,
    mip_gap: float,
    start_price: float | None = None,
) -> SolverResult:
    if solver == "highs":
        try:
            return solve_lp_guided(
                formulation, time_limit_s=time_limit_s, mip_gap=mip_gap, start_price=start_price
            )
        except ImportError:
            log.warning("highspy is not installed; falling back to CBC through PuLP")
            solver = "cbc"
    return solve_pulp(formulation, solver_name=solver, time_limit_s=time_limit_s, mip_gap=mip_gap)


def decisions(
    problem: Problem, formulation: Formulation, result: SolverResult
) -> tuple[np.ndarray, ...]:
    """Rounded (choice, sites_built, edges_built, site_assignment); unused sites, trenches pruned.

    With site capacity the assignment is read from the z columns.
    """
    n = problem.n_villages
    choice = np.full(n, UNSERVED, dtype=np.int64)
    sites_built = np.zeros(problem.n_sites, dtype=bool)
    if result.values is None:
        return choice, sites_built, np.zeros(n, dtype=bool), np.full(n, UNSERVED, dtype=np.int64)
    f = formulation
    values = result.values > 0.5
    chosen = np.flatnonzero(values[: f.n_x])
    choice[f.x_village[chosen]] = f.x_option[chosen]
    if f.n_y:
        sites_built = values[f.n_x : f.n_x + f.n_y].copy()
    assignment = None
    if f.n_z or problem.has_site_capacity:
        assignment = np.full(n, UNSERVED, dtype=np.int64)
        on = np.flatnonzero(values[f.n_x + f.n_y + f.n_g :])
        assignment[f.z_village[on]] = f.z_site[on]
    return infrastructure_for(problem, choice, sites_built, assignment)


def infrastructure_for(
    problem: Problem,
    choice: np.ndarray,
    sites_built: np.ndarray,
    site_assignment: np.ndarray | None = None,
) -> tuple[np.ndarray, ...]:
    """(choice, sites, trenches, site_assignment) with only the sites cellular villages use.

    Trenches are exactly those the fibre villages need (theirs and above).
    ``site_assignment`` is kept for villages still relying on a new site
    (cellular, no existing cover); without one, each such village is served
    by the first built site covering it (when site capacity is off).
    """
    n = problem.n_villages
    relying = (choice == CELLULAR) & ~problem.existing_cover
    sites_built = sites_built.copy()
    if site_assignment is None:
        assignment = np.full(n, UNSERVED, dtype=np.int64)
        if problem.has_cellular and sites_built.any():
            sites_built &= np.asarray(problem.cover[relying].sum(axis=0)).ravel() > 0
            built_cover = problem.cover[:, sites_built].tocsr()
            has = relying & (np.diff(built_cover.indptr) > 0)
            first = built_cover.indices[built_cover.indptr[:-1][has]]
            assignment[has] = np.flatnonzero(sites_built)[first]
    else:
        assignment = np.where(relying, site_assignment, UNSERVED)
        sites_built &= np.bincount(assignment[assignment >= 0], minlength=problem.n_sites) > 0
    edges_built = np.zeros(n, dtype=bool)
    if problem.has_fibre_tree:
        edges_built = ancestors_of(problem.parent, choice == FIBRE)
    return choice, sites_built, edges_built, assignment


MAX_BUDGET_RETRIES = 3


def solve(
    problem: Problem,
    method: Literal["milp", "frontier", "decompose"] = "milp",
    *,
    goal: Literal["max_benefit", "min_cost"] = "max_benefit",
    solver: str = "highs",
    time_limit_s: float = 60.0,
    mip_gap: float = 1e-4,
) -> Plan:
    """Solve ``problem`` for ``goal``; return a checked Plan.

    ``max_benefit`` maximises benefit within the budget; ``min_cost``
    minimises money spent meeting every target.
    ``solver`` is ``"highs"`` (highspy, the default), ``"cbc"`` (through PuLP)
    or the name of any solver PuLP knows. The plan is recomputed from the
    decisions and verified against every constraint; a plan that breaks one
    raises :class:`SolverError`. An infeasible min-cost problem raises
    :class:`InfeasibleError`. ``method="frontier"`` answers through
    :func:`~coverageplan.optimize.frontier.frontier` for the one budget;
    ``method="decompose"`` through
    :func:`~coverageplan.optimize.decompose.solve_decomposed` (Lagrangian
    blocks that share only the budget, solved in local processes).
    """
    if method in ("frontier", "decompose"):
        if goal != "max_benefit":
            raise ValueError(f"method {method!r} prices the budget: it needs goal 'max_benefit'")
        if method == "decompose":
            from coverageplan.optimize.decompose import solve_decomposed

            return solve_decomposed(problem, time_limit_s=time_limit_s, mip_gap=mip_gap)
        from coverageplan.optimize.frontier import frontier

        return frontier(problem, [problem.budget], time_limit_s=time_limit_s, mip_gap=mip_gap)[0]
    if method != "milp":
        raise ValueError(f"unknown method {method!r}; available: 'milp', 'frontier', 'decompose'")
    formulation = build_formulation(problem, goal)
    start_price = None  # max benefit under a budget: the LP bound comes from pricing the budget
    if goal == "max_benefit" and formulation.budget_row >= 0 and solver == "highs":
        from coverageplan.optimize.frontier import greedy_price

        start_price = greedy_price(problem, formulation)
    margin, bounds, solve_time_s = 0.0, [], 0.0
    for _ in range(MAX_BUDGET_RETRIES):
        result = _run_backend(
            with_budget_margin(formulation, margin), solver, time_limit_s, mip_gap, start_price
        )
        bounds.append(result.bound)  # the first solve, on the exact budget, bounds the true optimum
        solve_time_s += result.solve_time_s
        decided = decisions(problem, formulation, result)
        overspend = plan_cost(problem, *decided[:3]) - problem.budget
        if overspend <= 0:
            break
        margin += 2.0 * overspend  # tolerance let the rounded plan overspend: tighten and retry
    if result.status == "infeasible" or (result.values is None and goal == "min_cost"):
        raise InfeasibleError(
            f"no plan meets every target ({', '.join(problem.target_names) or 'none'}) "
            f"within the constraints; solver status {result.status}"
        )
    plan = checked_plan(
        problem,
        decided,
        scaled_bound=bounds[0],
        formulation=formulation,
        status=result.status,
        solver=result.solver,
        solve_time_s=solve_time_s,
        goal=goal,
    )
    if plan.status == "optimal" and margin > 0:  # proven on a tightened budget, not on this one
        scale = formulation.benefit_scale if goal == "max_benefit" else -formulation.money_scale
        if not within_gap(plan.objective / scale, plan.bound / scale, mip_gap):
            plan = replace(plan, status="feasible")
    return plan


def checked_plan(
    problem: Problem,
    decided: tuple[np.ndarray, ...],
    *,
    scaled_bound: float,
    formulation: Formulation,
    status: str,
    solver: str,
    solve_time_s: float,
    goal: str = "max_benefit",
) -> Plan:
    """A Plan from (choice, sites_built, edges_built, site_assignment), every constraint verified.

    ``scaled_bound`` is the solver's bound on the maximised objective in the
    formulation's scaled units; objective, cost and gap are recomputed here
    from the decisions. A plan that breaks a constraint raises SolverError.
    """
    choice, sites_built, edges_built, site_assignment = decided
    violations = plan_violations(problem, choice, sites_built, edges_built, site_assignment)
    if violations:
        raise SolverError(
            f"{solver} returned a plan that breaks constraints: {'; '.join(violations)}"
        )
    benefit = plan_benefit(problem, choice)
    total_cost = plan_cost(problem, choice, sites_built, edges_built)
    if goal == "min_cost":
        objective = total_cost
        bound = -scaled_bound * formulation.money_scale  # a lower bound on cost
        bound = min(bound, objective) if np.isfinite(bound) else -np.inf
        gap = (
            (objective - bound) / abs(objective)
            if objective
            else (0.0 if bound >= -1e-9 else np.inf)
        )
    else:
        objective = benefit
        bound = scaled_bound * formulation.benefit_scale
        bound = max(bound, objective) if np.isfinite(bound) else np.inf
        gap = (
            (bound - objective) / objective if objective > 0 else (0.0 if bound <= 1e-9 else np.inf)
        )
    return Plan(
        choice=choice,
        sites_built=sites_built,
        edges_built=edges_built,
        site_assignment=site_assignment,
        total_cost=total_cost,
        objective=objective,
        bound=float(bound),
        gap=float(gap),
        status=status,
        solver=solver,
        solve_time_s=solve_time_s,
        goal=goal,
        benefit=benefit,
    )
