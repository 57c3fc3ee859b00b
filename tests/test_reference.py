"""The array-built formulation against the readable per-element PuLP reference model."""

from __future__ import annotations

import numpy as np
import pytest

from coverageplan.errors import InfeasibleError
from coverageplan.optimize import solve
from coverageplan.optimize.reference import solve_reference
from coverageplan.pipeline import prepare
from coverageplan.scenario import Scenario
from tests.test_optimize import random_problem


@pytest.mark.parametrize("seed", range(40))
def test_reference_model_has_the_same_optimum(seed: int) -> None:
    extended = seed % 2 == 1
    problem = random_problem(seed, extended=extended)
    for goal in ("max_benefit", "min_cost") if extended else ("max_benefit",):
        reference = solve_reference(problem, goal, mip_gap=0.0)
        try:
            plan = solve(problem, goal=goal, mip_gap=0.0)
        except InfeasibleError:
            assert reference.status == "infeasible"
            continue
        assert reference.status == "optimal"
        assert plan.objective == pytest.approx(reference.objective, abs=1e-6)


def test_reference_model_agrees_on_a_synthetic_region() -> None:
    scenario = Scenario.model_validate(
        {"region": {"synthetic": {"villages": 300, "seed": 2}}, "policy": {"budget_usd": 2e6}}
    )
    problem = prepare(scenario).problem
    reference = solve_reference(problem, mip_gap=1e-6)
    plan = solve(problem, mip_gap=1e-6)
    assert reference.status == "optimal" and plan.is_optimal
    assert plan.objective == pytest.approx(reference.objective, rel=1e-5)
    served = reference.choice >= 0
    assert problem.cost[served, reference.choice[served]].sum() <= problem.budget
    assert np.isfinite(plan.bound)
