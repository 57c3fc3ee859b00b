"""The budget frontier against exhaustive enumeration, the MILP and its own invariants."""

from __future__ import annotations

import numpy as np
import pytest

from coverageplan.optimize import Problem, frontier, solve
from coverageplan.optimize.frontier import (
    _price_point,
    bracket,
    budget_bracket,
    cost_to_network,
    greedy_full_cost,
    greedy_price,
    lp_bounds,
)
from coverageplan.optimize.milp import PricedRelaxation, build_formulation, solve_highs, with_budget
from coverageplan.optimize.problem import plan_violations
from coverageplan.optimize.solve import lp_guide
from coverageplan.pipeline import prepare
from coverageplan.scenario import Scenario
from tests.test_optimize import brute_force, random_problem


def spend_ceiling(problem: Problem) -> float:
    """Money enough to buy everything: an upper end for budget ranges."""
    return float(
        np.clip(problem.cost, 0, None).sum() + problem.site_cost.sum() + problem.edge_cost.sum()
    )


def check_frontier(problem: Problem, budgets: np.ndarray, plans: list, mip_gap: float) -> None:
    """Every plan valid at its budget, its bound proven, benefit monotone in the budget."""
    assert len(plans) == len(budgets)
    for budget, plan in zip(budgets, plans, strict=True):
        if plan.status in ("infeasible", "no_solution"):
            assert plan.objective == -np.inf and not plan.is_optimal
            continue
        assert plan.total_cost <= budget + 1e-9
        assert not plan_violations(problem.at_budget(float(budget)), *decided(plan))
        assert plan.bound >= plan.objective - 1e-9
        if plan.is_optimal:
            assert plan.gap <= mip_gap + 1e-9
    order = np.argsort(budgets, kind="stable")
    objectives = np.array([plans[i].objective for i in order])
    objectives = objectives[np.isfinite(objectives)]
    assert (np.diff(objectives) >= -1e-9).all()


def decided(plan) -> tuple[np.ndarray, ...]:
    return plan.choice, plan.sites_built, plan.edges_built


@pytest.mark.parametrize("seed", range(60))
def test_frontier_bounds_hold_against_enumeration(seed: int) -> None:
    problem = random_problem(seed, extended=seed % 3 == 0)
    budgets = np.array([0.9, 0.05, 0.3, 0.6, 0.15]) * spend_ceiling(problem)
    plans = frontier(problem, budgets, time_limit_s=20, mip_gap=1e-6)
    check_frontier(problem, budgets, plans, 1e-6)
    for budget, plan in zip(budgets, plans, strict=True):
        best = brute_force(problem.at_budget(float(budget)))
        if plan.status == "infeasible":
            assert best == 0.0 or not np.isfinite(best)
            continue
        assert plan.objective <= best + 1e-6
        assert plan.bound >= best - 1e-6  # the bound is a proof: never below the optimum
        if plan.is_optimal:
            assert plan.objective == pytest.approx(best, abs=1e-5)


@pytest.fixture(scope="module")
def synthetic_problem() -> Problem:
    scenario = Scenario.model_validate(
        {"region": {"synthetic": {"villages": 1500, "seed": 5}}, "policy": {"budget_usd": 1e7}}
    )
    return prepare(scenario).problem


def test_frontier_on_a_synthetic_region_is_within_half_a_percent(synthetic_problem) -> None:
    ceiling = spend_ceiling(synthetic_problem)
    budgets = np.linspace(0.02, 0.6, 25) * ceiling
    plans = frontier(synthetic_problem, budgets, time_limit_s=60, mip_gap=5e-3)
    check_frontier(synthetic_problem, budgets, plans, 5e-3)
    assert all(plan.is_optimal for plan in plans), [plan.gap for plan in plans]
    for index in (3, 17):  # an exact MILP at the same budget sits between plan and bound
        exact = solve(synthetic_problem.at_budget(float(budgets[index])), mip_gap=1e-6)
        assert plans[index].objective <= exact.objective + 1e-6
        assert plans[index].bound >= exact.objective - 1e-6


