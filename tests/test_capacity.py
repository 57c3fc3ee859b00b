"""Site capacity: villages served by a site must fit its busy-hour throughput."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import sparse

from coverageplan.optimize import CELLULAR, Problem, solve
from coverageplan.optimize.frontier import frontier
from coverageplan.optimize.problem import plan_violations
from coverageplan.optimize.reference import solve_reference
from tests.test_optimize import brute_force, random_problem


def with_capacity(base: Problem, capacity: np.ndarray, demand: np.ndarray) -> Problem:
    """``base`` with site capacity (Mbps) and cellular demand (Mbps) added."""
    optional: dict = {}
    if base.has_beams:
        optional |= {
            "beam": base.beam,
            "beam_capacity": base.beam_capacity,
            "sat_demand": base.sat_demand,
        }
    if base.has_hosts:
        optional["host"] = base.host
    if len(base.target_names):
        optional |= {
            "target_weight": base.target_weight,
            "target_required": base.target_required,
            "target_names": base.target_names,
        }
    return Problem(
        cost=base.cost,
        benefit=base.benefit,
        budget=base.budget,
        feasible=base.feasible,
        site_cost=base.site_cost,
        cover=base.cover,
        existing_cover=base.existing_cover,
        parent=base.parent,
        edge_cost=base.edge_cost,
        site_capacity=capacity,
        cell_demand=demand,
        **optional,
    )


def capacitated_problem(seed: int, *, extended: bool = False) -> Problem:
    """A small random instance whose sites carry 0-2 villages' worth of demand."""
    base = random_problem(seed, extended=extended)
    rng = np.random.default_rng(seed + 10_000)
    demand = np.round(rng.uniform(0.5, 3.0, base.n_villages), 3)
    capacity = np.round(rng.uniform(0.0, 5.0, base.n_sites), 3)
    cover = sparse.csr_matrix(rng.random((base.n_villages, base.n_sites)) < 0.8)
    return with_capacity(
        Problem(
            cost=base.cost,
            benefit=base.benefit,
            budget=base.budget * 2,
            feasible=base.feasible,
            site_cost=base.site_cost,
            cover=cover,
            existing_cover=base.existing_cover,
            parent=base.parent,
            edge_cost=base.edge_cost,
        ),
        capacity,
        demand,
    )


def assert_valid(problem: Problem, plan) -> None:
    violations = plan_violations(
        problem, plan.choice, plan.sites_built, plan.edges_built, plan.site_assignment
    )
    assert violations == []
    assert plan.total_cost <= problem.budget
    assert (plan.site_load(problem) <= problem.site_capacity + 1e-9).all()


@pytest.mark.parametrize("seed", range(80))
def test_capacity_matches_exhaustive_enumeration(seed: int) -> None:
    problem = capacitated_problem(seed)
    plan = solve(problem, mip_gap=0.0)
    assert plan.is_optimal
    assert plan.objective == pytest.approx(brute_force(problem), abs=1e-6)
    assert_valid(problem, plan)


@pytest.mark.parametrize("seed", range(20))
def test_capacity_and_targets_match_enumeration_for_min_cost(seed: int) -> None:
    problem = capacitated_problem(seed, extended=True).at_budget(np.inf)
    expected = brute_force(problem, "min_cost")
    if not np.isfinite(expected):
        return
    plan = solve(problem, goal="min_cost", mip_gap=0.0)
    assert plan.objective == pytest.approx(expected, abs=1e-6)
    assert_valid(problem, plan)


@pytest.mark.parametrize("seed", range(20))
def test_capacity_reference_model_has_the_same_optimum(seed: int) -> None:
    problem = capacitated_problem(seed)
    reference = solve_reference(problem, mip_gap=0.0)
    plan = solve(problem, mip_gap=0.0)
    assert reference.status == "optimal"
    assert plan.objective == pytest.approx(reference.objective, abs=1e-6)


@pytest.mark.parametrize("seed", range(20))
def test_frontier_and_decompose_respect_capacity(seed: int) -> None:
    problem = capacitated_problem(seed)
    best = brute_force(problem)
    plans = [
        *frontier(problem, [problem.budget / 2, problem.budget], mip_gap=0.0),
        solve(problem, method="decompose", mip_gap=0.0),
    ]
    for plan in plans:
        assert_valid(problem, plan)
        assert plan.objective <= best + 1e-6
        assert plan.bound >= best - 1e-6 or plan.total_cost < problem.budget


