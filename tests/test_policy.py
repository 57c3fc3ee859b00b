"""Policy end to end: mechanisms, targets, consolidation, affordability, shipped scenarios."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from coverageplan.cli import main
from coverageplan.errors import InfeasibleError
from coverageplan.optimize import CONSOLIDATE, SATELLITE
from coverageplan.pipeline import run
from coverageplan.scenario import load_scenario, scenario_from_dict

from .conftest import ROOT, scenario_dict

SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.name)
def test_every_shipped_scenario_runs(path: Path) -> None:
    scenario = load_scenario(path)
    region = scenario.region
    needed = [region.path] if region.path is not None else []
    if region.files is not None:
        needed += [*region.files.dem, region.files.villages.path]
    missing = [p for p in needed if not Path(p).exists()]
    if missing:
        pytest.skip(f"{path.name}: its region data {missing[0]} is not here (shared/ absent)")
    # This checks that each file plans, not the last 0.01 % of optimality (tested elsewhere).
    loose = scenario.optimizer.model_copy(update={"mip_gap": 1e-2})
    plan = run(scenario.model_copy(update={"optimizer": loose}), write=False).context.plan
    assert plan.status in ("optimal", "time_limit")
    assert plan.gap <= 1e-2 or plan.status == "time_limit"
    assert plan.total_cost <= scenario.policy.budget_usd or scenario.policy.mode == "min_cost"


def min_cost(region_dir: Path, tmp_path: Path, mechanism: str, **policy) -> dict:
    data = scenario_dict(region_dir, tmp_path / "o")
    data["policy"] = {
        "mode": "min_cost",
        "targets": [{"name": "basic for 90 %", "tier": "basic", "share": 0.9}],
        "subsidy": {"mechanism": mechanism},
        **policy,
    }
    return data


def test_gap_funding_never_costs_more_than_public_build(region_dir: Path, tmp_path: Path) -> None:
    public = run(scenario_from_dict(min_cost(region_dir, tmp_path, "public_build")), write=False)
    gap = run(scenario_from_dict(min_cost(region_dir, tmp_path, "gap_funding")), write=False)
    assert gap.context.plan.total_cost <= public.context.plan.total_cost + 1e-6
    for result in (public, gap):
        problem, plan = result.context.problem, result.context.plan
        reached = problem.target_weight[0][
            np.flatnonzero(plan.choice >= 0), plan.choice[plan.choice >= 0]
        ]
        assert reached.sum() >= problem.target_required[0] * (1 - 1e-9)


def test_impossible_target_is_a_clear_error_and_exit_status(
    region_dir: Path, tmp_path: Path, capsys
) -> None:
    data = min_cost(region_dir, tmp_path, "public_build")
    data["policy"]["targets"] = [{"name": "gigabit everywhere", "tier": "fast", "share": 1.0}]
    data["policy"]["eligible"] = {"remote": ["cellular", "satellite"]}
    with pytest.raises(
        InfeasibleError, match=r"target 'gigabit everywhere' .* at most \d+\.\d% .* short by"
    ):
        run(scenario_from_dict(data), write=False)
    path = tmp_path / "impossible.yaml"
    import yaml

    path.write_text(yaml.safe_dump(data))
    assert main(["run", str(path)]) == 3
    assert "gigabit everywhere" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_consolidated_villages_have_served_hosts(region_dir: Path, tmp_path: Path) -> None:
    data = scenario_dict(region_dir, tmp_path / "o", budget_usd=3e6)
    data["policy"]["consolidation"] = {
        "enabled": True,
        "min_dispersion": 0.0,
        "classes": ["remote", "pastoral", "border", "central", "western"],
    }
    data["costs"] = {"consolidation": {"usd_per_household": 1.0}}  # nearly free: it must be used
    context = run(scenario_from_dict(data), write=False).context
    moved = np.flatnonzero(context.plan.choice == CONSOLIDATE)
    assert len(moved) > 0
    hosts = context.econ.host[moved]
    assert (hosts >= 0).all()
    assert np.isin(context.plan.choice[hosts], [0, 1, 2]).all()
    population = context.villages.population
    assert (population[hosts] > population[moved]).all()


def test_affordability_constraint_removes_unaffordable_options(
    region_dir: Path, tmp_path: Path
) -> None:
    data = scenario_dict(region_dir, tmp_path / "o", budget_usd=1e8)
    data["policy"]["affordability_constraint"] = True
    context = run(scenario_from_dict(data), write=False).context
    # Satellite at 100 USD a month is beyond 2 % of these incomes everywhere.
    assert not context.econ.affordable[:, SATELLITE].any()
    assert not (context.plan.choice == SATELLITE).any()


def test_developed_villages_never_get_satellite_where_fibre_is_feasible(
    region_dir: Path, tmp_path: Path
) -> None:
    for mechanism in ("public_build", "gap_funding", "satellite_voucher"):
        data = scenario_dict(region_dir, tmp_path / "o", budget_usd=5e7)
        data["policy"]["subsidy"] = {"mechanism": mechanism}
        context = run(scenario_from_dict(data), write=False).context
        developed = context.villages.region_class == "developed"
        satellite = context.plan.choice == SATELLITE
        assert not (developed & satellite & context.reach.fibre.reachable).any()


def test_area_class_from_rules_when_the_data_has_none(region_dir: Path, tmp_path: Path) -> None:
    from coverageplan.pipeline import load_region, region_class_of

    data = scenario_dict(region_dir, tmp_path / "o")
    data["policy"]["class_rules"] = {
        "enabled": True,
        "developed_within_m": 3_000,
        "remote_beyond_m": 9_000,
    }
    scenario = scenario_from_dict(data)
    region = load_region(scenario.region)
    region.villages.loc[:, "region_class"] = None
    classes = region_class_of(region, scenario)
    assert {"developed", "remote", "central"} <= set(classes)
    # Without rules, missing classes take the default.
    plain = scenario_from_dict(scenario_dict(region_dir, tmp_path / "o"))
    assert set(region_class_of(region, plain)) == {"central"}