def test_a_tiny_time_limit_still_returns_honest_plans(synthetic_problem) -> None:
    budgets = np.linspace(0.05, 0.5, 6) * spend_ceiling(synthetic_problem)
    plans = frontier(synthetic_problem, budgets, time_limit_s=1e-3, mip_gap=1e-4)
    check_frontier(synthetic_problem, budgets, plans, 1e-4)
    assert {plan.status for plan in plans} <= {"optimal", "time_limit"}
    assert all(plan.objective > 0 for plan in plans)  # the greedy plans, at least


def test_solve_with_method_frontier_is_one_budget_of_it(synthetic_problem) -> None:
    problem = synthetic_problem.at_budget(0.2 * spend_ceiling(synthetic_problem))
    plan = solve(problem, "frontier", mip_gap=5e-3)
    assert plan.total_cost <= problem.budget
    assert plan.is_optimal and plan.gap <= 5e-3


@pytest.mark.parametrize(
    ("budgets", "message"),
    [([], "non-empty"), ([1.0, -2.0], "non-negative"), ([np.inf], "finite")],
)
def test_bad_budgets_are_refused(budgets, message) -> None:
    problem = random_problem(1)
    with pytest.raises(ValueError, match=message):
        frontier(problem, budgets)


def test_cost_to_network_sums_every_trench_above() -> None:
    parent = np.array([-1, 0, 1, 1, -1, 4])
    edge_cost = np.array([1.0, 2.0, 4.0, 8.0, 16.0, 32.0])
    assert cost_to_network(parent, edge_cost).tolist() == [1, 3, 7, 11, 16, 48]


def test_priced_lp_bounds_every_budget_and_points_to_the_bracket(synthetic_problem) -> None:
    """h(λ) + λ b is never below the budgeted LP; the next price lies between its neighbours."""
    ceiling = spend_ceiling(synthetic_problem)
    formulation = build_formulation(synthetic_problem.at_budget(ceiling))
    relaxation = PricedRelaxation(formulation)
    points = [_price_point(relaxation, price, 30.0)[0] for price in (0.0, 0.5, 1.0, 2.0, 4.0)]
    assert all(point is not None for point in points)
    spends = [point.spend for point in points]
    assert all(np.diff(spends) <= 1e-9)  # a higher price never spends more
    budgets = np.linspace(0.02, 0.5, 7) * ceiling / formulation.money_scale
    upper, reached, next_price, _ = lp_bounds(points, budgets)
    for budget, bound, below in zip(budgets, upper, reached, strict=True):
        lp = solve_highs(
            with_budget(formulation, budget * formulation.money_scale),
            time_limit_s=30,
            mip_gap=0,
            integer=False,
        )
        assert bound >= lp.bound - 1e-6 * abs(lp.bound)
        assert below <= lp.bound + 1e-6 * abs(lp.bound)  # an LP value at a smaller spend
    prices = np.array([point.price for point in points])
    spend = np.array(spends)
    for budget, price in zip(budgets, next_price, strict=True):
        richer = prices[spend > budget]
        if len(richer) and len(richer) < len(prices):
            assert richer.max() <= price <= prices[spend <= budget].min()


@pytest.mark.parametrize("share", [0.05, 0.3, 0.8])
def test_one_budgets_price_search_brackets_it_and_bounds_its_lp(synthetic_problem, share) -> None:
    """The search surrounds b, and its bound is the budgeted LP's within the tolerance asked."""
    problem = synthetic_problem.at_budget(share * greedy_full_cost(synthetic_problem))
    formulation = build_formulation(problem)
    budget = float(formulation.row_upper[formulation.budget_row])
    lp = solve_highs(formulation, time_limit_s=30, mip_gap=0, integer=False)
    for start in (greedy_price(problem, formulation), 0.0, 50.0):  # a good start, and bad ones
        points, status = budget_bracket(
            PricedRelaxation(formulation), budget, start, time_limit_s=30, tolerance=1e-5
        )
        assert status == "optimal"
        richer, poorer = bracket(points, budget)
        assert richer.spend > budget >= poorer.spend and richer.price < poorer.price
        bound = min(point.value + point.price * budget for point in points)
        assert lp.bound - 1e-9 * abs(lp.bound) <= bound <= lp.bound * (1 + 1.1e-5) + 1e-9


