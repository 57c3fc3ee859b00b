"""Policy: eligibility by area class, who pays what, benefits and targets → the Problem.

* **Eligibility** follows task 9 of the 2016 national informatization strategy
  (DESIGN.md): ``developed`` areas take fibre, with cellular or satellite only
  where fibre cannot reach; every other class may use any technology; the
  scenario's ``policy.eligible`` overrides a class's list. A village existing
  4G already covers counts as served by cellular in every class (the
  universal-service definition of a covered village), at no new cost.
* **Centralised placement**: a dispersed village of a harsh class may move its
  households to its nearest larger village within reach (the host), which must
  then be served.
* **Public cost** by subsidy mechanism (:func:`public_costs`).
* **Benefit** = population × priority × the weight of the speed tier the
  option delivers (0 below the lowest tier) × adoption (lower where the price
  is unaffordable).
* **Targets**: a share of the population (of one class, or all) served at a
  tier or better.

Points are priced in batches (:func:`build_problems`): costs and benefits
carry a leading point axis, P scenario points that share everything but their
batched sections (costs, demand figures, subsidy, budget).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from coverageplan.economics import (
    MONTHS,
    N_OPTIONS,
    CostItems,
    Economics,
    Stacked,
    annuity_factor,
    entry_values,
    per_point,
    reduce_segments,
)
from coverageplan.engineering import Reach
from coverageplan.errors import InfeasibleError
from coverageplan.optimize import CELLULAR, CONSOLIDATE, FIBRE, SATELLITE, Problem
from coverageplan.scenario import (
    OPTIONS,
    REGION_CLASSES,
    Consolidation,
    Demand,
    Policy,
    Subsidy,
    Target,
)

TECHNOLOGIES = OPTIONS[:3]
DEFAULT_ELIGIBLE: dict[str, tuple[str, ...]] = {
    "developed": ("fibre",),
    "central": TECHNOLOGIES,
    "western": TECHNOLOGIES,
    "border": TECHNOLOGIES,
    "remote": TECHNOLOGIES,
    "pastoral": TECHNOLOGIES,
    "island": TECHNOLOGIES,
}
FALLBACK_WHEN_NO_FIBRE: dict[str, tuple[str, ...]] = {"developed": ("cellular", "satellite")}


@dataclass(frozen=True)
class Villages:
    """The village attributes policy needs, as arrays by position.

    ``income_usd_per_month`` per capita, None when the data has none;
    ``dispersion`` 0-1; ``priority`` weight ≥ 0.
    """

    population: np.ndarray
    households: np.ndarray
    region_class: np.ndarray
    priority: np.ndarray
    dispersion: np.ndarray
    income_usd_per_month: np.ndarray | None


def class_index(region_class: np.ndarray) -> np.ndarray:
    """Position of each village's class in ``REGION_CLASSES`` (classes already validated)."""
    names = np.asarray(REGION_CLASSES)
    order = np.argsort(names)
    return order[np.searchsorted(names[order], np.asarray(region_class, dtype=str))]


def classify_by_rules(
    distance_to_network_m: np.ndarray, slope_deg: np.ndarray, policy: Policy
) -> np.ndarray:
    """Area class per village from remoteness and terrain (``policy.class_rules``).

    ``developed`` near the fibre network on gentle ground; ``remote`` far from
    it or on harsh slopes; otherwise ``policy.default_region_class``.
    """
    rules = policy.class_rules
    developed = (distance_to_network_m <= rules.developed_within_m) & (
        slope_deg < rules.gentle_slope_deg
    )
    remote = (distance_to_network_m > rules.remote_beyond_m) | (slope_deg >= rules.harsh_slope_deg)
    return np.select([developed, remote], ["developed", "remote"], policy.default_region_class)


