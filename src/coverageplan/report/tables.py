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

from coverageplan.economics import OptionCosts
from coverageplan.engineering import Reach
from coverageplan.engineering.radio import SITE_KIND_NAMES, SITE_NEW, SITE_UPGRADE
from coverageplan.optimize import CELLULAR, FIBRE, UNSERVED, Plan, Problem
from coverageplan.region import Region
from coverageplan.scenario import OPTIONS, REGION_CLASSES, Scenario

OPTION_LABELS = (*OPTIONS, "none")
"""Option names by choice index; index −1 (unserved) maps to the last, 'none'."""


@dataclass(frozen=True)
class PlanContext:
    """Everything the outputs describe, from region to plan."""

    scenario: Scenario
    region: Region
    reach: Reach
    costs: OptionCosts
    problem: Problem
    plan: Plan
    region_class: np.ndarray


def option_names(choice: np.ndarray) -> np.ndarray:
    """Option name per village ('none' for unserved)."""
    return np.asarray(OPTION_LABELS)[np.where(choice == UNSERVED, len(OPTIONS), choice)]


def serving_site(problem: Problem, plan: Plan) -> np.ndarray:
    """Index of a built site serving each cellular village that needs one, else −1."""
    site = np.full(problem.n_villages, -1, dtype=np.int64)
    built = np.flatnonzero(plan.sites_built)
    needs = np.flatnonzero((plan.choice == CELLULAR) & ~problem.existing_cover)
    if len(built) and len(needs):
        sub = problem.cover[needs][:, built].astype(np.int8)
        site[needs] = built[np.asarray(sub.argmax(axis=1)).ravel()]
    return site


def village_layer(context: PlanContext) -> gpd.GeoDataFrame:
    """Villages with their chosen option, its own cost and what serves them."""
    problem, plan, reach = context.problem, context.plan, context.reach
    villages = context.region.villages
    served = plan.choice >= 0
    own_cost = np.zeros(problem.n_villages)
    own_cost[served] = problem.cost[np.flatnonzero(served), plan.choice[served]]
    table = pd.DataFrame(
        {
            "village_id": villages["village_id"].to_numpy(),
            "population": villages["population"].to_numpy(),
            "households": villages["households"].to_numpy(),
            "region_class": context.region_class,
            "option": option_names(plan.choice),
            "option_cost_usd": np.round(own_cost, 2),
            "trench_cost_usd": np.round(np.where(plan.edges_built, problem.edge_cost, 0.0), 2),
            "existing_4g": reach.radio.existing_cover,
            "serving_site": serving_site(problem, plan),
            "fibre_spur_km": np.round(reach.fibre.edge_length_m / 1_000.0, 3),
        }
    )
    return gpd.GeoDataFrame(table, geometry=villages.geometry.to_numpy(), crs=villages.crs)


def site_layer(context: PlanContext) -> gpd.GeoDataFrame:
    """Candidate sites (upgrades and new) with whether each is built and its cost."""
    radio, problem, plan = context.reach.radio, context.problem, context.plan
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
            "villages_covered": np.asarray(problem.cover.sum(axis=0)).ravel(),
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


def _totals(mask: np.ndarray, population: np.ndarray) -> dict[str, float]:
    return {"villages": int(mask.sum()), "population": int(population[mask].sum())}


def summary(context: PlanContext, timings_s: dict[str, float]) -> dict[str, Any]:
    """Totals by option and area class, budget use, objective, bound, gap and status."""
    problem, plan, reach = context.problem, context.plan, context.reach
    population = context.region.villages["population"].to_numpy(dtype=np.int64)
    names = option_names(plan.choice)
    served = plan.choice >= 0
    own_cost = np.zeros(problem.n_villages)
    own_cost[served] = problem.cost[np.flatnonzero(served), plan.choice[served]]
    site_cost = float(problem.site_cost[plan.sites_built].sum())
    trench_cost = float(problem.edge_cost[plan.edges_built].sum())
    shared = {"fibre": trench_cost, "cellular": site_cost}
    by_option = {}
    for name in OPTION_LABELS:
        mask = names == name
        entry: dict[str, float] = _totals(mask, population)
        if name != "none":
            entry["cost_usd"] = round(float(own_cost[mask].sum()) + shared.get(name, 0.0), 2)
        by_option[name] = entry
    by_class = {}
    for name in REGION_CLASSES:
        in_class = context.region_class == name
        if not in_class.any():
            continue
        by_class[name] = {
            **_totals(in_class, population),
            "served": _totals(in_class & served, population),
            "by_option": {o: _totals(in_class & (names == o), population) for o in OPTION_LABELS},
        }
    kind = reach.radio.site_kind
    total_population = int(population.sum())
    return {
        "scenario": context.scenario.name,
        "status": plan.status,
        "solver": plan.solver,
        "objective": plan.objective,
        "objective_meaning": "population served",
        "bound": plan.bound if np.isfinite(plan.bound) else None,
        "gap": plan.gap if np.isfinite(plan.gap) else None,
        "budget_usd": problem.budget,
        "budget_used_usd": round(plan.total_cost, 2),
        "budget_used_share": round(plan.total_cost / problem.budget, 6)
        if problem.budget > 0
        else None,
        "villages": int(problem.n_villages),
        "population": total_population,
        "population_served": int(population[served].sum()),
        "population_served_share": round(
            float(population[served].sum()) / max(total_population, 1), 6
        ),
        "by_option": by_option,
        "by_region_class": by_class,
        "sites": {
            "candidates": int(problem.n_sites),
            "new_built": int((plan.sites_built & (kind == SITE_NEW)).sum()),
            "upgrades_built": int((plan.sites_built & (kind == SITE_UPGRADE)).sum()),
            "cost_usd": round(site_cost, 2),
        },
        "fibre": {
            "villages": int((plan.choice == FIBRE).sum()),
            "new_km": round(float(reach.fibre.edge_length_m[plan.edges_built].sum()) / 1_000.0, 3),
            "trench_cost_usd": round(trench_cost, 2),
        },
        "timings_s": {stage: round(seconds, 3) for stage, seconds in timings_s.items()},
    }
