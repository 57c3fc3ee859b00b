"""``frontier``: plans for many budgets at once, each with a proven upper bound.

Money is priced instead of budgeted (Lagrangian relaxation of the budget
row). Without that row, which ties every column together, the LP is far
easier: at 50,000 villages 1–2 s cold and a fraction of a second warm,
against ~20 s with it.

* **Bounds.** For a price λ the priced LP h(λ) = max benefit − λ·money
  bounds every budget b: LP(b) ≤ h(λ) + λ b. A budget's bound is the least
  of these lines over the prices solved (:func:`lp_bounds`).
* **Prices.** The next price is where the tangents of φ_b(λ) = h(λ) + λ b
  either side of an open budget's optimal price meet (Kelley's cutting
  planes), for the open budget nearest the last price (so the LP re-solves
  warm); at a tie the price a hair beside it finds the tie's other end.
* **Plans.** Each price's LP is rounded (its integral columns fixed, a small
  MILP over the rest, solved to half the gap on the LP's benefit): the
  best plan for what it spends. On large problems a worker process rounds
  each price while this one solves the next LP. Greedy upgrades
  (:func:`upgrades`) grow it into plans for larger budgets; for a budget
  between two prices, the poorer plan is also upgraded using only the
  options the richer LP uses (:func:`_guided_fill`). A budget buys the
  best of these it can afford, or a smaller budget's plan, so benefit never
  falls as the budget grows.
* **Closing gaps.** A budget still open gets the budgeted MILP over the
  columns its two surrounding LPs dispute, then, with time left, the full
  MILP (whose dual bound also bounds every smaller budget).

Everything is chosen from the problem and the budgets alone, so two runs
give the same plans unless the time limit cuts one short.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy import sparse

from coverageplan.optimize.milp import (
    Formulation,
    PricedRelaxation,
    SolverResult,
    build_formulation,
    priced,
    solve_fixed,
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
    INTEGRAL,
    SUB_GAP_SHARE,
    checked_plan,
    decisions,
    full_milp,
    infrastructure_for,
    lp_restrictions,
    within_gap,
)
from coverageplan.processes import ChildWorker

log = logging.getLogger(__name__)

Decided = tuple[np.ndarray, ...]  # (choice, sites_built, edges_built, site_assignment)
MAX_PRICES = 300  # priced LPs at most
LP_SHARE = 0.5  # a budget's LP side settles once an LP value this share of the gap off is reached
TIE_NUDGE = 1e-6  # relative price step to the other end of a tie
SPREAD_SHARE = 0.005  # ... or once the prices either side of it differ this little in spend (of b)
BRACKET_STEP = 1.1  # first price factor towards a budget the points do not yet surround ...
MAX_ONE_SIDED = 8  # ... squared at each further step, this many steps at most
BRACKET_SPREAD = 0.05  # one budget's bracket is close once its ends differ this little (of b)
ROUNDING_GAP_SHARE = 0.5  # a price's rounding MILP: its gap on the LP's benefit, of mip_gap
PARALLEL_ROUNDING_COLUMNS = 20_000  # from this many columns prices are rounded in a worker
FINISH_SHARE = 0.08  # of the time limit, kept for the last rounding and checking every plan


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

    def values(self, budgets: np.ndarray) -> np.ndarray:
        """Benefit of the plan each budget buys; −inf where the base alone costs more."""
        count = np.searchsorted(self.spent, budgets - self.base_cost, side="right")
        gained = np.concatenate([[0.0], self.gained])[count]
        return np.where(budgets >= self.base_cost, self.base_value + gained, -np.inf)

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


def _relative_gap(values: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """(bound − value) / |value|, infinite where there is no plan or its value is 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        gap = (bounds - values) / np.abs(values)
    gap[~np.isfinite(values) | (values == 0)] = np.inf
    gap[bounds <= values] = 0.0
    return gap


