"""Plan → tables: village, site and fibre-route layers, and the summary totals.

The one place where positions are mapped back to ids and option names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from coverageplan.economics import Economics
from coverageplan.engineering import Reach
from coverageplan.engineering.backhaul import BACKHAUL_NAMES
from coverageplan.engineering.radio import SITE_KIND_NAMES, SITE_NEW, SITE_UPGRADE
from coverageplan.optimize import CELLULAR, CONSOLIDATE, FIBRE, UNSERVED, Plan, Problem
from coverageplan.policy import Villages, market_served, tier_index
from coverageplan.region import Region
from coverageplan.scenario import OPTIONS, REGION_CLASSES, Scenario

OPTION_LABELS = (*OPTIONS, "consolidate", "none")
"""Option names by choice index; index −1 (unserved) maps to the last, 'none'."""


@dataclass(frozen=True)
class PlanContext:
    """Everything the outputs describe, from region to plan."""

    scenario: Scenario
    region: Region
    reach: Reach
    econ: Economics
    problem: Problem
    plan: Plan
    villages: Villages


def option_names(choice: np.ndarray) -> np.ndarray:
    """Option name per village ('none' for unserved)."""
    return np.asarray(OPTION_LABELS)[np.where(choice == UNSERVED, len(OPTION_LABELS) - 1, choice)]


def chosen(values: np.ndarray, choice: np.ndarray) -> np.ndarray:
    """Each village's entry of an (n, k) array for its chosen option (0 when unserved)."""
    served = choice >= 0
    picked = np.zeros(len(choice))
    picked[served] = values[np.flatnonzero(served), choice[served]]
    return picked


def village_layer(context: PlanContext) -> gpd.GeoDataFrame:
    """Villages with their chosen option, its own cost and what serves them."""
    problem, plan, reach = context.problem, context.plan, context.reach
    villages = context.region.villages
    own_cost = chosen(problem.cost, plan.choice)
    speed = chosen(context.econ.speed_mbps, plan.choice)
    tiers = np.asarray([tier.name for tier in context.scenario.demand.tiers] + ["below"])
    table = pd.DataFrame(
        {
            "village_id": villages["village_id"].to_numpy(),
            "population": villages["population"].to_numpy(),
            "households": villages["households"].to_numpy(),
            "region_class": context.villages.region_class,
            "option": option_names(plan.choice),
            "speed_mbps": np.round(speed, 2),
            "tier": np.where(
                plan.choice >= 0, tiers[tier_index(speed, context.scenario.demand)], ""
            ),
            "public_cost_usd": np.round(own_cost, 2),
            "trench_cost_usd": np.round(np.where(plan.edges_built, problem.edge_cost, 0.0), 2),
            "existing_4g": reach.radio.existing_cover,
            "serving_site": plan.site_assignment,
            "fibre_parent": np.where(
                reach.fibre.parent >= 0, villages["village_id"].to_numpy()[reach.fibre.parent], ""
            ),
            "fibre_edge_km": np.round(reach.fibre.edge_length_m / 1_000.0, 3),
            "host": np.where(
                plan.choice == CONSOLIDATE, villages["village_id"].to_numpy()[context.econ.host], ""
            ),
        }
    )
    return gpd.GeoDataFrame(table, geometry=villages.geometry.to_numpy(), crs=villages.crs)


