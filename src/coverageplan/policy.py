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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph
from scipy.spatial import cKDTree

from coverageplan.economics import MONTHS, N_OPTIONS, CostItems, Economics, annuity_factor
from coverageplan.engineering import Reach
from coverageplan.errors import InfeasibleError
from coverageplan.optimize import CELLULAR, CONSOLIDATE, FIBRE, SATELLITE, Problem
from coverageplan.scenario import OPTIONS, REGION_CLASSES, Consolidation, Demand, Policy, Subsidy

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
    """Index of the highest tier each speed reaches, −1 below the lowest."""
    thresholds = np.asarray([tier.min_mbps for tier in demand.tiers])
    return np.searchsorted(thresholds, speed_mbps, side="right") - 1


def benefit(villages: Villages, econ: Economics, demand: Demand) -> np.ndarray:
    """(n, 4) population × priority × tier weight × adoption, per option.

    The tier weight is that of the speed the option delivers (0 below the
    lowest tier); adoption scales down options priced beyond what the
    village can afford (fewer households take them).
    """
    weights = np.append(np.asarray([tier.weight for tier in demand.tiers]), 0.0)  # [-1] → 0
    tier_weight = weights[tier_index(econ.speed_mbps, demand)]
    return (villages.population * villages.priority)[:, None] * tier_weight * econ.adoption


def _scaled(items: CostItems, share: np.ndarray, opex_years: np.ndarray, rate: float) -> np.ndarray:
    """``share`` × (capex + opex for ``opex_years``), per item; broadcast over options."""
    years = np.asarray(annuity_factor(rate, opex_years))
    if items.capex_usd.ndim == 2:
        share, years = share[:, None], years[:, None]
    return share * (items.capex_usd + items.opex_usd_per_year * years)


def standalone_cost_usd(econ: Economics, reach: Reach) -> np.ndarray:
    """(n, 4) modelled cost of serving each village alone with each option (NPC, USD).

    Cellular adds the village's pro-rata share (by subscribers) of the cheapest
    covering new site (nothing where existing 4G covers it); fibre adds its
    whole path of trenches to the network.
    """
    n = len(econ.host)
    cost = econ.npc(econ.village).copy()
    site_npc = econ.npc(econ.site)
    subscribers = econ.subscribers[:, CELLULAR]
    cover = reach.radio.cover.tocsr().astype(float)
    covered = np.asarray(cover.T @ subscribers).ravel()
    share = cover.multiply(subscribers[:, None]).multiply(
        (site_npc / np.maximum(covered, 1e-9))[None, :]
    )
    share = share.tocsr()
    has_site = np.diff(share.indptr) > 0
    cheapest = np.full(n, np.inf)
    if share.nnz:
        rows = np.flatnonzero(has_site)
        cheapest[rows] = np.minimum.reduceat(share.data, share.indptr[rows])
    cost[:, CELLULAR] += np.where(reach.radio.existing_cover, 0.0, cheapest)

    edge_npc = econ.npc(econ.edge)
    root = n
    parent = np.where(reach.fibre.parent >= 0, reach.fibre.parent, root)
    tree = sparse.csr_matrix((edge_npc + 1e-9, (np.arange(n), parent)), shape=(n + 1, n + 1))
    path = csgraph.dijkstra(tree, directed=False, indices=root)[:n]
    cost[:, FIBRE] += np.where(np.isfinite(path), path, np.inf)
    return cost


