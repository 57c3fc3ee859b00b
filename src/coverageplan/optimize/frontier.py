"""``frontier``: plans for many budgets at once, each with a proven upper bound.

One formulation is built at the largest budget and its LP relaxation kept
alive in HiGHS, so moving the budget row re-solves warm.

* **Bounds.** The LP is solved at every budget, largest first, each re-solve
  warm from the last (within ``LP_TIME_SHARE`` of the time). Its value V(b)
  is concave in the budget (LP duality), so each solved budget k bounds
  every budget: V(b) ≤ V(b_k) + λ_k (b − b_k), with λ_k the budget row's
  shadow price. A budget's bound is the least of these lines.
* **Plans.** Greedy upgrades (:func:`upgrades`) of the empty plan and of
  each anchor plan are sorted once; a budget buys the longest prefix it
  can afford (one ``searchsorted``). A budget's plan is the best of these
  over the anchors at or below it and of every smaller budget's plan, so
  benefit never falls as the budget grows.
* **Anchors.** While some plan is more than ``mip_gap`` below its bound and
  time is left, the budget with the widest gap gets an integer plan from
  the MILP restricted to its LP's support (as in
  :func:`~coverageplan.optimize.solve.solve_lp_guided`), and its upgrades
  join the greedy fills.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy import sparse

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

Decided = tuple[np.ndarray, ...]  # (choice, sites_built, edges_built, site_assignment)
FULL_MILP_SHARE = 0.5  # of the time left, for an anchor the restricted MILP could not settle
LP_TIME_SHARE = 0.4  # of the time limit, at most, for the LP bounds


@dataclass(frozen=True)
class Anchor:
    """A budget (money) where the LP was solved: value and price (scaled units), integer plan."""

    budget: float
    lp_value: float
    price: float
    lp_values: np.ndarray | None  # the LP solution (float32), kept until a plan is made here
    decided: Decided | None = None
    milp_bound: float = np.inf  # the full MILP's dual bound here, when it had to run


@dataclass(frozen=True)
class Upgrades:
    """A plan and its greedy upgrades in buying order (money, benefit: problem units).

    An upgrade is one village moving to a better option, or one new site
    moving the villages it covers to cellular. Each village is credited to
    the first upgrade that claims it, so buying the first k upgrades costs
    exactly ``spent[k-1]`` more than the base (never less) and gains
    ``gained[k-1]``.
    """

    base: Decided
    base_cost: float
    base_value: float
    claim_rank: np.ndarray  # (n,) rank of the upgrade that moves each village (len: none)
    claim_option: np.ndarray  # (n,) the option it moves to
    site_rank: np.ndarray  # (m,) rank of the upgrade that builds each site (len: none)
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
        moved = self.claim_rank < count
        choice[moved] = self.claim_option[moved]
        # With site capacity no upgrade moves a village to cellular: the base's assignment holds.
        assignment = self.base[3] if problem.has_site_capacity else None
        return infrastructure_for(
            problem, choice, self.base[1] | (self.site_rank < count), assignment
        )


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
    """Greedy upgrades of ``base``, ordered by benefit gained per money.

    Village upgrades move one village to its best option by that ratio:
    cellular under a site already there, fibre with the unbuilt trenches to
    the network, satellite within its beam's free capacity (shared out in
    buying order). Site upgrades build one new site and move to cellular the
    villages it covers that gain by it. For the order, a trench's cost is
    shared among the fibre candidates below it and a site's villages are
    counted as if no other site had them; then costs are made exact: a
    village belongs to the first upgrade that claims it (later ones lose it,
    and upgrades left with nothing are dropped) and a trench is paid by the
    first fibre upgrade that needs it. Savings are not counted, targets never
    lose weight, and consolidated villages and their hosts keep their
    option. With site capacity no upgrade moves a village to cellular (the
    anchors' MILP plans carry the assignments). No loop over villages or sites.
    """
    choice, sites_built, edges_built, _ = base
    n, m = problem.n_villages, problem.n_sites
    rows = np.arange(n)
    served = choice >= 0
    held = np.where(served, choice, 0)
    gain = problem.benefit - np.where(served, problem.benefit[rows, held], 0.0)[:, None]
    extra = np.maximum(problem.cost - np.where(served, problem.cost[rows, held], 0.0)[:, None], 0.0)
    allowed = usable & (gain > 0)
    if problem.n_options > CONSOLIDATE:
        allowed[:, CONSOLIDATE] = False
    frozen = choice == CONSOLIDATE
    frozen[problem.host[frozen]] = True
    allowed[frozen] = False
    if problem.has_site_capacity:
        allowed[:, CELLULAR] = False
    for weight in problem.target_weight:  # never lose ground on a coverage target
        allowed &= weight >= np.where(served, weight[rows, held], 0.0)[:, None]
    new_site_members = sparse.csr_matrix((n, m), dtype=bool)
    if problem.has_cellular:
        reached = problem.existing_cover | (problem.cover @ sites_built.astype(np.int64) > 0)
        wants_site = allowed[:, CELLULAR] & ~reached
        allowed[:, CELLULAR] &= reached
        pair = problem.cover.tocoo()
        keep = wants_site[pair.row] & ~sites_built[pair.col]
        new_site_members = sparse.csr_matrix(
            (np.ones(int(keep.sum()), dtype=bool), (pair.row[keep], pair.col[keep])), shape=(n, m)
        )
    unbuilt = np.zeros(n)
    ranking_extra = extra.copy()
    if problem.has_fibre_tree:
        unbuilt = np.where(edges_built, 0.0, problem.edge_cost)
        sharing = subtree_reduce(problem.parent, allowed[:, FIBRE].astype(float), np.add)
        ranking_extra[:, FIBRE] += cost_to_network(problem.parent, unbuilt / np.maximum(sharing, 1))
    if problem.has_beams:
        load = np.bincount(
            problem.beam,
            weights=problem.sat_demand * (choice == SATELLITE),
            minlength=len(problem.beam_capacity),
        )
        free_capacity = problem.beam_capacity - load
        allowed[:, SATELLITE] &= problem.sat_demand <= free_capacity[problem.beam]

    # Village upgrades: the best ratio per village (free ones: the largest gain).
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(ranking_extra > 0, gain / ranking_extra, np.inf)
    ratio[~allowed] = -np.inf
    free = allowed & (ranking_extra == 0)
    option = np.where(
        free.any(axis=1), np.where(free, gain, -np.inf).argmax(axis=1), ratio.argmax(axis=1)
    )
    village = np.flatnonzero(allowed[rows, option])
    option = option[village]
    # Site upgrades, ranked as if each site had its villages alone.
    cellular_gain = gain[:, CELLULAR] if problem.has_cellular else np.zeros(n)
    cellular_extra = extra[:, CELLULAR] if problem.has_cellular else np.zeros(n)
    site_gain = new_site_members.T @ cellular_gain
    site_extra = problem.site_cost + new_site_members.T @ cellular_extra
    site = np.flatnonzero(site_gain > 0)
    with np.errstate(divide="ignore"):
        site_ratio = np.where(site_extra[site] > 0, site_gain[site] / site_extra[site], np.inf)

    # One buying order over both kinds: village upgrades then site upgrades as item ids.
    item_ratio = np.concatenate([ratio[village, option], site_ratio])
    item_gain = np.concatenate([gain[village, option], site_gain[site]])
    order = np.lexsort((-item_gain, -item_ratio))
    total = len(order)
    village_item = np.full(n, -1)  # rank of each village's own upgrade
    rank_of = np.empty(total, dtype=np.int64)
    rank_of[order] = np.arange(total)
    if problem.has_beams:  # satellite capacity in buying order; over-capacity upgrades dropped
        on_sat = np.flatnonzero(option == SATELLITE)
        by_rank = on_sat[np.argsort(rank_of[on_sat], kind="stable")]
        beam = problem.beam[village[by_rank]]
        by_beam = np.argsort(beam, kind="stable")
        running = np.cumsum(problem.sat_demand[village[by_rank]][by_beam])
        starts = np.searchsorted(beam[by_beam], beam[by_beam], side="left")
        used = running - np.concatenate([[0.0], running])[starts]
        over = by_rank[by_beam][used > free_capacity[beam[by_beam]] * (1 + 1e-12)]
        rank_of[over] = total  # never bought
    village_item[village] = rank_of[: len(village)]
    village_item[village_item < 0] = total
    site_item = np.full(m, total)
    site_item[site] = rank_of[len(village) :]
    # First claim wins: a village goes to the earlier of its own upgrade and its first new site.
    members = new_site_members.tocsr()
    first_site = np.full(n, total)
    has_members = np.diff(members.indptr) > 0
    if members.nnz:
        ranks = site_item[members.indices]
        first_site[has_members] = np.minimum.reduceat(ranks, members.indptr[:-1][has_members])
    claim_rank = np.minimum(village_item, first_site)
    claim_option = np.where(village_item <= first_site, -1, CELLULAR)
    claim_option[village] = np.where(village_item[village] <= first_site[village], option, CELLULAR)
    claim_rank[claim_rank >= total] = total
    claimed = claim_rank < total

    # Exact gain and money per item from the claims, fibre trenches to their first buyer.
    item_value = np.bincount(
        claim_rank[claimed],
        weights=gain[rows[claimed], claim_option[claimed]],
        minlength=total,
    )
    item_money = np.bincount(
        claim_rank[claimed],
        weights=extra[rows[claimed], claim_option[claimed]],
        minlength=total,
    )
    built_now = site_item < total
    item_money += np.bincount(
        site_item[built_now], weights=problem.site_cost[built_now], minlength=total
    )
    if problem.has_fibre_tree:
        fibre_rank = np.where(claimed & (claim_option == FIBRE), claim_rank, total)
        first_buyer = subtree_reduce(problem.parent, fibre_rank, np.minimum)
        paid = (first_buyer < total) & (unbuilt > 0)
        item_money += np.bincount(first_buyer[paid], weights=unbuilt[paid], minlength=total)
    # Drop upgrades left with no gain (claimed away or over capacity), then renumber;
    # index ``total`` stands for "never".
    bought = np.append(item_value > 0, False)
    kept = int(bought.sum())
    new_rank = np.append(np.cumsum(bought[:-1]) - 1, kept)
    claim_rank = np.where(bought[claim_rank], new_rank[claim_rank], kept)
    site_rank = np.where(bought[site_item], new_rank[site_item], kept)
    return Upgrades(
        base=base,
        base_cost=plan_cost(problem, *base[:3]),
        base_value=plan_benefit(problem, choice),
        claim_rank=claim_rank,
        claim_option=np.where(claim_rank < kept, claim_option, UNSERVED),
        site_rank=site_rank,
        spent=np.cumsum(item_money[bought[:-1]]),
        gained=np.cumsum(item_value[bought[:-1]]),
    )


def usable_options(problem: Problem, formulation: Formulation) -> np.ndarray:
    """(n, k) bool: the (village, option) pairs the formulation kept as variables."""
    usable = np.zeros(problem.cost.shape, dtype=bool)
    usable[formulation.x_village, formulation.x_option] = True
    return usable


def no_plan(problem: Problem) -> Decided:
    """Decisions that serve nobody and build nothing."""
    choice = np.full(problem.n_villages, UNSERVED, dtype=np.int64)
    return infrastructure_for(problem, choice, np.zeros(problem.n_sites, dtype=bool))


def greedy_full_cost(problem: Problem) -> float:
    """Money the greedy upgrades spend when nothing limits them: a top for budget ranges."""
    usable = usable_options(problem, build_formulation(problem.at_budget(np.inf)))
    everyone = upgrades(problem, usable, no_plan(problem)).plan(problem, np.inf)
    return plan_cost(problem, *everyone[:3])


def _lp_anchor(relaxation: LpRelaxation, budget: float, time_left_s: float) -> Anchor | None:
    """LP value and budget price at ``budget`` (warm re-solve); None if the LP stopped early."""
    lp = relaxation.solve(budget, time_left_s)
    log.debug("anchor %.6g: LP %s in %.2f s", budget, lp.status, lp.solve_time_s)
    if lp.status == "infeasible":
        return Anchor(budget, -np.inf, 0.0, None)
    if lp.status != "optimal" or lp.values is None:
        return None
    return Anchor(budget, lp.bound, relaxation.budget_price(), lp.values.astype(np.float32))


def _plan_anchor(
    problem: Problem,
    formulation: Formulation,
    anchor: Anchor,
    *,
    time_left_s: float,
    mip_gap: float,
) -> Anchor:
    """The anchor with an integer plan: the MILP restricted to its LP's support.

    Only when that finds no plan does the full MILP run, for part of the time
    left; its dual bound then bounds every budget at or below this one.
    """
    assert anchor.lp_values is not None
    started = time.perf_counter()
    budget = anchor.budget
    at_budget = with_budget(formulation, budget)
    decided, milp_bound = None, np.inf
    lp_values = anchor.lp_values.astype(float)
    sub = restricted(at_budget, *lp_restriction(formulation, lp_values))
    if sub is not None:
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
            rounded = SolverResult(values, anchor.lp_value, result.status, "highs", 0.0)
            candidate = decisions(problem, formulation, rounded)
            if _valid(problem, candidate, budget):
                decided = candidate
    time_left_s -= time.perf_counter() - started
    if decided is None and time_left_s > 0:
        full = solve_highs(at_budget, time_limit_s=time_left_s * FULL_MILP_SHARE, mip_gap=mip_gap)
        log.debug("anchor %.6g: full MILP %s in %.2f s", budget, full.status, full.solve_time_s)
        milp_bound = full.bound
        if full.values is not None:
            candidate = decisions(problem, formulation, full)
            if _valid(problem, candidate, budget):
                decided = candidate
    return replace(anchor, lp_values=None, decided=decided, milp_bound=milp_bound)


def _valid(problem: Problem, decided: Decided, budget: float) -> bool:
    """Meets every constraint of ``problem`` (at its largest budget); spends ≤ ``budget``."""
    return plan_cost(problem, *decided[:3]) <= budget and not plan_violations(problem, *decided)


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
    usable = usable_options(problem, formulation)
    most = float(np.where(usable, problem.benefit, 0.0).max(axis=1, initial=0.0).sum())
    relaxation = LpRelaxation(formulation)

    def time_left() -> float:
        return time_limit_s - (time.perf_counter() - started)

    nothing = no_plan(problem)
    anchors: dict[int, Anchor] = {}
    # (first budget index it may serve, upgrades of its plan): the empty plan, then anchors'.
    extensions: list[tuple[int, Upgrades]] = []
    if not plan_violations(top, *nothing):
        extensions.append((0, upgrades(problem, usable, nothing)))
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

    # Bounds: the LP at every budget, largest first, each re-solve warm from the last,
    # within a share of the time.
    for i in range(len(ascending) - 1, -1, -1):
        if time_left() <= time_limit_s * (1 - LP_TIME_SHARE):
            break
        anchor = _lp_anchor(relaxation, float(ascending[i]), time_left())
        if anchor is not None:
            anchors[i] = anchor
    refresh()
    # Plans: an integer plan at the anchor with the widest gap, until all are close.
    while time_left() > 0:
        gap = _relative_gap(values, bounds)
        open_anchor = [
            i
            for i in np.argsort(-gap, kind="stable")
            if i in anchors
            and anchors[i].lp_values is not None
            and not within_gap(values[i], bounds[i], mip_gap)
        ]
        if not open_anchor:
            break
        index = int(open_anchor[0])
        anchors[index] = _plan_anchor(
            top, formulation, anchors[index], time_left_s=time_left(), mip_gap=mip_gap
        )
        decided = anchors[index].decided
        if decided is not None:
            extensions.append((index, upgrades(problem, usable, decided)))
        refresh()
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
                site_assignment=nothing[3],
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
