"""Policy: which options each area class may use, what public money pays, and the Problem.

Default eligibility follows task 9 of the 2016 national informatization
strategy (DESIGN.md): ``developed`` areas take fibre, with cellular or
satellite only where fibre cannot reach; every other class may use any option.
The scenario's ``policy.eligible`` overrides a class's list. A village that
existing 4G already covers counts as served by cellular in every class (the
universal-service definition of a covered village), at no new cost. In this first
model the budget pays the whole net present cost (a public build) and the
benefit of serving a village is its population.
"""

from __future__ import annotations

import numpy as np

from coverageplan.economics import OptionCosts
from coverageplan.engineering import Reach
from coverageplan.optimize import CELLULAR, FIBRE, Problem
from coverageplan.scenario import OPTIONS, REGION_CLASSES, Policy

DEFAULT_ELIGIBLE: dict[str, tuple[str, ...]] = {
    "developed": ("fibre",),
    "central": OPTIONS,
    "western": OPTIONS,
    "border": OPTIONS,
    "remote": OPTIONS,
    "pastoral": OPTIONS,
    "island": OPTIONS,
}
FALLBACK_WHEN_NO_FIBRE: dict[str, tuple[str, ...]] = {"developed": ("cellular", "satellite")}


def eligibility_table(policy: Policy) -> np.ndarray:
    """Bool (classes × options): the defaults with the scenario's overrides applied."""
    table = np.zeros((len(REGION_CLASSES), len(OPTIONS)), dtype=bool)
    for row, name in enumerate(REGION_CLASSES):
        allowed = policy.eligible.get(name, DEFAULT_ELIGIBLE[name])  # type: ignore[call-overload]
        table[row] = np.isin(OPTIONS, allowed)
    return table


def class_index(region_class: np.ndarray) -> np.ndarray:
    """Position of each village's class in ``REGION_CLASSES`` (classes already validated)."""
    names = np.asarray(REGION_CLASSES)
    order = np.argsort(names)
    return order[np.searchsorted(names[order], np.asarray(region_class, dtype=str))]


def eligible_options(
    region_class: np.ndarray,
    fibre_reachable: np.ndarray,
    existing_cover: np.ndarray,
    policy: Policy,
) -> np.ndarray:
    """Bool (n, 3): options each village may use under the policy."""
    classes = class_index(region_class)
    eligible = eligibility_table(policy)[classes]
    eligible[:, FIBRE] &= fibre_reachable
    for name, fallback in FALLBACK_WHEN_NO_FIBRE.items():
        if name in policy.eligible:
            continue
        stranded = (classes == REGION_CLASSES.index(name)) & ~fibre_reachable
        eligible[np.ix_(stranded, np.isin(OPTIONS, fallback))] = True
    eligible[:, CELLULAR] |= existing_cover
    return eligible


def build_problem(
    population: np.ndarray,
    region_class: np.ndarray,
    reach: Reach,
    costs: OptionCosts,
    policy: Policy,
) -> Problem:
    """The optimizer's Problem for one scenario point (public build, benefit = population)."""
    population = np.asarray(population, dtype=float)
    return Problem(
        cost=costs.village_cost_usd,
        benefit=np.repeat(population[:, None], len(OPTIONS), axis=1),
        feasible=eligible_options(
            region_class, reach.fibre.reachable, reach.radio.existing_cover, policy
        ),
        budget=policy.budget_usd,
        site_cost=costs.site_cost_usd,
        cover=reach.radio.cover,
        existing_cover=reach.radio.existing_cover,
        parent=reach.fibre.parent,
        edge_cost=costs.edge_cost_usd,
        beam=reach.beam,
        beam_capacity=costs.beam_capacity_mbps,
        sat_demand=costs.sat_demand_mbps,
    )