def test_a_site_for_five_villages_that_carries_two() -> None:
    """One tower covers five villages but carries two: a second tower serves the rest."""
    n = 5
    one_site = Problem(
        cost=np.zeros((n, 2)),
        benefit=np.column_stack([np.zeros(n), np.arange(1.0, n + 1)]),
        budget=10.0,
        site_cost=[4.0],
        cover=sparse.csr_matrix(np.ones((n, 1), dtype=bool)),
        site_capacity=[2.0],
        cell_demand=np.ones(n),
    )
    plan = solve(one_site, mip_gap=0.0)
    assert plan.is_optimal
    assert sorted(np.flatnonzero(plan.choice == CELLULAR)) == [3, 4]  # the two most valuable
    assert plan.site_load(one_site).tolist() == [2.0]
    two_sites = with_capacity(
        Problem(
            cost=one_site.cost,
            benefit=one_site.benefit,
            budget=8.0,
            site_cost=[4.0, 4.0],
            cover=sparse.csr_matrix(np.ones((n, 2), dtype=bool)),
        ),
        np.array([2.0, 2.0]),
        np.ones(n),
    )
    plan = solve(two_sites, mip_gap=0.0)
    assert plan.sites_built.tolist() == [True, True]
    assert (plan.choice == CELLULAR).sum() == 4
    assert plan.site_load(two_sites).tolist() == [2.0, 2.0]
    assert set(plan.site_assignment[plan.choice == CELLULAR]) == {0, 1}
    unlimited = Problem(
        cost=one_site.cost,
        benefit=one_site.benefit,
        budget=10.0,
        site_cost=[4.0],
        cover=one_site.cover,
    )
    assert (solve(unlimited).choice == CELLULAR).all()


def test_existing_cover_needs_no_assignment() -> None:
    problem = Problem(
        cost=np.zeros((2, 2)),
        benefit=np.ones((2, 2)),
        budget=0.0,
        site_cost=[1.0],
        cover=sparse.csr_matrix(np.ones((2, 1), dtype=bool)),
        existing_cover=[True, True],
        site_capacity=[0.0],
        cell_demand=[5.0, 5.0],
    )
    plan = solve(problem)
    assert (plan.choice >= 0).all() and plan.site_assignment.tolist() == [-1, -1]


def test_overloaded_assignment_is_a_violation() -> None:
    problem = Problem(
        cost=np.zeros((2, 2)),
        benefit=np.ones((2, 2)),
        budget=5.0,
        site_cost=[1.0],
        cover=sparse.csr_matrix(np.ones((2, 1), dtype=bool)),
        site_capacity=[1.0],
        cell_demand=[1.0, 1.0],
    )
    choice = np.array([CELLULAR, CELLULAR])
    built, edges = np.array([True]), np.zeros(2, dtype=bool)
    assert "a cellular site is over capacity" in plan_violations(
        problem, choice, built, edges, np.array([0, 0])
    )
    assert plan_violations(problem, choice, built, edges) == [
        "site capacity needs a site assignment"
    ]
    assert plan_violations(problem, choice, ~built, edges, np.array([0, -1]))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"site_capacity": [1.0]}, "go together"),
        ({"site_capacity": [1.0, 2.0], "cell_demand": [1.0, 1.0]}, "shape"),
        ({"site_capacity": [-1.0], "cell_demand": [1.0, 1.0]}, "≥ 0"),
        ({"site_capacity": [1.0], "cell_demand": [np.nan, 1.0]}, "finite"),
        ({"site_capacity": [np.inf], "cell_demand": [1.0, 1.0]}, "finite"),
    ],
)
def test_bad_capacity_fields_are_clear_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Problem(
            cost=np.zeros((2, 2)),
            benefit=np.ones((2, 2)),
            budget=1.0,
            cover=sparse.csr_matrix(np.ones((2, 1), dtype=bool)),
            **kwargs,
        )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), fraction=st.floats(0, 1))
def test_loads_fit_and_budget_holds(seed: int, fraction: float) -> None:
    base = capacitated_problem(seed)
    total = base.cost.sum() + base.site_cost.sum() + base.edge_cost.sum()
    problem = base.at_budget(fraction * max(total, 0.0))
    assert_valid(problem, solve(problem, mip_gap=1e-3))
