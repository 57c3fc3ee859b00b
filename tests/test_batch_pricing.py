"""Pricing P points at once equals pricing each alone, exactly, for every array a Problem holds."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coverageplan.economics import CostItems, Economics
from coverageplan.errors import InfeasibleError
from coverageplan.optimize import Problem
from coverageplan.pipeline import Engineered, engineer, load_region, price, price_points
from coverageplan.policy import path_cost
from coverageplan.scenario import OPTIONS, Scenario, deep_merge, scenario_from_dict
from coverageplan.sweep import monte_carlo
from coverageplan.sweep_spec import MonteCarlo, with_values

MECHANISMS = ["public_build", "gap_funding", "capex_share", "benchmark_cap", "satellite_voucher"]
BASE: dict[str, Any] = {
    "name": "batch",
    "region": {"synthetic": {"villages": 300, "seed": 3}},
    "engineering": {"radio": {"propagation": "hata"}},
}
PROBLEM_ARRAYS = [
    f.name for f in fields(Problem) if f.init and f.name not in ("cover", "target_names", "budget")
]


@pytest.fixture(scope="module")
def engineered() -> Engineered:
    scenario = scenario_from_dict(BASE)
    return engineer(load_region(scenario.region), scenario.engineering)


def points(values: list[dict[str, Any]], **sections: Any) -> list[Scenario]:
    """One scenario per dict of dotted keys, on the base scenario with ``sections`` merged in."""
    base = scenario_from_dict(deep_merge(BASE, sections)).model_dump()
    return [scenario_from_dict(with_values(base, value)) for value in values]


def assert_same_economics(batch: Economics, single: Economics) -> None:
    for f in fields(Economics):
        a, b = getattr(batch, f.name), getattr(single, f.name)
        if isinstance(a, CostItems):
            for item in fields(CostItems):
                np.testing.assert_array_equal(getattr(a, item.name), getattr(b, item.name))
        else:
            np.testing.assert_array_equal(a, b, err_msg=f.name)


def assert_batch_equals_singles(engineered: Engineered, scenarios: list[Scenario]) -> int:
    """Check every point of the batch against pricing it alone; the number out of reach."""
    _, problems = price_points(engineered, scenarios)
    assert len(problems) == len(scenarios)
    unreachable = 0
    for i, scenario in enumerate(scenarios):
        try:
            _, single_econ, single = price(engineered, scenario)
        except InfeasibleError as error:
            with pytest.raises(InfeasibleError, match="cannot be met") as batched:
                problems.problem(i)
            assert str(batched.value) == str(error)
            unreachable += 1
            continue
        assert_same_economics(problems.economics(i), single_econ)
        problem = problems.problem(i)
        assert problem.budget == single.budget
        assert problem.target_names == single.target_names
        assert (problem.cover != single.cover).nnz == 0
        for name in PROBLEM_ARRAYS:
            np.testing.assert_array_equal(
                getattr(problem, name), getattr(single, name), err_msg=f"point {i}: {name}"
            )
    return unreachable


def test_a_mixed_batch_of_mechanisms_and_monte_carlo_draws_prices_as_each_alone(
    engineered: Engineered,
) -> None:
    keys = [
        "costs.cellular.site_civil_usd",
        "costs.fibre.trench_usd_per_km",
        "costs.satellite.terminal_usd",
        "demand.take_up.cellular",
        "costs.discount_rate",
        "costs.horizon_years",
    ]
    spec = MonteCarlo.model_validate(
        {
            "samples": 10,
            "seed": 4,
            "distributions": {
                keys[0]: {"distribution": "lognormal", "median": 45_000, "sigma": 0.3},
                keys[1]: {"distribution": "triangular", "low": 8e3, "mode": 12e3, "high": 2e4},
                keys[2]: {"distribution": "uniform", "low": 300, "high": 700},
                keys[3]: {"distribution": "normal", "mean": 0.7, "sd": 0.1, "clip": [0.4, 0.9]},
                keys[4]: {"distribution": "uniform", "low": 0.0, "high": 0.1},
                keys[5]: {"distribution": "uniform", "low": 1, "high": 50},
            },
        }
    )
    draws = monte_carlo(spec)
    values = []
    for i, row in enumerate(draws):
        value: dict[str, Any] = dict(zip(keys, map(float, row), strict=True))
        value["costs.horizon_years"] = round(float(row[5]))
        value["policy.subsidy.mechanism"] = MECHANISMS[i % len(MECHANISMS)]
        value["policy.subsidy.capex_share.remote"] = 0.1 * (i % 7)
        value["policy.subsidy.cap_usd_per_month"] = 50.0 + 20 * i
        value["policy.subsidy.voucher_usd"] = 100.0 * i
        value["policy.budget_usd"] = 1e5 * (i + 1)
        values.append(value)
    values[0]["costs.discount_rate"] = 0.0  # the annuity's own branch
    assert_batch_equals_singles(engineered, points(values))


def test_a_batch_with_targets_affordability_and_consolidation(engineered: Engineered) -> None:
    policy = {
        "affordability_constraint": True,
        "consolidation": {"enabled": True, "min_dispersion": 0.3},
        "default_region_class": "remote",
        "targets": [{"name": "half", "tier": "standard", "share": 0.5}],
        "mode": "min_cost",
    }
    values = [
        {"policy.subsidy.mechanism": m, "demand.arpu_usd_per_month.satellite": arpu}
        for m in MECHANISMS
        for arpu in (20.0, 150.0)
    ]
    values.append({"demand.take_up.cellular": 0.0, "demand.take_up.satellite": 0.0})
    values.append({"demand.site_capacity_mbps": 5.0})
    dear = {f"demand.arpu_usd_per_month.{option}": 1_000.0 for option in OPTIONS}
    values.append(dear)  # nothing affordable: the target is out of reach
    assert assert_batch_equals_singles(engineered, points(values, policy=policy)) == 1
    demand = {"enforce_site_capacity": True}
    assert (
        assert_batch_equals_singles(engineered, points(values, policy=policy, demand=demand)) == 1
    )


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "policy.subsidy.mechanism": st.sampled_from(MECHANISMS),
                "costs.discount_rate": st.floats(-0.05, 0.3),
                "costs.horizon_years": st.integers(1, 50),
                "costs.satellite.terminal_life_years": st.integers(1, 12),
                "costs.fibre.equipment_life_years": st.integers(1, 30),
                "costs.cellular.site_civil_usd": st.floats(0, 2e5),
                "costs.fibre.trench_usd_per_km": st.floats(0, 5e4),
                "demand.take_up.fibre": st.floats(0, 1),
                "demand.take_up.satellite": st.floats(0, 1),
                "demand.site_capacity_mbps": st.floats(1, 1e3),
                "policy.subsidy.capex_share.border": st.floats(0, 1),
                "policy.subsidy.benchmark_usd_per_month": st.floats(0, 100),
                "policy.subsidy.voucher_usd": st.floats(0, 2e3),
            }
        ),
        min_size=1,
        max_size=6,
    )
)
def test_any_batch_prices_as_its_points_alone(engineered: Engineered, values: list) -> None:
    assert_batch_equals_singles(engineered, points(values))


def test_points_that_differ_beyond_pricing_are_refused_by_key(engineered: Engineered) -> None:
    scenarios = points([{}, {"policy.consolidation.enabled": True}])
    with pytest.raises(ValueError, match=r"point 1 differs from point 0 in 'policy\.consolidation"):
        price_points(engineered, scenarios)
    with pytest.raises(ValueError, match="no scenario points"):
        price_points(engineered, [])


def test_path_costs_by_pointer_doubling_equal_walking_each_path() -> None:
    rng = np.random.default_rng(5)
    n = 500
    parent = np.array([-1] + [int(rng.integers(-1, i)) for i in range(1, n)])
    edge_cost = rng.random((3, n))
    walked = np.zeros((3, n))
    for village in range(n):
        node = village
        while node >= 0:
            walked[:, village] += edge_cost[:, node]
            node = parent[node]
    np.testing.assert_allclose(path_cost(parent, edge_cost), walked, rtol=1e-12)
    with pytest.raises(ValueError, match="cycle"):
        path_cost(np.array([1, 0]), np.ones((1, 2)))