def eligibility_table(policy: Policy) -> np.ndarray:
    """Bool (classes × technologies): the defaults with the scenario's overrides applied."""
    table = np.zeros((len(REGION_CLASSES), len(TECHNOLOGIES)), dtype=bool)
    for row, name in enumerate(REGION_CLASSES):
        allowed = policy.eligible.get(name, DEFAULT_ELIGIBLE[name])  # type: ignore[call-overload]
        table[row] = np.isin(TECHNOLOGIES, allowed)
    return table


def eligible_technologies(
    region_class: np.ndarray,
    fibre_reachable: np.ndarray,
    existing_cover: np.ndarray,
    policy: Policy,
) -> np.ndarray:
    """Bool (n, 3): technologies each village may use under the policy."""
    classes = class_index(region_class)
    eligible = eligibility_table(policy)[classes]
    eligible[:, FIBRE] &= fibre_reachable
    for name, fallback in FALLBACK_WHEN_NO_FIBRE.items():
        if name in policy.eligible:
            continue
        stranded = (classes == REGION_CLASSES.index(name)) & ~fibre_reachable
        eligible[np.ix_(stranded, np.isin(TECHNOLOGIES, fallback))] = True
    eligible[:, CELLULAR] |= existing_cover
    return eligible


def consolidation_hosts(
    village_xy: np.ndarray, population: np.ndarray, settings: Consolidation, neighbours: int = 8
) -> np.ndarray:
    """Each village's host: its nearest larger village within ``max_distance_m``, else −1."""
    n = len(village_xy)
    if not settings.enabled or n < 2:
        return np.full(n, -1, dtype=np.int64)
    k = min(neighbours + 1, n)
    distance, nearest = cKDTree(village_xy).query(village_xy, k=k)
    distance, nearest = distance[:, 1:], nearest[:, 1:]
    larger = (population[nearest] > population[:, None]) & (distance <= settings.max_distance_m)
    first = larger.argmax(axis=1)
    return np.where(larger.any(axis=1), nearest[np.arange(n), first], -1).astype(np.int64)


def may_consolidate(villages: Villages, host: np.ndarray, settings: Consolidation) -> np.ndarray:
    """Bool (n,): consolidation allowed (enabled, dispersed, harsh class, a host)."""
    if not settings.enabled:
        return np.zeros(len(host), dtype=bool)
    harsh = np.isin(villages.region_class, settings.classes)
    return harsh & (villages.dispersion >= settings.min_dispersion) & (host >= 0)


def tier_index(speed_mbps: np.ndarray, demand: Demand) -> np.ndarray:
    """Index of the highest tier each speed reaches, −1 below the lowest (or NaN).

    Tiers ascend (the schema checks), so the index is the number of tiers
    reached − 1: one comparison per tier.
    """
    index = np.full(np.shape(speed_mbps), -1, dtype=np.intp)
    for tier in demand.tiers:
        index += speed_mbps >= tier.min_mbps
    return index


def benefit(villages: Villages, econ: Economics, demand: Demand) -> np.ndarray:
    """Population × priority × tier weight × adoption per option: (P, n, 4), a row per ``econ`` row.

    The tier weight is that of the speed the option delivers (0 below the
    lowest tier); adoption scales down options priced beyond what the
    village can afford (fewer households take them).
    """
    weights = np.append(np.asarray([tier.weight for tier in demand.tiers]), 0.0)  # [-1] → 0
    tier_weight = weights[tier_index(econ.speed_mbps, demand)]
    return (villages.population * villages.priority)[None, :, None] * tier_weight * econ.adoption


def _scaled(
    items: CostItems, share: np.ndarray, opex_years: np.ndarray, rate: np.ndarray
) -> np.ndarray:
    """``share`` × (capex + opex for ``opex_years``) per item and point; broadcast over options.

    ``share`` and ``opex_years`` (P, items); ``rate`` (P,).
    """
    years = annuity_factor(per_point(rate, 2), opex_years)
    if items.capex_usd.ndim == 3:
        share, years = share[..., None], years[..., None]
    return share * (items.capex_usd + items.opex_usd_per_year * years)