def site_layer(context: PlanContext) -> gpd.GeoDataFrame:
    """Candidate sites (upgrades and new): built, cost, busy-hour load and capacity (Mbps).

    The load is the cellular demand of the villages the plan assigns to the
    site, shown whether or not the scenario enforces the capacity.
    """
    radio, problem, plan = context.reach.radio, context.problem, context.plan
    assigned = plan.site_assignment >= 0
    load = np.bincount(
        plan.site_assignment[assigned],
        weights=context.econ.cell_demand_mbps[assigned],
        minlength=problem.n_sites,
    )
    tower_ids = (
        context.region.towers["tower_id"].to_numpy()
        if "tower_id" in context.region.towers
        else None
    )
    tower = (
        np.where(
            radio.site_tower >= 0,
            tower_ids[np.maximum(radio.site_tower, 0)]
            if tower_ids is not None
            else radio.site_tower.astype(str),
            "",
        )
        if len(radio.site_tower)
        else np.empty(0, dtype=str)
    )
    table = pd.DataFrame(
        {
            "site_id": [f"S{i:06d}" for i in range(problem.n_sites)],
            "kind": np.asarray(SITE_KIND_NAMES)[radio.site_kind]
            if problem.n_sites
            else np.empty(0, str),
            "tower_id": tower,
            "height_m": radio.site_height_m,
            "built": plan.sites_built,
            "cost_usd": np.round(problem.site_cost, 2),
            "backhaul": np.asarray(BACKHAUL_NAMES)[context.econ.site_backhaul]
            if len(context.econ.site_backhaul) == problem.n_sites
            else np.full(problem.n_sites, ""),
            "backhaul_usd": np.round(context.econ.site_backhaul_usd, 2)
            if len(context.econ.site_backhaul_usd) == problem.n_sites
            else np.zeros(problem.n_sites),
            "villages_covered": np.asarray(problem.cover.sum(axis=0)).ravel(),
            "villages_served": np.bincount(
                plan.site_assignment[assigned], minlength=problem.n_sites
            ),
            "load_mbps": np.round(load, 3),
            "capacity_mbps": context.econ.site_capacity_mbps,
        }
    )
    layer = gpd.GeoDataFrame(
        table, geometry=shapely.points(radio.site_xy.reshape(-1, 2)), crs=context.region.crs
    )
    layer.attrs["geometry_type"] = "Point"
    return layer


def fibre_route_layer(context: PlanContext) -> gpd.GeoDataFrame:
    """Built trenches as lines from each village to its parent or access point."""
    reach, problem, plan = context.reach, context.problem, context.plan
    built = np.flatnonzero(plan.edges_built & (reach.fibre.edge_length_m > 0))
    parent = reach.fibre.parent[built]
    end_xy = np.where(
        (parent >= 0)[:, None],
        reach.village_xy[np.maximum(parent, 0)],
        reach.fibre.attach_xy[built],
    )
    lines = (
        shapely.linestrings(np.stack([reach.village_xy[built], end_xy], axis=1))
        if len(built)
        else []
    )
    table = pd.DataFrame(
        {
            "village_id": context.region.villages["village_id"].to_numpy()[built],
            "length_km": np.round(reach.fibre.edge_length_m[built] / 1_000.0, 3),
            "terrain_factor": np.round(reach.fibre.edge_terrain_factor[built], 3),
            "cost_usd": np.round(problem.edge_cost[built], 2),
        }
    )
    layer = gpd.GeoDataFrame(
        table, geometry=gpd.GeoSeries(lines, crs=context.region.crs), crs=context.region.crs
    )
    layer.attrs["geometry_type"] = "LineString"
    return layer


def _group(mask: np.ndarray, context: PlanContext, public_cost: np.ndarray) -> dict[str, Any]:
    """Villages, people and public money of a group; money per person connected."""
    population = context.villages.population
    people = float(population[mask].sum())
    money = float(public_cost[mask].sum())
    return {
        "villages": int(mask.sum()),
        "population": int(people),
        "public_cost_usd": round(money, 2),
        "public_cost_usd_per_person": round(money / people, 2) if people else None,
    }


def attributed_public_cost(context: PlanContext) -> np.ndarray:
    """Public money per village: its option's cost plus a share of built sites and trenches.

    A built site's cost is split over the cellular villages relying on it, by
    subscribers; a built trench is charged to the village at its lower end
    (whose edge it is). The attributions add up to the plan's total cost.
    """
    problem, plan = context.problem, context.plan
    cost = chosen(problem.cost, plan.choice)
    relying = (plan.choice == CELLULAR) & ~problem.existing_cover
    if plan.sites_built.any() and relying.any():
        cover = problem.cover[:, plan.sites_built].astype(float).tocsr()
        weight = cover.multiply(
            (relying * np.maximum(context.econ.subscribers[:, CELLULAR], 1e-9))[:, None]
        )
        totals = np.asarray(weight.sum(axis=0)).ravel()
        share = weight.multiply(
            (problem.site_cost[plan.sites_built] / np.maximum(totals, 1e-12))[None, :]
        )
        cost += np.asarray(share.sum(axis=1)).ravel()
    return cost + np.where(plan.edges_built, problem.edge_cost, 0.0)