def public_costs(
    econ: Economics,
    reach: Reach,
    villages: Villages,
    subsidy: Subsidy,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Public money per (village, option), per site and per trench, by the mechanism.

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
    village_npc = econ.npc(econ.village)
    site_npc, edge_npc = econ.npc(econ.site), econ.npc(econ.edge)
    mechanism = subsidy.mechanism
    if mechanism == "public_build":
        return village_npc, site_npc, edge_npc
    if mechanism == "gap_funding":
        return village_npc - econ.revenue_usd, site_npc, edge_npc
    if mechanism == "satellite_voucher":
        village = village_npc.copy()
        village[:, SATELLITE] = subsidy.voucher_usd * econ.subscribers[:, SATELLITE]
        return village, site_npc, edge_npc
    if mechanism == "capex_share":
        shares: dict[str, float] = dict(subsidy.capex_share)  # type: ignore[arg-type]
        opex_years: dict[str, int] = dict(subsidy.opex_years)  # type: ignore[arg-type]
        position = class_index(villages.region_class)
        share = np.array([shares.get(c, 0.0) for c in REGION_CLASSES])[position]
        years = np.array([opex_years.get(c, 0) for c in REGION_CLASSES])[position]
        cover = reach.radio.cover.tocsc().astype(float)
        site_share = np.asarray(cover.multiply(share[:, None]).max(axis=0).toarray()).ravel()
        site_years = np.asarray(cover.multiply(years[:, None]).max(axis=0).toarray()).ravel()
        rate = econ.discount_rate
        return (
            _scaled(econ.village, share, years, rate),
            _scaled(econ.site, site_share, site_years, rate),
            _scaled(econ.edge, share, years, rate),
        )
    # benchmark_cap
    months = MONTHS * annuity_factor(econ.discount_rate, econ.horizon_years)
    locations = np.maximum(villages.households, 1.0)[:, None]
    monthly = standalone_cost_usd(econ, reach) / (locations * months)
    support = np.clip(monthly - subsidy.benchmark_usd_per_month, 0.0, subsidy.cap_usd_per_month)
    village = support * locations * months
    return village, np.zeros_like(site_npc), np.zeros_like(edge_npc)


def market_served(econ: Economics, reach: Reach, feasible: np.ndarray) -> np.ndarray:
    """Bool (n,): some allowed option pays for itself standalone (revenue ≥ modelled cost)."""
    viable = econ.revenue_usd >= standalone_cost_usd(econ, reach)
    return (viable & feasible)[:, :CONSOLIDATE].any(axis=1)


def coverage_targets(
    villages: Villages, speed_mbps: np.ndarray, feasible: np.ndarray, policy: Policy, demand: Demand
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Target rows (t, n, 4), requirements (t,) in people and names; checks reachability.

    Raises :class:`InfeasibleError` naming the first target that even serving
    every village with its best allowed option cannot meet, and by how much.
    """
    names = [tier.name for tier in demand.tiers]
    population = villages.population.astype(float)
    weights, required = [], []
    for target in policy.targets:
        if target.tier not in names:
            raise InfeasibleError(
                f"target {target.name!r}: unknown tier {target.tier!r} ({', '.join(names)})"
            )
        fast_enough = speed_mbps >= demand.tiers[names.index(target.tier)].min_mbps
        in_class = (
            np.ones(len(population), bool)
            if target.region_class is None
            else villages.region_class == target.region_class
        )
        weight = population[:, None] * (fast_enough & feasible & in_class[:, None])
        need = target.share * population[in_class].sum()
        best = weight.max(axis=1).sum()
        if best < need * (1 - 1e-12):
            scope = target.region_class or "all classes"
            total = max(population[in_class].sum(), 1.0)
            raise InfeasibleError(
                f"target {target.name!r} ({target.share:.1%} of {scope} at tier {target.tier!r} "
                f"or better) cannot be met: at most {best / total:.1%} is reachable, "
                f"short by {need - best:,.0f} people"
            )
        weights.append(weight)
        required.append(need)
    t = len(weights)
    stacked = np.stack(weights) if t else np.zeros((0, len(population), N_OPTIONS))
    return (
        stacked,
        np.asarray(required, dtype=float),
        tuple(target.name for target in policy.targets),
    )


def build_problem(
    villages: Villages, reach: Reach, econ: Economics, policy: Policy, demand: Demand
) -> Problem:
    """The optimizer's Problem for one scenario point (site capacity if the demand asks for it)."""
    n = len(villages.population)
    feasible = np.zeros((n, N_OPTIONS), dtype=bool)
    feasible[:, :CONSOLIDATE] = eligible_technologies(
        villages.region_class, reach.fibre.reachable, reach.radio.existing_cover, policy
    )
    feasible[:, CONSOLIDATE] = may_consolidate(villages, econ.host, policy.consolidation)
    if policy.affordability_constraint:
        already_covered = (np.arange(N_OPTIONS) == CELLULAR) & reach.radio.existing_cover[:, None]
        feasible &= econ.affordable | already_covered
    village_cost, site_cost, edge_cost = public_costs(econ, reach, villages, policy.subsidy)
    target_weight, target_required, target_names = coverage_targets(
        villages, econ.speed_mbps, feasible, policy, demand
    )
    capacity = (
        {"site_capacity": econ.site_capacity_mbps, "cell_demand": econ.cell_demand_mbps}
        if demand.enforce_site_capacity
        else {}
    )
    return Problem(
        cost=village_cost,
        benefit=benefit(villages, econ, demand),
        feasible=feasible,
        budget=policy.budget_usd if policy.mode == "max_coverage" else np.inf,
        site_cost=site_cost,
        cover=reach.radio.cover,
        existing_cover=reach.radio.existing_cover,
        parent=reach.fibre.parent,
        edge_cost=edge_cost,
        beam=reach.beam,
        beam_capacity=econ.beam_capacity_mbps,
        sat_demand=econ.sat_demand_mbps,
        **capacity,
        host=econ.host,
        target_weight=target_weight,
        target_required=target_required,
        target_names=target_names,
    )