def path_cost(parent: np.ndarray, edge_cost: np.ndarray) -> np.ndarray:
    """(P, n) cost of each village's whole path of trenches to the network.

    ``parent`` (n,) the fibre tree (−1: joins the network); ``edge_cost``
    (P, n). Pointer doubling: each round adds the sums already gathered by
    the ancestor it points to, so ⌈log2 depth⌉ rounds cover every path.
    """
    total = np.array(edge_cost, dtype=float)
    ancestor = np.asarray(parent, dtype=np.int64).copy()
    for _ in range(int(np.ceil(np.log2(max(len(ancestor), 2)))) + 1):
        above = np.flatnonzero(ancestor >= 0)
        if not len(above):
            return total
        total[:, above] += total[:, ancestor[above]]
        ancestor[above] = ancestor[ancestor[above]]
    raise ValueError("path_cost: the fibre tree has a cycle")


PublicCosts = tuple[np.ndarray, np.ndarray, np.ndarray]
"""Money per (point, village, option), per (point, site) and per (point, trench)."""


def standalone_cost_usd(npc: PublicCosts, cell_subscribers: np.ndarray, reach: Reach) -> np.ndarray:
    """(P, n, 4) modelled cost of serving each village alone with each option (NPC, USD).

    ``npc``: net present costs of the villages' own items, sites and
    trenches; ``cell_subscribers`` (P, n). Cellular adds the village's
    pro-rata share (by subscribers) of the cheapest covering new site
    (nothing where existing 4G covers it); fibre adds its whole path of
    trenches to the network.
    """
    village_npc, site_npc, edge_npc = npc
    cost = village_npc.copy()
    cover = reach.radio.cover.tocsr()
    covered = np.asarray(cover.T.astype(float) @ cell_subscribers.T).T
    village_of_entry = np.repeat(np.arange(cover.shape[0]), np.diff(cover.indptr))
    share = entry_values(cell_subscribers, village_of_entry) * entry_values(
        site_npc / np.maximum(covered, 1e-9), cover.indices
    )
    cheapest = reduce_segments(np.minimum, share, cover.indptr, np.inf)
    cost[..., CELLULAR] += np.where(reach.radio.existing_cover, 0.0, cheapest)
    cost[..., FIBRE] += path_cost(reach.fibre.parent, edge_npc)
    return cost


def _public_build(
    econ: Economics,
    rows: np.ndarray,
    npc: PublicCosts,
    reach: Reach,
    villages: Villages,
    subsidy: Stacked,
) -> PublicCosts:
    return npc


def _gap_funding(
    econ: Economics,
    rows: np.ndarray,
    npc: PublicCosts,
    reach: Reach,
    villages: Villages,
    subsidy: Stacked,
) -> PublicCosts:
    village, site, edge = npc
    return village - econ.revenue_usd[rows], site, edge


def _satellite_voucher(
    econ: Economics,
    rows: np.ndarray,
    npc: PublicCosts,
    reach: Reach,
    villages: Villages,
    subsidy: Stacked,
) -> PublicCosts:
    village, site, edge = npc
    village = village.copy()
    voucher = per_point(subsidy.voucher_usd, 2)
    village[..., SATELLITE] = voucher * econ.subscribers[rows][..., SATELLITE]
    return village, site, edge


def _capex_share(
    econ: Economics,
    rows: np.ndarray,
    npc: PublicCosts,
    reach: Reach,
    villages: Villages,
    subsidy: Stacked,
) -> PublicCosts:
    position = class_index(villages.region_class)
    share = subsidy.each(lambda s: [s.capex_share.get(c, 0.0) for c in REGION_CLASSES])[:, position]
    years = subsidy.each(lambda s: [s.opex_years.get(c, 0) for c in REGION_CLASSES])[:, position]
    cover = reach.radio.cover.tocsc()
    site_share = reduce_segments(np.maximum, entry_values(share, cover.indices), cover.indptr, 0.0)
    site_years = reduce_segments(np.maximum, entry_values(years, cover.indices), cover.indptr, 0.0)
    rate = econ.discount_rate[rows]
    return (
        _scaled(econ.village.take(rows), share, years, rate),
        _scaled(econ.site.take(rows), site_share, site_years, rate),
        _scaled(econ.edge.take(rows), share, years, rate),
    )