def summary(context: PlanContext, timings_s: dict[str, float]) -> dict[str, Any]:
    """Totals by option, area class and speed tier; public money; objective, bound, gap, status."""
    problem, plan, reach, econ = context.problem, context.plan, context.reach, context.econ
    demand = context.scenario.demand
    population = context.villages.population
    names = option_names(plan.choice)
    served = plan.choice >= 0
    public_cost = attributed_public_cost(context)
    by_option = {name: _group(names == name, context, public_cost) for name in OPTION_LABELS}
    by_class = {}
    for name in REGION_CLASSES:
        in_class = context.villages.region_class == name
        if in_class.any():
            by_class[name] = {
                **_group(in_class, context, public_cost),
                "served": _group(in_class & served, context, public_cost),
                "by_option": {
                    o: _group(in_class & (names == o), context, public_cost) for o in OPTION_LABELS
                },
            }
    speed = chosen(econ.speed_mbps, plan.choice)
    tier = np.where(served, tier_index(speed, demand), -1)
    total_population = float(population.sum())
    by_tier = {
        t.name: {
            "population_at_or_above": int(population[tier >= i].sum()),
            "share_at_or_above": round(
                float(population[tier >= i].sum()) / max(total_population, 1), 6
            ),
        }
        for i, t in enumerate(demand.tiers)
    }
    market = market_served(econ, reach, problem.feasible)
    price = np.append(np.asarray(demand.arpu_usd_per_month.as_array()), 0.0)
    unaffordable = served & ~chosen(econ.affordable.astype(float), plan.choice).astype(bool)
    kind = reach.radio.site_kind
    site_cost = float(problem.site_cost[plan.sites_built].sum())
    trench_cost = float(problem.edge_cost[plan.edges_built].sum())
    budget = problem.budget if np.isfinite(problem.budget) else None
    return {
        "scenario": context.scenario.name,
        "mode": context.scenario.policy.mode,
        "subsidy_mechanism": context.scenario.policy.subsidy.mechanism,
        "status": plan.status,
        "solver": plan.solver,
        "objective": plan.objective,
        "objective_meaning": "public cost (USD)"
        if plan.goal == "min_cost"
        else "benefit (population × priority × tier weight)",
        "bound": plan.bound if np.isfinite(plan.bound) else None,
        "gap": plan.gap if np.isfinite(plan.gap) else None,
        "budget_usd": budget,
        "budget_used_usd": round(plan.total_cost, 2),
        "budget_used_share": round(plan.total_cost / budget, 6) if budget else None,
        "public_cost_usd_per_person_connected": round(
            plan.total_cost / max(population[served].sum(), 1), 2
        ),
        "villages": int(problem.n_villages),
        "population": int(total_population),
        "population_served": int(population[served].sum()),
        "population_served_share": round(
            float(population[served].sum()) / max(total_population, 1), 6
        ),
        "market_alone": {
            "villages": int(market.sum()),
            "population": int(population[market].sum()),
            "meaning": "villages where an allowed option's revenue covers its standalone cost",
        },
        "subsidy_adds": {
            "villages": int((served & ~market).sum()),
            "population": int(population[served & ~market].sum()),
        },
        "affordability": {
            "threshold_share_of_income": demand.affordability_share_of_income,
            "served_population_priced_above": int(population[unaffordable].sum()),
            "share_of_served": round(
                float(population[unaffordable].sum()) / max(float(population[served].sum()), 1), 6
            ),
            "price_usd_per_month": dict(
                zip((*OPTIONS, "consolidate"), price.tolist(), strict=True)
            ),
        },
        "targets": [
            {
                "name": name,
                "required": round(float(required), 2),
                "reached": round(float(chosen(weight, plan.choice).sum()), 2),
            }
            for name, weight, required in zip(
                problem.target_names, problem.target_weight, problem.target_required, strict=True
            )
        ],
        "by_option": by_option,
        "by_region_class": by_class,
        "by_speed_tier": by_tier,
        "sites": {
            "candidates": int(problem.n_sites),
            "new_built": int((plan.sites_built & (kind == SITE_NEW)).sum()),
            "upgrades_built": int((plan.sites_built & (kind == SITE_UPGRADE)).sum()),
            "public_cost_usd": round(site_cost, 2),
        },
        "fibre": {
            "villages": int((plan.choice == FIBRE).sum()),
            "new_km": round(float(reach.fibre.edge_length_m[plan.edges_built].sum()) / 1_000.0, 3),
            "trench_public_cost_usd": round(trench_cost, 2),
        },
        "timings_s": {stage: round(seconds, 3) for stage, seconds in timings_s.items()},
    }
