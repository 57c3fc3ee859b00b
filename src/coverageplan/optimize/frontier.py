"""``frontier``: plans for many budgets at once, each with a proven upper bound.

One formulation is built at the largest budget and its LP relaxation kept
alive in HiGHS, so moving the budget row re-solves warm.

* **Anchors.** At a few budgets the LP is solved and a MILP restricted to
  the LP's support (as in :func:`~coverageplan.optimize.solve.solve_lp_guided`)
  gives an integer plan.
* **Bounds.** The LP value V(b) is concave in the budget b (LP duality), so
  each anchor k bounds every budget: V(b) ≤ V(b_k) + λ_k (b − b_k), with λ_k
  the budget row's shadow price. A budget's bound is the least of these lines.
* **Plans between anchors.** Each anchor plan (and the empty plan) is
  extended by greedy upgrades — every village's best move by benefit gained
  per money, using sites already built, trenches to the network at their
  unbuilt cost and free beam capacity — sorted once; a budget buys the
  longest prefix it can afford (one ``searchsorted``). A budget's plan is
  the best of these over the anchors at or below it and of every smaller
  budget's plan, so benefit never falls as the budget grows.
* **Refinement.** While some plan is more than ``mip_gap`` below its bound and
  time is left, the interval of untried budgets holding the widest gap is
  bisected with a new anchor (its top first, whose LP bounds everything below).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from coverageplan.optimize.milp import (
    Formulation,
    LpRelaxation,
    SolverResult,
    build_formulation,
    restricted,
    solve_highs,
    with_budget,
)
from coverageplan.optimize.problem import (
    CELLULAR,
    CONSOLIDATE,
    FIBRE,
    SATELLITE,
    UNSERVED,
    Plan,
    Problem,
    plan_benefit,
    plan_cost,
    plan_violations,
)
from coverageplan.optimize.solve import (
    SUB_GAP_SHARE,
    checked_plan,
    decisions,
    infrastructure_for,
    lp_restriction,
    within_gap,
)

log = logging.getLogger(__name__)

Decided = tuple[np.ndarray, ...]  # (choice, sites_built, edges_built)
FULL_MILP_SHARE = 0.5  # of the time left, for an anchor the restricted MILP could not settle


@dataclass(frozen=True)
class Anchor:
    """A budget (money) where the LP was solved: value and price (scaled units), integer plan."""

    budget: float
    lp_value: float
    price: float
    decided: Decided | None
    milp_bound: float = np.inf  # the full MILP's dual bound here, when it had to run


@dataclass(frozen=True)
class Upgrades:
    """A plan and its greedy upgrades in buying order (money, benefit: problem units).

    Buying the first k upgrades costs at most ``spent[k-1]`` more than the
    base and gains ``gained[k-1]`` benefit.
    """

    base: Decided
    base_cost: float
    base_value: float
    village: np.ndarray
    option: np.ndarray
    spent: np.ndarray
    gained: np.ndarray

    def affordable(self, budget: float) -> int:
        """How many upgrades ``budget`` buys (0 when even the base is beyond it; see value)."""
        return int(np.searchsorted(self.spent, budget - self.base_cost, side="right"))

    def value(self, budget: float) -> float:
        """Benefit of the plan ``budget`` buys; −inf when the base alone costs more."""
        if self.base_cost > budget:
            return -np.inf
        count = self.affordable(budget)
        return self.base_value + (float(self.gained[count - 1]) if count else 0.0)

    def plan(self, problem: Problem, budget: float) -> Decided:
        """The decisions ``budget`` buys: the base and its first affordable upgrades."""
        count = self.affordable(budget)
        choice = self.base[0].copy()
        choice[self.village[:count]] = self.option[:count]
        return infrastructure_for(problem, choice, self.base[1])


def cost_to_network(parent: np.ndarray, edge_cost: np.ndarray) -> np.ndarray:
    """Sum of ``edge_cost`` over each village's trench and every trench above it (money).

    Pointer doubling over the forest ``parent``: log2(depth) vectorized steps.
    """
    total = edge_cost.astype(float).copy()
    ancestor = parent.copy()
    while (ancestor >= 0).any():
        has = ancestor >= 0
        total[has] += total[ancestor[has]]
        ancestor[has] = ancestor[ancestor[has]]
    return total


def subtree_reduce(parent: np.ndarray, values: np.ndarray, ufunc: np.ufunc) -> np.ndarray:
    """``ufunc`` of ``values`` over each node's subtree (itself and all below it).

    One vectorized step per tree level, deepest first (a loop over depth, not nodes).
    """
    out = values.copy()
    depth = cost_to_network(parent, (parent >= 0).astype(float)).astype(np.int64)
    child = np.flatnonzero(parent >= 0)
    by_depth = child[np.argsort(-depth[child], kind="stable")]
    level_starts = np.flatnonzero(np.diff(depth[by_depth], prepend=np.inf))
    for nodes in np.split(by_depth, level_starts[1:]):
        ufunc.at(out, parent[nodes], out[nodes])
    return out


def upgrades(problem: Problem, usable: np.ndarray, base: Decided) -> Upgrades:
    """Each village's best upgrade over ``base``, ordered by benefit gained per money.

    An upgrade moves one village to a better option using what ``base``
    built: cellular only under a built or existing site; fibre with the
    unbuilt trenches to the network (ranked with each trench's cost shared
    among the candidates below it, then costed exactly: a trench is paid by
    the first upgrade in buying order that needs it); satellite within its
    beam's free capacity, shared out in buying order. Savings are not
    counted, so ``spent`` never understates. Consolidated villages and their
    hosts keep their option. No loop over villages.
    """
    choice, sites_built, edges_built = base
    rows = np.arange(problem.n_villages)
    served = choice >= 0
    held = np.where(served, choice, 0)
    gain = problem.benefit - np.where(served, problem.benefit[rows, held], 0.0)[:, None]
    extra = problem.cost - np.where(served, problem.cost[rows, held], 0.0)[:, None]
    allowed = usable & (gain > 0)
    if problem.n_options > CONSOLIDATE:
        allowed[:, CONSOLIDATE] = False
    frozen = choice == CONSOLIDATE
    frozen[problem.host[frozen]] = True
    allowed[frozen] = False
    for weight in problem.target_weight:  # never lose ground on a coverage target
        allowed &= weight >= np.where(served, weight[rows, held], 0.0)[:, None]
    if problem.has_cellular:
        reached = problem.existing_cover | (problem.cover @ sites_built.astype(np.int64) > 0)
        allowed[:, CELLULAR] &= reached
    unbuilt = np.zeros(problem.n_villages)
    if problem.has_fibre_tree:  # for ranking: each trench shared by the candidates below it
        unbuilt = np.where(edges_built, 0.0, problem.edge_cost)
        sharing = subtree_reduce(problem.parent, allowed[:, FIBRE].astype(float), np.add)
        extra[:, FIBRE] += cost_to_network(problem.parent, unbuilt / np.maximum(sharing, 1))
    free_capacity = np.zeros(0)
    if problem.has_beams:
        load = np.bincount(
            problem.beam,
            weights=problem.sat_demand * (choice == SATELLITE),
            minlength=len(problem.beam_capacity),
        )
        free_capacity = problem.beam_capacity - load
        allowed[:, SATELLITE] &= problem.sat_demand <= free_capacity[problem.beam]
    extra = np.maximum(extra, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(extra > 0, gain / extra, np.inf)
    ratio[~allowed] = -np.inf
    # Best ratio per village; among free upgrades, the largest gain.
    free = allowed & (extra == 0)
    option = np.where(
        free.any(axis=1), np.where(free, gain, -np.inf).argmax(axis=1), ratio.argmax(axis=1)
    )
    village = np.flatnonzero(allowed[rows, option])
    option = option[village]
    order = np.lexsort((-gain[village, option], -ratio[village, option]))
    village, option = village[order], option[order]
    if problem.has_beams:
        on_sat = np.flatnonzero(option == SATELLITE)
        beam = problem.beam[village[on_sat]]
        by_beam = np.argsort(beam, kind="stable")  # keeps buying order within a beam
        running = np.cumsum(problem.sat_demand[village[on_sat]][by_beam])
        starts = np.searchsorted(beam[by_beam], beam[by_beam], side="left")
        used = running - np.concatenate([[0.0], running])[starts]
        over = on_sat[by_beam][used > free_capacity[beam[by_beam]] * (1 + 1e-12)]
        keep = np.ones(len(village), dtype=bool)
        keep[over] = False
        village, option = village[keep], option[keep]
    item_cost = np.maximum(
        problem.cost[village, option] - problem.cost[village, held[village]] * served[village], 0.0
    )
    if problem.has_fibre_tree:  # exact: each unbuilt trench paid by its first buyer
        rank = np.full(problem.n_villages, len(village))
        on_fibre = option == FIBRE
        rank[village[on_fibre]] = np.flatnonzero(on_fibre)
        first_buyer = subtree_reduce(problem.parent, rank, np.minimum)
        paid = (first_buyer < len(village)) & (unbuilt > 0)
        item_cost += np.bincount(first_buyer[paid], weights=unbuilt[paid], minlength=len(village))
    return Upgrades(
        base=base,
        base_cost=plan_cost(problem, *base),
        base_value=plan_benefit(problem, choice),
        village=village,
        option=option,
        spent=np.cumsum(item_cost),
        gained=np.cumsum(gain[village, option]),
    )


def _anchor(
    problem: Problem,
    formulation: Formulation,
    relaxation: LpRelaxation,
    budget: float,
    *,
    time_left_s: float,
    mip_gap: float,
) -> Anchor | None:
    """LP value, price and LP-guided restricted-MILP plan at ``budget``; None if the LP stopped."""
    lp = relaxation.solve(budget, time_left_s)
    log.debug("anchor %.6g: LP %s in %.2f s", budget, lp.status, lp.solve_time_s)
    if lp.status == "infeasible":
        return Anchor(budget, -np.inf, 0.0, None)
    if lp.status != "optimal" or lp.values is None:
        return None
    price = relaxation.budget_price()
    time_left_s -= lp.solve_time_s
    decided = None
    sub = restricted(with_budget(formulation, budget), *lp_restriction(formulation, lp.values))
    if sub is not None and time_left_s > 0:
        sub_formulation, free, fixed = sub
        result = solve_highs(
            sub_formulation, time_limit_s=time_left_s, mip_gap=mip_gap * SUB_GAP_SHARE
        )
        log.debug(
            "anchor %.6g: restricted MILP %s in %.2f s", budget, result.status, result.solve_time_s
        )
        if result.values is not None:
            values = fixed.copy()
            values[free] = np.round(result.values)
            rounded = SolverResult(values, lp.bound, result.status, "highs", result.solve_time_s)
            candidate = decisions(problem, formulation, rounded)
            if _valid(problem, candidate, budget):
                decided = candidate
    value = -np.inf if decided is None else float(plan_benefit(problem, decided[0]))
    milp_bound = np.inf
    lp_value = lp.bound * formulation.benefit_scale
    if not within_gap(value, lp_value, mip_gap) and time_left_s > 0:
        # The restricted MILP found no plan close enough: the full MILP, for part of the time.
        full = solve_highs(
            with_budget(formulation, budget),
            time_limit_s=time_left_s * FULL_MILP_SHARE,
            mip_gap=mip_gap,
        )
        log.debug("anchor %.6g: full MILP %s in %.2f s", budget, full.status, full.solve_time_s)
        milp_bound = full.bound
        if full.values is not None:
            candidate = decisions(problem, formulation, full)
            if _valid(problem, candidate, budget) and plan_benefit(problem, candidate[0]) > value:
                decided = candidate
    return Anchor(budget, lp.bound, price, decided, milp_bound)


def _valid(problem: Problem, decided: Decided, budget: float) -> bool:
    """Meets every constraint of ``problem`` (at its largest budget); spends ≤ ``budget``."""
    return plan_cost(problem, *decided) <= budget and not plan_violations(problem, *decided)


def bounds_at(
    anchors: Sequence[Anchor], budgets: np.ndarray, formulation: Formulation
) -> np.ndarray:
    """Least upper bound on the LP value at each budget (money) the anchors prove (benefit).

    A tangent V(b_k) + λ_k (b − b_k) bounds every budget, a full MILP's dual
    bound every budget at or below its own; an infeasible anchor makes every
    budget at or below it infeasible (−inf).
    """
    bound = np.full(len(budgets), np.inf)
    for anchor in anchors:
        if anchor.lp_value == -np.inf:
            bound[budgets <= anchor.budget] = -np.inf
        elif anchor.price >= 0:
            more_money = (budgets - anchor.budget) / formulation.money_scale
            bound = np.minimum(bound, anchor.lp_value + anchor.price * more_money)
        else:  # a price of the wrong sign (round-off): use only monotonicity
            bound = np.where(budgets <= anchor.budget, np.minimum(bound, anchor.lp_value), bound)
        bound = np.where(budgets <= anchor.budget, np.minimum(bound, anchor.milp_bound), bound)
    return bound * formulation.benefit_scale


def _relative_gap(values: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """(bound − value) / |value|, infinite where there is no plan or its value is 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        gap = (bounds - values) / np.abs(values)
    gap[~np.isfinite(values) | (values == 0)] = np.inf
    gap[bounds <= values] = 0.0
    return gap