def _benchmark_cap(
    econ: Economics,
    rows: np.ndarray,
    npc: PublicCosts,
    reach: Reach,
    villages: Villages,
    subsidy: Stacked,
) -> PublicCosts:
    years = annuity_factor(econ.discount_rate[rows], econ.horizon_years[rows])
    months = per_point(MONTHS * years, 3)
    locations = np.maximum(villages.households, 1.0)[None, :, None]
    standalone = standalone_cost_usd(npc, econ.subscribers[rows][..., CELLULAR], reach)
    monthly = standalone / (locations * months)
    support = np.clip(
        monthly - per_point(subsidy.benchmark_usd_per_month, 3),
        0.0,
        per_point(subsidy.cap_usd_per_month, 3),
    )
    village = support * locations * months
    return village, np.zeros(npc[1].shape), np.zeros(npc[2].shape)


Mechanism = Callable[[Economics, np.ndarray, PublicCosts, Reach, Villages, Stacked], PublicCosts]
MECHANISMS: dict[str, Mechanism] = {
    "public_build": _public_build,
    "gap_funding": _gap_funding,
    "capex_share": _capex_share,
    "benchmark_cap": _benchmark_cap,
    "satellite_voucher": _satellite_voucher,
}
"""Public costs of some points under each subsidy mechanism (see :func:`public_costs`).

Each takes the Economics, the rows of it its points use, their net present
costs (village, site, trench) and their subsidy sections.
"""


def public_costs(
    econ: Economics,
    reach: Reach,
    villages: Villages,
    subsidies: Sequence[Subsidy],
    economic: np.ndarray | None = None,
) -> PublicCosts:
    """Public money per (point, village, option), per site and per trench, by each mechanism.

    ``subsidies`` one per point; ``economic`` (P,) each point's row of
    ``econ`` (default: one row per point, in order). Points are priced
    together by mechanism.

    * ``public_build``: the net present cost of everything.
    * ``gap_funding``: each village's option costs its NPC minus its revenue, so
      a profitable village's surplus (negative public cost) pays for shared
      sites and trenches: the budget pays the package's viability gap.
      Villages viable on their own are reported as served by the market.
    * ``capex_share``: a class's share of capex plus its years of opex
      (China's 4G pilots: 30 % of capex + 6 years' opex, 10 for border areas);
      a site takes the largest share among the villages it covers, a trench
      its village's.
    * ``benchmark_cap`` (FCC A-CAM): per location (household), support =
      min(cap, max(0, modelled monthly cost − benchmark)) over the horizon; the
      operator bears sites and trenches.
    * ``satellite_voucher``: a voucher per satellite terminal; other options
      are a public build.
    """
    economic = np.arange(len(econ.discount_rate)) if economic is None else economic
    if len(subsidies) != len(economic):
        raise ValueError(f"public_costs: {len(subsidies)} subsidies for {len(economic)} points")
    npc = (econ.npc(econ.village), econ.npc(econ.site), econ.npc(econ.edge))
    mechanism = np.asarray([subsidy.mechanism for subsidy in subsidies])
    village, site, edge = (np.empty((len(economic), *a.shape[1:])) for a in npc)
    for name in np.unique(mechanism):
        points = np.flatnonzero(mechanism == name)
        rows = economic[points]
        subsidy = Stacked([subsidies[int(i)] for i in points])
        of_rows = (npc[0][rows], npc[1][rows], npc[2][rows])
        priced = MECHANISMS[name](econ, rows, of_rows, reach, villages, subsidy)
        village[points], site[points], edge[points] = priced
    return village, site, edge