@dataclass(frozen=True)
class PricePoint:
    """The priced LP at one price λ (scaled units): h(λ), the money it spends, its solution."""

    price: float
    value: float
    spend: float
    lp_values: np.ndarray  # float32
    decided: Decided | None = None  # the LP rounded: the best plan for what it spends


def lp_bounds(
    points: Sequence[PricePoint], budgets: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(upper, reached, next price, spread) at each budget b (all scaled).

    ``upper`` is min over the points of h(λ) + λ b, a bound on the LP value
    (LP duality). ``reached`` is the LP value h(λ) + λ·spend of the richest
    point spending at most b, which its rounded plan nearly attains; when
    the two are close, b is settled. φ_b(λ) = h(λ) + λ b is convex with
    slope b − spend(λ), so the next price worth solving for b is where the
    tangents at the points either side of b's optimal price meet (Kelley's
    cutting planes); a budget beyond every point's spend, or below it, gets
    a price further out (a quarter, or four times, the nearest one).
    ``spread`` is how much more the price below b's spends than the one above.
    """
    ordered = sorted(points, key=lambda point: point.price)
    price = np.array([point.price for point in ordered])
    value = np.array([point.value for point in ordered])
    spend = np.array([point.spend for point in ordered])
    upper = np.min(value[None, :] + price[None, :] * budgets[:, None], axis=1)
    at_spend = np.where(spend[None, :] <= budgets[:, None], value + price * spend, -np.inf)
    reached = at_spend.max(axis=1)
    above = _richer_index(spend, budgets)
    next_price = np.full(len(budgets), np.nan)
    spread = np.zeros(len(budgets))  # spend between the bracketing prices
    too_rich = above < 0  # b beyond what even the lowest price spends
    next_price[too_rich & (price[0] > 0)] = price[0] / 4  # (at price 0 b does not bind)
    too_poor = above >= len(price) - 1  # every price spends more than b
    next_price[too_poor] = max(price[-1], 1e-12) * 4
    spread[too_poor] = np.inf
    inside = ~too_rich & ~too_poor
    a, c = above[inside], above[inside] + 1
    b = budgets[inside]
    slope_a, slope_c = b - spend[a], b - spend[c]  # < 0 and ≥ 0
    phi_a, phi_c = value[a] + price[a] * b, value[c] + price[c] * b
    with np.errstate(divide="ignore", invalid="ignore"):
        meet = (phi_c - phi_a + slope_a * price[a] - slope_c * price[c]) / (slope_a - slope_c)
    next_price[inside] = np.clip(np.where(np.isfinite(meet), meet, price[a]), price[a], price[c])
    spread[inside] = spend[a] - spend[c]
    return upper, reached, next_price, spread


def _richer_index(spend: np.ndarray, budgets: np.ndarray) -> np.ndarray:
    """Per budget, the index (prices ascending) of the highest price spending more (−1: none).

    Every higher price spends at most the budget, even where round-off makes
    spend dip and rise.
    """
    index = np.arange(len(spend))
    return np.where(spend[None, :] > budgets[:, None], index, -1).max(axis=1)


def _price_point(
    relaxation: PricedRelaxation, price: float, time_left_s: float
) -> tuple[PricePoint | None, str]:
    """The priced LP at ``price`` (None when it stopped early or is infeasible), its status."""
    lp = relaxation.solve(price, time_left_s)
    log.debug("price %.6g: LP %s in %.2f s", price, lp.status, lp.solve_time_s)
    if lp.status != "optimal" or lp.values is None:
        return None, lp.status
    f = relaxation.formulation
    spend = math.fsum(f.money * lp.values)  # exactly rounded: the same on any machine or executor
    return PricePoint(price, lp.bound, spend, lp.values.astype(np.float32)), lp.status


def _rounded(
    problem: Problem,
    formulation: Formulation,
    point: PricePoint,
    *,
    time_left_s: float,
    mip_gap: float,
) -> Decided | None:
    """A price's LP as an integer plan: its integral columns fixed, a priced MILP over the rest.

    The MILP stops within ``mip_gap`` of the LP's benefit (absolute, in
    benefit units): at high prices benefit − λ·money is a small part of the
    benefit, and a gap on it would demand far more than the frontier's
    gap on benefit needs.
    """
    lp_values = point.lp_values.astype(float)
    lower, upper = lp_restrictions(formulation, lp_values)[0]
    values = solve_fixed(
        priced(formulation, point.price),
        lower,
        upper,
        time_limit_s=time_left_s,
        mip_gap=mip_gap,
        absolute_gap=mip_gap * abs(float(formulation.objective @ lp_values)),
    )
    if values is None:
        return None
    return decisions(problem, formulation, SolverResult(values, np.inf, "feasible", "highs", 0.0))


def _valid(problem: Problem, decided: Decided, budget: float) -> bool:
    """Meets every constraint of ``problem`` (at its largest budget); spends ≤ ``budget``."""
    return plan_cost(problem, *decided[:3]) <= budget and not plan_violations(problem, *decided)


def _round_point(
    problem: Problem,
    formulation: Formulation,
    usable: np.ndarray,
    point: PricePoint,
    time_left_s: float,
    mip_gap: float,
) -> tuple[Decided | None, Upgrades | None]:
    """A price's LP rounded into a plan (None: none) and that plan's upgrades."""
    decided = _rounded(
        problem, formulation, point, time_left_s=time_left_s, mip_gap=mip_gap * ROUNDING_GAP_SHARE
    )
    if decided is None or plan_violations(problem, *decided):
        return None, None
    return decided, upgrades(problem, usable, decided)


_WORKER_ROUNDING: list[tuple[Problem, Formulation, np.ndarray]] = []


def _init_rounding_worker(problem: Problem, formulation: Formulation, usable: np.ndarray) -> None:
    _WORKER_ROUNDING[:] = [(problem, formulation, usable)]


def _round_in_worker(
    point: PricePoint, time_left_s: float, mip_gap: float
) -> tuple[Decided | None, Upgrades | None]:
    problem, formulation, usable = _WORKER_ROUNDING[0]
    return _round_point(problem, formulation, usable, point, time_left_s, mip_gap)


class _Rounder:
    """Rounds price points: in a worker process for large problems, else in this one.

    HiGHS's simplex is serial, so while this process solves the next priced
    LP a worker rounds the last one on the second core (at 50,000 villages
    each takes ~0.5 s, as long as a warm LP). Results are collected in
    submission order at fixed points, so the plans do not depend on which
    of the two finishes first.
    """

    def __init__(
        self, problem: Problem, formulation: Formulation, usable: np.ndarray, mip_gap: float
    ) -> None:
        self.local = (problem, formulation, usable)
        self.mip_gap = mip_gap
        self.worker: ChildWorker | None = None
        if formulation.objective.size >= PARALLEL_ROUNDING_COLUMNS and (os.cpu_count() or 1) > 1:
            self.worker = ChildWorker()
            self.worker.submit(_init_rounding_worker, *self.local)
        self.pending: list[int | tuple[int, Decided | None, Upgrades | None]] = []

    def submit(self, index: int, point: PricePoint, time_left_s: float) -> None:
        """Start rounding ``point`` (the ``index``-th price point)."""
        if self.worker is None:
            self.pending.append(
                (index, *_round_point(*self.local, point, time_left_s, self.mip_gap))
            )
        else:
            self.worker.submit(_round_in_worker, point, time_left_s, self.mip_gap)
            self.pending.append(index)

    def collect(self) -> list[tuple[int, Decided | None, Upgrades | None]]:
        """Every submitted rounding, in order, waiting for those still running."""
        out = []
        while self.worker is not None and self.worker.waiting > len(self.pending):
            self.worker.result()  # the initialiser's
        for job in self.pending:
            if isinstance(job, tuple):
                out.append(job)
            else:
                decided, extension = self.worker.result()  # type: ignore[union-attr,misc]
                out.append((job, decided, extension))
        self.pending = []
        return out

    def close(self) -> None:
        if self.worker is not None:
            self.worker.close()


def _guided_fill(
    problem: Problem,
    formulation: Formulation,
    usable: np.ndarray,
    richer: PricePoint,
    poorer: PricePoint,
) -> Upgrades | None:
    """Upgrades of ``poorer``'s plan limited to the options ``richer``'s LP uses.

    Between two prices the LP moves from one solution to the other, so the
    richer LP's options are the ones worth buying with the money between.
    """
    if poorer.decided is None:
        return None
    chosen = richer.lp_values[: formulation.n_x] > INTEGRAL
    support = np.zeros_like(usable)
    support[formulation.x_village[chosen], formulation.x_option[chosen]] = True
    return upgrades(problem, usable & support, poorer.decided)


def bracket(points: Sequence[PricePoint], budget: float) -> tuple[PricePoint, PricePoint] | None:
    """(richer, poorer) around ``budget`` (scaled); None when the points do not surround it.

    Richer is the highest price spending more than the budget, poorer the
    next price up, which spends no more.
    """
    ordered = sorted(points, key=lambda point: point.price)
    spend = np.array([point.spend for point in ordered])
    richer = int(_richer_index(spend, np.array([budget]))[0])
    if richer < 0 or richer + 1 >= len(ordered):
        return None
    return ordered[richer], ordered[richer + 1]


def greedy_price(problem: Problem, formulation: Formulation) -> float:
    """Benefit per money (scaled) of the greedy plan serving everyone: a first price for one budget.

    0 when there is no such plan to read it from (then the search starts where the budget
    does not bind).
    """
    nothing = no_plan(problem)
    if plan_violations(problem.at_budget(np.inf), *nothing):
        return 0.0
    everyone = upgrades(problem, usable_options(problem, formulation), nothing)
    if not everyone.spent.size or everyone.spent[-1] <= 0 or everyone.gained[-1] <= 0:
        return 0.0
    ratio = everyone.gained[-1] / everyone.spent[-1]
    return float(ratio * formulation.money_scale / formulation.benefit_scale)


def budget_bracket(
    relaxation: PricedRelaxation,
    budget: float,
    start_price: float,
    *,
    time_limit_s: float,
    tolerance: float,
) -> tuple[list[PricePoint], str]:
    """Priced LPs around one ``budget``'s price (scaled), from ``start_price``; and the last status.

    Until two points surround the budget the price steps away from the side
    they are all on: by BRACKET_STEP, squared at every further step; up from
    price 0 to the average benefit per money there; down towards 0, where a
    budget that does not bind stops the search. Then Kelley's
    cutting planes on φ(λ) = h(λ) + λ b, until the bound min φ is within
    ``tolerance`` (relative) of the planes' lowest point, so of the LP
    optimum, and the bracketing LPs differ in spend by at most
    BRACKET_SPREAD of b (their union of columns then holds a good plan).
    Fewer points than that when time runs out or an LP fails.
    """
    started = time.perf_counter()
    points: list[PricePoint] = []
    price, one_sided = max(start_price, 0.0), 0
    while len(points) < MAX_PRICES:
        left = time_limit_s - (time.perf_counter() - started)
        if left <= 0:
            return points, "time_limit"
        point, status = _price_point(relaxation, price, left)
        if point is None:
            return points, status
        points.append(point)
        pair = bracket(points, budget)
        known = np.array([p.price for p in points])
        if pair is None:
            one_sided += 1
            if one_sided > MAX_ONE_SIDED:
                return points, status
            factor = BRACKET_STEP ** (2 ** (one_sided - 1))
            if max(p.spend for p in points) <= budget:  # every point affords b: lower the price
                if known.min() == 0:
                    return points, status  # b does not bind
                price = known.min() / factor if one_sided < MAX_ONE_SIDED else 0.0
            elif known.max() == 0:  # from price 0: the average benefit per money it buys
                price = max(point.value, 1e-12) / point.spend
            else:
                price = known.max() * factor
            continue
        richer, _ = pair
        upper, _, next_price, spread = lp_bounds(points, np.array([budget]))
        meet = float(next_price[0])
        # The cutting planes' lowest point: the richer tangent at the meet.
        slope = budget - richer.spend
        lowest = richer.value + richer.price * budget + slope * (meet - richer.price)
        settled = upper[0] - lowest <= tolerance * abs(upper[0])
        if settled and (spread[0] <= BRACKET_SPREAD * budget or upper[0] - lowest <= 0):
            return points, status
        untried = _untried_price(meet, known)
        if untried is None:
            return points, status  # the tie's both ends are known
        price = untried
    return points, "optimal"


def _untried_price(meet: float, known: np.ndarray) -> float | None:
    """``meet``, or at a price already solved a hair to either side (a tie's other end); None.

    At a known price the LP jumps over the budget (a tie): a price a hair
    beside it finds the tie's other end, so only the tied columns stay disputed.
    """
    for candidate in (meet, meet * (1 - TIE_NUDGE), meet * (1 + TIE_NUDGE)):
        if (np.abs(known - candidate) > 1e-9 * max(candidate, 1e-12)).all():
            return candidate
    return None


def _monotone(values: np.ndarray, source: np.ndarray) -> tuple[np.ndarray, ...]:
    """(value, source, budget buying it): each budget's best over its plans and smaller budgets'.

    A budget keeps its own plan unless a smaller budget's is strictly better.
    """
    best = np.maximum.accumulate(values)
    priced_at = np.maximum.accumulate(np.where(values >= best, np.arange(len(values)), 0))
    return best, source[priced_at], priced_at


def frontier(
    problem: Problem,
    budgets: Sequence[float] | np.ndarray,
    *,
    time_limit_s: float = 60.0,
    mip_gap: float = 5e-3,
) -> list[Plan]:
    """Max-benefit plans for every budget in ``budgets`` (money), in the order given.

    Money is priced instead of budgeted (Lagrangian relaxation of the budget
    row). For a price λ the priced LP h(λ) bounds every budget b by
    h(λ) + λ b, and its rounded solution, the best plan for what it spends,
    grows into plans for larger budgets by greedy upgrades. Prices are
    chosen for budgets whose plan is not yet within ``mip_gap`` of its bound
    (see the module docstring); budgets no new price can sharpen get MILPs.

    Each plan is verified against every constraint at its budget and carries
    its proven upper bound; its status is 'optimal' when within ``mip_gap``
    of it, else 'time_limit' (time ran out first) or 'feasible'. Benefit is
    non-decreasing in the budget. ``solve_time_s`` of each plan is the
    frontier's whole wall time. The work done depends only on the problem
    and the budgets, not on timing, unless the time limit cuts it short.
    Problem's own budget is ignored.
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
    scaled_budgets = ascending / formulation.money_scale
    usable = usable_options(problem, formulation)
    most = float(np.where(usable, problem.benefit, 0.0).max(axis=1, initial=0.0).sum())
    relaxation = PricedRelaxation(formulation)

    def time_left() -> float:
        """Seconds left for the search; the rest of the limit is for checking the plans."""
        return time_limit_s * (1 - FINISH_SHARE) - (time.perf_counter() - started)

    points: list[PricePoint] = []
    values = np.full(len(ascending), -np.inf)
    source = np.full(len(ascending), -1)  # index into extensions; −2: a bracket plan
    extensions: list[Upgrades] = []
    bracket_plans: dict[int, Decided] = {}

    def add(extension: Upgrades | None) -> None:
        if extension is None:
            return
        extensions.append(extension)
        reach = extension.values(ascending)
        better = reach > values
        values[better], source[better] = reach[better], len(extensions) - 1

    def open_gaps() -> np.ndarray:
        return _relative_gap(_monotone(values, source)[0], bounds)

    nothing = no_plan(problem)
    if not plan_violations(top, *nothing):
        add(upgrades(problem, usable, nothing))
    infeasible = False
    bounds = np.full(len(ascending), most)
    stuck = np.zeros(len(ascending), dtype=bool)  # budgets no new price can help
    filled_from: set[tuple[float, float]] = set()  # the price pairs guided fills came from
    rounded: set[float] = set()  # prices whose rounding is in

    def collect_roundings() -> None:
        """Take in the roundings submitted so far; fill open budgets their prices bracket."""
        waited = time.perf_counter()
        collected = rounder.collect()
        log.debug("frontier: waited %.2f s for roundings", time.perf_counter() - waited)
        for index, decided, extension in collected:
            points[index] = replace(points[index], decided=decided)
            rounded.add(points[index].price)
            add(extension)
        if not points:
            return
        # Open budgets whose surrounding prices changed: the poorer plan upgraded
        # towards the richer LP.
        for open_budget in scaled_budgets[open_gaps() > mip_gap]:
            pair = bracket(points, float(open_budget))
            if pair is None or pair[1].price not in rounded:
                continue
            if (pair[0].price, pair[1].price) not in filled_from:
                filled_from.add((pair[0].price, pair[1].price))
                add(_guided_fill(top, formulation, usable, *pair))

    rounder = _Rounder(top, formulation, usable, mip_gap)
    price = 0.0  # first: does the budget bind at all?
    try:
        while time_left() > 0 and len(points) < MAX_PRICES:
            point, status = _price_point(relaxation, price, time_left())
            if point is None:
                infeasible = status == "infeasible"  # the rows beside the budget: at any price
                break
            points.append(point)
            upper, reached, next_price, spread = lp_bounds(points, scaled_budgets)
            bounds = np.minimum(most, upper * formulation.benefit_scale)
            # The last price's rounding ran beside this LP; this one's runs beside the next.
            collect_roundings()
            rounder.submit(len(points) - 1, point, time_left())
            if len(points) == 1 and point.spend > scaled_budgets[0]:
                price = max(point.value, 1e-12) / point.spend  # the average benefit per money
                continue
            # A budget wants a new price while its LP side is unsettled: no LP value near
            # its bound at or below it, and the prices either side still far apart in spend.
            gap = open_gaps()
            wants_price = (
                (gap > mip_gap)
                & (_relative_gap(reached, upper) > mip_gap * LP_SHARE)
                & (spread > SPREAD_SHARE * scaled_budgets)
                & ~stuck
            )
            log.debug(
                "frontier: %d prices, %d budgets open, %d want a price, widest %.3g",
                len(points),
                int((gap > mip_gap).sum()),
                int(wants_price.sum()),
                float(gap.max()),
            )
            # The open budget whose price is nearest the last one (the LP re-solves warm).
            known = np.array([p.price for p in points])
            chosen = None
            for nearest in np.argsort(np.abs(next_price - price), kind="stable"):
                if not wants_price[nearest]:
                    continue
                chosen = _untried_price(float(next_price[nearest]), known)
                if chosen is not None:
                    break
                stuck[nearest] = True
            if chosen is None:
                break
            price = chosen
        collect_roundings()
    finally:
        rounder.close()
    # Budgets still open: the budgeted MILP over the columns their bracketing prices
    # dispute, widest gap first; each plan's upgrades may close its neighbours too.
    tried = np.zeros(len(ascending), dtype=bool)

    def widest_untried() -> int | None:
        """The open budget with the widest gap not tried yet (marked tried), or None."""
        gap = np.where(tried, 0.0, open_gaps())
        widest = int(np.argmax(gap))
        if gap[widest] <= mip_gap:
            return None
        tried[widest] = True
        return widest

    while len(points) >= 2 and time_left() > 0 and (widest := widest_untried()) is not None:
        decided = _bracket_plan(
            top, formulation, points, float(ascending[widest]), time_left(), mip_gap
        )
        if decided is None or not _valid(top, decided, float(ascending[widest])):
            continue
        benefit = plan_benefit(problem, decided[0])
        if benefit > values[widest]:
            values[widest], source[widest] = benefit, -2
            bracket_plans[widest] = decided
        add(upgrades(problem, usable, decided))
    # Still open (on small problems the LP bound itself can be loose): the full MILP, whose
    # dual bound also bounds every smaller budget, with the time left.
    tried[:] = False
    while time_left() > 0 and (widest := widest_untried()) is not None:
        at_budget = with_budget(formulation, float(ascending[widest]))
        result = full_milp(at_budget, time_limit_s=time_left(), mip_gap=mip_gap * SUB_GAP_SHARE)
        bounds[: widest + 1] = np.minimum(
            bounds[: widest + 1], result.bound * formulation.benefit_scale
        )
        if result.values is None:
            continue
        decided = decisions(problem, formulation, result)
        if _valid(top, decided, float(ascending[widest])):
            benefit = plan_benefit(problem, decided[0])
            if benefit > values[widest]:
                values[widest], source[widest] = benefit, -2
                bracket_plans[widest] = decided
    if infeasible:
        bounds[:] = -np.inf
    values, source, priced_at = _monotone(values, source)
    elapsed = time.perf_counter() - started
    timed_out = time_left() <= 0
    log.info(
        "frontier: %d budgets, %d prices, %d bracket MILPs, %.1f s, widest gap %.3g",
        len(ascending),
        len(points),
        len(bracket_plans),
        elapsed,
        float(np.max(_relative_gap(values, bounds))),
    )
    plans: list[Plan] = [None] * len(ascending)  # type: ignore[list-item]
    for i, budget in enumerate(ascending):
        if source[i] == -1 or bounds[i] == -np.inf:
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
        if source[i] == -2:
            decided = bracket_plans[int(priced_at[i])]
        else:
            decided = extensions[source[i]].plan(problem, float(ascending[priced_at[i]]))
        proven = within_gap(values[i], bounds[i], mip_gap)
        plans[i] = checked_plan(
            problem.at_budget(float(budget)),
            decided,
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


def _bracket_plan(
    problem: Problem,
    formulation: Formulation,
    points: Sequence[PricePoint],
    budget: float,
    time_left_s: float,
    mip_gap: float,
) -> Decided | None:
    """A plan at ``budget``: the budgeted MILP free only where the two bracketing LPs disagree.

    The LP at b is (near) a mix of the solutions at the prices either side of
    b's price; columns both hold at the same integral value stay fixed.
    """
    pair = bracket(points, budget / formulation.money_scale)
    if pair is None:
        return None
    a, c = (point.lp_values.astype(float) for point in pair)
    agree = (np.abs(a - c) <= INTEGRAL) & ((a <= INTEGRAL) | (a >= 1 - INTEGRAL))
    upper = np.where(agree & (a <= INTEGRAL), 0.0, 1.0)
    # First with the agreed columns fixed; if that has no plan (rounding infrastructure up
    # can cost more than b), with the villages' choices on the support left free.
    at_budget = with_budget(formulation, budget)
    for lower in (
        np.where(agree & (a >= 1 - INTEGRAL), 1.0, 0.0),
        np.where(agree & (a >= 1 - INTEGRAL) & (np.arange(a.size) >= formulation.n_x), 1.0, 0.0),
    ):
        values = solve_fixed(
            at_budget, lower, upper, time_limit_s=time_left_s, mip_gap=mip_gap * SUB_GAP_SHARE
        )
        if values is not None:
            return decisions(
                problem, formulation, SolverResult(values, np.inf, "feasible", "highs", 0.0)
            )
    return None