def test_a_budget_that_does_not_bind_stops_the_search_at_price_zero(synthetic_problem) -> None:
    formulation = build_formulation(synthetic_problem.at_budget(spend_ceiling(synthetic_problem)))
    budget = float(formulation.row_upper[formulation.budget_row])
    points, status = budget_bracket(
        PricedRelaxation(formulation), budget, 2.0, time_limit_s=30, tolerance=1e-5
    )
    assert status == "optimal" and points[-1].price == 0.0 and points[-1].spend <= budget
    guide = lp_guide(formulation, time_limit_s=30, mip_gap=1e-4, start_price=2.0)
    assert guide.status == "optimal" and guide.bound == pytest.approx(points[-1].value)
    assert guide.values is not None and (guide.values == guide.richer_values).all()
    assert guide.price == 0.0


def test_priced_and_budgeted_lp_guides_give_the_same_bound(synthetic_problem) -> None:
    """The priced LP bound matches the budgeted LP's; solve's bound is no looser."""
    problem = synthetic_problem.at_budget(0.2 * greedy_full_cost(synthetic_problem))
    formulation = build_formulation(problem)
    priced_guide = lp_guide(
        formulation,
        time_limit_s=30,
        mip_gap=1e-3,
        start_price=greedy_price(problem, formulation),
    )
    budgeted = lp_guide(formulation, time_limit_s=30, mip_gap=1e-3, start_price=None)
    assert priced_guide.status == budgeted.status == "optimal"
    assert budgeted.price is None and priced_guide.price is not None
    assert budgeted.bound <= priced_guide.bound <= budgeted.bound * (1 + 1e-4) + 1e-9
    plan = solve(problem, mip_gap=1e-3)
    assert plan.is_optimal and plan.total_cost <= problem.budget
    # solve's bound is the LP's, or tighter where the priced MILP ran
    assert (
        plan.objective <= plan.bound <= priced_guide.bound * formulation.benefit_scale * (1 + 1e-9)
    )


def test_the_frontier_is_the_same_on_every_run(synthetic_problem) -> None:
    """Prices and plans come from the problem alone, not from timing (sweeps rely on it)."""
    budgets = np.linspace(0.02, 0.4, 12) * spend_ceiling(synthetic_problem)
    first, second = (frontier(synthetic_problem, budgets, time_limit_s=120) for _ in range(2))
    for one, other in zip(first, second, strict=True):
        assert one.objective == other.objective and one.bound == other.bound
        assert (one.choice == other.choice).all() and one.status == other.status


def test_rounding_in_a_worker_process_gives_the_same_frontier(synthetic_problem, monkeypatch):
    """Large problems round each price in a worker beside the next LP: same plans."""
    import importlib

    frontier_module = importlib.import_module("coverageplan.optimize.frontier")
    budgets = np.linspace(0.02, 0.4, 8) * spend_ceiling(synthetic_problem)
    here = frontier(synthetic_problem, budgets, time_limit_s=120)
    monkeypatch.setattr(frontier_module, "PARALLEL_ROUNDING_COLUMNS", 0)
    monkeypatch.setattr(frontier_module.os, "cpu_count", lambda: 2)
    there = frontier(synthetic_problem, budgets, time_limit_s=120)
    for one, other in zip(here, there, strict=True):
        assert one.objective == other.objective and one.bound == other.bound
        assert (one.choice == other.choice).all() and one.status == other.status