def market_served(econ: Economics, reach: Reach, feasible: np.ndarray) -> np.ndarray:
    """Bool (n,) for one point: some allowed option pays for itself standalone.

    ``econ`` one point's (``Economics.take(i)``); viable: revenue ≥ modelled cost.
    """
    npc = (econ.npc(econ.village)[None], econ.npc(econ.site)[None], econ.npc(econ.edge)[None])
    standalone = standalone_cost_usd(npc, econ.subscribers[None, :, CELLULAR], reach)[0]
    viable = econ.revenue_usd >= standalone
    return (viable & feasible)[:, :CONSOLIDATE].any(axis=1)


@dataclass(frozen=True)
class Targets:
    """Coverage targets of P points: the rows of their Problems and whether they can be met.

    ``weight`` (P, t, n, 4); ``required`` (t,) people; ``reachable`` (P, t)
    people; ``population`` (t,) of each target's scope; ``targets`` the scenario's.
    """

    weight: np.ndarray
    required: np.ndarray
    reachable: np.ndarray
    population: np.ndarray
    targets: tuple[Target, ...]

    def shortfall(self, point: int) -> str | None:
        """Why point ``point`` cannot meet its first unreachable target, or None when it can."""
        short = self.reachable[point] < self.required * (1 - 1e-12)
        if not short.any():
            return None
        t = int(np.argmax(short))
        target, best, need = self.targets[t], self.reachable[point, t], self.required[t]
        scope = target.region_class or "all classes"
        return (
            f"target {target.name!r} ({target.share:.1%} of {scope} at tier {target.tier!r} "
            f"or better) cannot be met: at most {best / max(self.population[t], 1.0):.1%} is "
            f"reachable, short by {need - best:,.0f} people"
        )


def coverage_targets(
    villages: Villages,
    speed_mbps: np.ndarray,
    economic: np.ndarray,
    feasible: np.ndarray,
    policy: Policy,
    demand: Demand,
) -> Targets:
    """Target rows of P points from their speeds and feasible options (P, n, 4).

    ``speed_mbps`` (D, n, 4) of the distinct Economics; ``economic`` (P,)
    each point's row of it.

    ``reachable``: people each target counts when every village takes its best
    allowed option (see :meth:`Targets.shortfall`). An unknown tier raises
    :class:`InfeasibleError`.
    """
    names = [tier.name for tier in demand.tiers]
    population = villages.population.astype(float)
    points = len(economic)
    weights, required, scope = [], [], []
    for target in policy.targets:
        if target.tier not in names:
            raise InfeasibleError(
                f"target {target.name!r}: unknown tier {target.tier!r} ({', '.join(names)})"
            )
        fast_enough = (speed_mbps >= demand.tiers[names.index(target.tier)].min_mbps)[economic]
        in_class = (
            np.ones(len(population), bool)
            if target.region_class is None
            else villages.region_class == target.region_class
        )
        weights.append(population[None, :, None] * (fast_enough & feasible & in_class[:, None]))
        scope.append(population[in_class].sum())
        required.append(target.share * scope[-1])
    weight = (
        np.stack(weights, axis=1) if weights else np.zeros((points, 0, len(population), N_OPTIONS))
    )
    return Targets(
        weight=weight,
        required=np.asarray(required, dtype=float),
        reachable=weight.max(axis=3).sum(axis=2),
        population=np.asarray(scope, dtype=float),
        targets=tuple(policy.targets),
    )