def _next_anchor(values: np.ndarray, bounds: np.ndarray, mip_gap: float, tried: set[int]) -> int:
    """Budget index to anchor next (bisecting the untried run with the widest gap); −1: done."""
    gap = _relative_gap(values, bounds)
    open_gap = [
        int(i)
        for i in np.argsort(-gap, kind="stable")
        if i not in tried and not within_gap(values[i], bounds[i], mip_gap)
    ]
    if not open_gap:
        return -1
    widest = open_gap[0]
    below = max((k for k in tried if k < widest), default=-1)
    above = min((k for k in tried if k > widest), default=len(values))
    if above == len(values):
        return len(values) - 1
    return (below + 1 + above - 1) // 2


def frontier(
    problem: Problem,
    budgets: Sequence[float] | np.ndarray,
    *,
    time_limit_s: float = 60.0,
    mip_gap: float = 5e-3,
) -> list[Plan]:
    """Max-benefit plans for every budget in ``budgets`` (money), in the order given.

    Each plan is verified against every constraint at its budget and carries
    a proven upper bound; its status is 'optimal' when it is within
    ``mip_gap`` of that bound, else 'time_limit' (time ran out first) or
    'feasible'. Benefit is non-decreasing in the budget. ``solve_time_s`` of
    each plan is the frontier's whole wall time. Problem's own budget is ignored.
    """
    started = time.perf_counter()
    budget_array = np.asarray(budgets, dtype=float)
    if budget_array.ndim != 1 or budget_array.size == 0:
        raise ValueError("frontier needs a non-empty list of budgets")
    if not np.isfinite(budget_array).all() or (budget_array < 0).any():
        raise ValueError("frontier budgets must be finite and non-negative")
    order = np.argsort(budget_array, kind="stable")
    ascending = budget_array[order]
    top = problem.at_budget(float(ascending[-1]))
    formulation = build_formulation(top)
    usable = np.zeros(problem.cost.shape, dtype=bool)
    usable[formulation.x_village, formulation.x_option] = True
    most = float(np.where(usable, problem.benefit, 0.0).max(axis=1, initial=0.0).sum())
    relaxation = LpRelaxation(formulation)

    def time_left() -> float:
        return time_limit_s - (time.perf_counter() - started)

    nothing: Decided = infrastructure_for(
        problem,
        np.full(problem.n_villages, UNSERVED, dtype=np.int64),
        np.zeros(problem.n_sites, dtype=bool),
    )
    anchors: dict[int, Anchor] = {}
    # (first budget index it may serve, upgrades of its plan): the empty plan, then anchors'.
    extensions: list[tuple[int, Upgrades]] = []
    if not plan_violations(top, *nothing):
        extensions.append((0, upgrades(problem, usable, nothing)))
    tried: set[int] = set()
    values = np.full(len(ascending), -np.inf)
    extension_of = np.full(len(ascending), -1)  # the extension each budget's plan comes from
    priced_at = np.arange(len(ascending))  # the budget whose money bought that plan
    bounds = np.full(len(ascending), most)  # every village at its best: a money-free bound

    def refresh() -> None:
        """Each budget's best plan over the extensions it may use and the smaller budgets."""
        for i, budget in enumerate(ascending):  # a loop over budgets, not villages
            for e, (first, extension) in enumerate(extensions):
                value = extension.value(float(budget)) if first <= i else -np.inf
                if value > values[i]:
                    values[i], extension_of[i], priced_at[i] = value, e, i
            if i and values[i - 1] > values[i]:
                values[i], extension_of[i], priced_at[i] = (
                    values[i - 1],
                    extension_of[i - 1],
                    priced_at[i - 1],
                )
        bounds[:] = np.minimum(bounds, bounds_at(list(anchors.values()), ascending, formulation))

    refresh()
    next_index = _next_anchor(values, bounds, mip_gap, tried)
    while next_index >= 0 and time_left() > 0:
        tried.add(next_index)
        anchor = _anchor(
            top,
            formulation,
            relaxation,
            float(ascending[next_index]),
            time_left_s=time_left(),
            mip_gap=mip_gap,
        )
        if anchor is not None:
            anchors[next_index] = anchor
            if anchor.decided is not None:
                extensions.append((next_index, upgrades(problem, usable, anchor.decided)))
            refresh()
        next_index = _next_anchor(values, bounds, mip_gap, tried)
    elapsed = time.perf_counter() - started
    timed_out = time_left() <= 0
    log.info(
        "frontier: %d budgets, %d anchors, %.1f s, widest gap %.3g",
        len(ascending),
        len(anchors),
        elapsed,
        float(np.max(_relative_gap(values, bounds))),
    )
    plans: list[Plan] = [None] * len(ascending)  # type: ignore[list-item]
    for i, budget in enumerate(ascending):
        if extension_of[i] < 0 or bounds[i] == -np.inf:
            plans[i] = Plan(
                choice=nothing[0],
                sites_built=nothing[1],
                edges_built=nothing[2],
                total_cost=0.0,
                objective=-np.inf,
                bound=float(bounds[i]),
                gap=np.inf,
                status="infeasible" if bounds[i] == -np.inf else "no_solution",
                solver="highs",
                solve_time_s=elapsed,
            )
            continue
        _, extension = extensions[extension_of[i]]
        proven = within_gap(values[i], bounds[i], mip_gap)
        plans[i] = checked_plan(
            problem.at_budget(float(budget)),
            extension.plan(problem, float(ascending[priced_at[i]])),
            scaled_bound=bounds[i] / formulation.benefit_scale,
            formulation=formulation,
            status="optimal" if proven else ("time_limit" if timed_out else "feasible"),
            solver="highs",
            solve_time_s=elapsed,
        )
    in_order: list[Plan] = [None] * len(ascending)  # type: ignore[list-item]
    for rank, index in enumerate(order):
        in_order[index] = plans[rank]
    return in_order
