from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pyogrio
import pytest
import rasterio

from coverageplan.cli import main
from coverageplan.pipeline import run
from coverageplan.scenario import scenario_from_dict

from .conftest import ROOT, scenario_dict


def test_run_writes_three_consistent_outputs(region_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run(scenario_from_dict(scenario_dict(region_dir, out)))
    assert sorted(p.name for p in out.iterdir()) == [
        "coverage.tif",
        "map.png",
        "plan.gpkg",
        "summary.json",
    ]
    with rasterio.open(out / "coverage.tif") as raster:  # best RSRP from the plan's network
        rsrp = raster.read(1)
        assert raster.crs is not None and raster.tags(1)["units"] == "dBm"
        radio = result.context.reach.radio
        row, col = raster.index(*radio.existing_xy[0])
    assert np.isfinite(rsrp).any() and np.nanmax(rsrp) > -60.0
    assert rsrp[row, col] > -90.0  # strong beside an existing 4G tower
    summary = json.loads((out / "summary.json").read_text())
    plan, problem = result.context.plan, result.context.problem
    assert summary["status"] == plan.status == "optimal"
    assert summary["budget_used_usd"] <= summary["budget_usd"]
    assert sum(v["villages"] for v in summary["by_option"].values()) == problem.n_villages
    assert sum(v["villages"] for v in summary["by_region_class"].values()) == problem.n_villages
    villages = result.context.villages
    served = plan.choice >= 0
    adoption = result.context.econ.adoption[np.flatnonzero(served), plan.choice[served]]
    expected = ((villages.population * villages.priority)[served] * adoption).sum()  # weights 1
    assert summary["objective"] == pytest.approx(expected)
    assert summary["bound"] >= summary["objective"]
    spent = sum(v["public_cost_usd"] for v in summary["by_option"].values())
    assert spent == pytest.approx(summary["budget_used_usd"], abs=0.05)
    layers = {name for name, _ in pyogrio.list_layers(out / "plan.gpkg")}
    assert layers == {"villages", "sites", "fibre_routes", "fibre", "towers"}
    sites = pyogrio.read_dataframe(out / "plan.gpkg", layer="sites")
    assert set(sites["backhaul"]) <= {"microwave", "fibre", "satellite"}
    assert (sites["backhaul_usd"] > 0).all() or len(sites) == 0
    layer = pyogrio.read_dataframe(out / "plan.gpkg", layer="villages")
    assert set(layer["option"]) <= {"fibre", "cellular", "satellite", "consolidate", "none"}
    assert (layer["option"] != "none").sum() == served.sum()
    assert not list(tmp_path.glob(".out.*")), "staging folders left behind"


def test_more_budget_never_serves_fewer(region_dir: Path, tmp_path: Path) -> None:
    served = []
    for budget in (0.0, 1e6, 4e6):
        scenario = scenario_from_dict(scenario_dict(region_dir, tmp_path / "o", budget_usd=budget))
        served.append(run(scenario, write=False).context.plan.objective)
    assert served == sorted(served)
    assert served[-1] > served[0]


def test_developed_villages_take_fibre_or_existing_4g(region_dir: Path, tmp_path: Path) -> None:
    result = run(
        scenario_from_dict(scenario_dict(region_dir, tmp_path / "o", budget_usd=1e8)), write=False
    )
    context = result.context
    developed = context.villages.region_class == "developed"
    choice = context.plan.choice[developed]
    reachable = context.reach.fibre.reachable[developed]
    existing = context.reach.radio.existing_cover[developed]
    assert np.all((choice == 0) | ((choice == 1) & existing) | ~reachable)


def test_failed_run_leaves_no_partial_output(region_dir: Path, tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.json").write_text('{"previous": true}')

    def broken_map(context, path, signal=None):
        path.write_bytes(b"partial")
        raise RuntimeError("disk full")

    monkeypatch.setattr("coverageplan.report.draw_map", broken_map)
    with pytest.raises(RuntimeError, match="disk full"):
        run(scenario_from_dict(scenario_dict(region_dir, out)))
    assert [p.name for p in out.iterdir()] == ["summary.json"]
    assert json.loads((out / "summary.json").read_text()) == {"previous": True}
    assert [p.name for p in tmp_path.iterdir()] == sorted(["out", "region"])


def test_bad_region_run_leaves_nothing(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        f"region:\n  path: {tmp_path / 'empty'}\noutputs:\n  directory: {tmp_path / 'out'}\n"
    )
    assert main(["run", str(scenario)]) == 2
    assert not (tmp_path / "out").exists()


def test_cli_validate_and_exit_codes(tmp_path: Path, capsys) -> None:
    assert main(["validate", str(ROOT / "scenarios" / "demo.yaml")]) == 0
    assert "valid" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text("region:\n  path: x\npolicy:\n  budget: 5\n")
    assert main(["validate", str(bad)]) == 2
    error = capsys.readouterr().err
    assert str(bad) in error and "policy.budget" in error and "unknown key" in error


def test_cli_synth_then_run(tmp_path: Path, capsys) -> None:
    assert main(["synth", "--villages", "120", "--seed", "4", "--out", str(tmp_path / "r")]) == 0
    scenario = tmp_path / "s.yaml"
    scenario.write_text("name: tiny\nregion:\n  path: r\npolicy:\n  budget_usd: 500000\n")
    assert main(["run", str(scenario), "--output", str(tmp_path / "o"), "--require-optimal"]) == 0
    assert "tiny: served" in capsys.readouterr().out
    assert (tmp_path / "o" / "map.png").stat().st_size > 10_000


def test_synthetic_source_in_scenario(tmp_path: Path) -> None:
    data = {
        "region": {"synthetic": {"villages": 80, "seed": 2}},
        "outputs": {"directory": str(tmp_path / "o")},
    }
    result = run(scenario_from_dict(data), write=False)
    assert result.context.problem.n_villages == 80


def test_demo_runs_within_a_minute(tmp_path: Path) -> None:
    started = time.perf_counter()
    assert (
        main(["run", str(ROOT / "scenarios" / "demo.yaml"), "--output", str(tmp_path / "demo")])
        == 0
    )
    assert time.perf_counter() - started < 60
    summary = json.loads((tmp_path / "demo" / "summary.json").read_text())
    assert summary["villages"] == 2000
    assert summary["status"] == "optimal"


@pytest.mark.parametrize("method", ["frontier", "decompose"])
def test_every_method_plans_within_its_gap_of_the_milp(
    region_dir: Path, tmp_path: Path, method: str
) -> None:
    data = scenario_dict(region_dir, tmp_path / "o", budget_usd=2e6)
    exact = run(scenario_from_dict(data), write=False).context.plan
    data["optimizer"] = {"method": method, "mip_gap": 1e-2, "time_limit_s": 60}
    plan = run(scenario_from_dict(data), write=False).context.plan
    assert plan.total_cost <= 2e6
    assert plan.bound >= exact.objective * (1 - 1e-6)
    assert plan.objective <= exact.bound * (1 + 1e-9)
    assert plan.objective >= exact.objective * (1 - 1e-2) - 1e-6


@pytest.mark.parametrize("method", ["milp", "frontier", "decompose"])
def test_site_capacity_switch_keeps_every_site_within_capacity(
    region_dir: Path, tmp_path: Path, method: str
) -> None:
    out = tmp_path / "out"
    data = scenario_dict(region_dir, out)
    data["demand"] = {"enforce_site_capacity": True, "site_capacity_mbps": 20.0}
    data["optimizer"] = {"method": method, "mip_gap": 1e-2, "time_limit_s": 30}
    result = run(scenario_from_dict(data), write=method == "milp")
    plan, problem = result.context.plan, result.context.problem
    assert problem.has_site_capacity and plan.total_cost <= 2e6
    assert (plan.site_load(problem) <= 20.0 * (1 + 1e-9)).all()
    relying = (plan.choice == 1) & ~problem.existing_cover
    assert (plan.site_assignment[relying] >= 0).all()
    data["demand"] = {"site_capacity_mbps": 20.0}
    unlimited = run(scenario_from_dict(data), write=False).context
    assert plan.objective <= unlimited.plan.bound * (1 + 1e-9)  # a constraint never adds
    if method == "milp":
        sites = pyogrio.read_dataframe(out / "plan.gpkg", layer="sites")
        assert (sites["load_mbps"] <= sites["capacity_mbps"] + 1e-3).all()
        assert sites["villages_served"].sum() == relying.sum()