@dataclass(frozen=True)
class Problems:
    """The optimizer's Problems of P scenario points on one engineering, stacked.

    Per point (leading axis P): ``cost``, ``benefit``, ``feasible`` (P, n, 4);
    ``site_cost`` (P, m); ``edge_cost`` (P, n); ``budget_usd`` (P,) (inf in
    ``min_cost`` mode); coverage ``targets``; ``economic`` (P,) the row of
    ``econ`` (one per distinct costs and demand) holding the point's
    capacities, demands and hosts. Shared: ``reach`` (cover, fibre tree,
    beams) and whether site capacity is enforced.
    """

    cost: np.ndarray
    benefit: np.ndarray
    feasible: np.ndarray
    site_cost: np.ndarray
    edge_cost: np.ndarray
    budget_usd: np.ndarray
    targets: Targets
    econ: Economics
    economic: np.ndarray
    reach: Reach
    enforce_site_capacity: bool

    def __len__(self) -> int:
        return len(self.budget_usd)

    def economics(self, point: int) -> Economics:
        """Point ``point``'s Economics, without the point axis."""
        return self.econ.take(int(self.economic[point]))

    def problem(self, point: int) -> Problem:
        """Point ``point``'s Problem; :class:`InfeasibleError` if a target is out of reach."""
        shortfall = self.targets.shortfall(point)
        if shortfall is not None:
            raise InfeasibleError(shortfall)
        econ, reach = self.economics(point), self.reach
        capacity = (
            {"site_capacity": econ.site_capacity_mbps, "cell_demand": econ.cell_demand_mbps}
            if self.enforce_site_capacity
            else {}
        )
        return Problem(
            cost=self.cost[point],
            benefit=self.benefit[point],
            feasible=self.feasible[point],
            budget=float(self.budget_usd[point]),
            site_cost=self.site_cost[point],
            cover=reach.radio.cover,
            existing_cover=reach.radio.existing_cover,
            parent=reach.fibre.parent,
            edge_cost=self.edge_cost[point],
            beam=reach.beam,
            beam_capacity=econ.beam_capacity_mbps,
            sat_demand=econ.sat_demand_mbps,
            **capacity,
            host=econ.host,
            target_weight=self.targets.weight[point],
            target_required=self.targets.required,
            target_names=tuple(target.name for target in self.targets.targets),
        )


def build_problems(
    villages: Villages,
    reach: Reach,
    econ: Economics,
    economic: np.ndarray,
    policies: Sequence[Policy],
    demand: Demand,
) -> Problems:
    """The optimizer's Problems of P scenario points (site capacity if the demand asks for it).

    ``econ`` holds the distinct costs and demand and ``economic`` (P,) each
    point's row of it. ``policies`` one per point; they may differ only in
    ``subsidy`` and ``budget_usd`` (eligibility, consolidation and targets
    come from the first). ``demand`` gives the tiers and whether site
    capacity is enforced.
    """
    policy = policies[0]
    n = len(villages.population)
    allowed = np.zeros((n, N_OPTIONS), dtype=bool)
    allowed[:, :CONSOLIDATE] = eligible_technologies(
        villages.region_class, reach.fibre.reachable, reach.radio.existing_cover, policy
    )
    allowed[:, CONSOLIDATE] = may_consolidate(villages, econ.host[0], policy.consolidation)
    if policy.affordability_constraint:
        already_covered = (np.arange(N_OPTIONS) == CELLULAR) & reach.radio.existing_cover[:, None]
        feasible = allowed & (econ.affordable | already_covered)[economic]
    else:
        feasible = np.repeat(allowed[None], len(policies), axis=0)
    village_cost, site_cost, edge_cost = public_costs(
        econ, reach, villages, [p.subsidy for p in policies], economic
    )
    budget = Stacked(policies).budget_usd if policy.mode == "max_coverage" else np.inf
    return Problems(
        cost=village_cost,
        benefit=benefit(villages, econ, demand)[economic],
        feasible=feasible,
        site_cost=site_cost,
        edge_cost=edge_cost,
        budget_usd=np.broadcast_to(np.asarray(budget, dtype=float), (len(policies),)),
        targets=coverage_targets(villages, econ.speed_mbps, economic, feasible, policy, demand),
        econ=econ,
        economic=economic,
        reach=reach,
        enforce_site_capacity=demand.enforce_site_capacity,
    )
