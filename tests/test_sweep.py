from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from coverageplan.cli import main
from coverageplan.errors import InputError
from coverageplan.pipeline import run
from coverageplan.scenario import scenario_from_dict
from coverageplan.sweep import (
    TASKS_PER_WORKER,
    TIMING_COLUMNS,
    Task,
    engineering_cache,
    expand,
    latin_hypercube,
    plan_tasks,
    run_sweep,
    run_task,
)
from tests.conftest import ROOT

VILLAGES = 300


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("engineering-cache")


def sweep_dict(cache_dir: Path, sweep: dict, **extra: object) -> dict:
    return {
        "name": "sweep-test",
        "region": {"synthetic": {"villages": VILLAGES, "seed": 3}},
        "optimizer": {"time_limit_s": 30, "mip_gap": 5e-3},
        "sweep": {"cache_dir": str(cache_dir), **sweep},
        **extra,
    }


def comparable(table: pd.DataFrame) -> pd.DataFrame:
    return table.drop(columns=list(TIMING_COLUMNS)).reset_index(drop=True)


MECHANISM_BY_BUDGET = {
    "budgets": {"share_of_full_cost": {"start": 0.02, "stop": 0.6, "count": 8}},
    "grid": {"policy.subsidy.mechanism": ["public_build", "satellite_voucher"]},
}


@pytest.mark.parametrize(
    ("sweep", "message"),
    [
        ({"grid": {"policy.budget": [1e6]}}, r"sweep\.grid: key 'policy\.budget': unknown key"),
        (
            {"grid": {"costs.cellular.mast_usd": [1]}},
            r"unknown key 'mast_usd' under costs\.cellular",
        ),
        ({"grid": {"policy.budget_usd": []}}, r"sweep\.grid\.policy\.budget_usd: List should have"),
        (
            {"latin_hypercube": {"ranges": {"costs.discount_rate": [0.01, 0.1]}, "samples": 0}},
            r"sweep\.latin_hypercube\.samples: Input should be greater than or equal to 1",
        ),
        (
            {
                "monte_carlo": {
                    "distributions": {"costs.discount_rate": {"distribution": "uniform"}},
                    "samples": 0,
                }
            },
            r"sweep\.monte_carlo\.samples: Input should be greater than or equal to 1",
        ),
        (
            {"zip": {"costs.discount_rate": [0.03, 0.05], "demand.take_up.cellular": [0.5]}},
            r"sweep\.zip: lists must have one length \(got costs\.discount_rate: 2, "
            r"demand\.take_up\.cellular: 1\)",
        ),
        (
            {"grid": {"policy.subsidy.mechanism": ["public_build", "lottery"]}},
            r"sweep\.grid\.policy\.subsidy\.mechanism\[1\] = 'lottery' is invalid: "
            r"policy\.subsidy\.mechanism: Input should be",
        ),
        (
            {"grid": {"demand.take_up.cellular": [0.5, 1.5]}},
            r"demand\.take_up\.cellular\[1\] = 1\.5 is invalid: .*take_up must be within",
        ),
        (
            {"latin_hypercube": {"ranges": {"costs.discount_rate": [0.1, 0.01]}, "samples": 3}},
            r"range of 'costs\.discount_rate' must have low < high",
        ),
        (
            {
                "monte_carlo": {
                    "distributions": {
                        "costs.discount_rate": {"distribution": "normal", "mean": 0.05}
                    },
                    "samples": 3,
                }
            },
            r"distributions\.costs\.discount_rate\.normal\.sd: Field required",
        ),
        ({"grid": {"policy.subsidy": [1]}}, r"'policy\.subsidy' is a section: name one of"),
        ({"grid": {"policy.targets.0.share": [0.5]}}, r"policy\.targets has 0 entries"),
        ({"budgets": {"usd": []}}, r"the budget list is empty"),
        (
            {"budgets": {"usd": [1e6]}, "grid": {"policy.budget_usd": [1e6, 2e6]}},
            r"'policy\.budget_usd' and sweep\.budgets both set the budget",
        ),
        ({}, r"nothing to sweep"),
        (
            {"grid": {"policy.budget_usd": ["5e6"]}},
            r"policy\.budget_usd\[0\] = '5e6' is read as 5000000\.0: give the value",
        ),
        ({"grid": {"outputs.map": [True, False]}}, r"section 'outputs' cannot be swept"),
    ],
)
def test_bad_sweep_specs_name_the_key(cache_dir: Path, sweep: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        scenario_from_dict(sweep_dict(cache_dir, sweep), source="bad.yaml")


def test_a_bad_sweep_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"
    data = sweep_dict(tmp_path, {"grid": {"policy.budget": [1e6]}})
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert main(["sweep", str(path)]) == 2
    assert "unknown key 'budget' under policy" in capsys.readouterr().err


def test_grid_zip_and_budgets_expand_as_a_product_in_order(cache_dir: Path) -> None:
    scenario = scenario_from_dict(
        sweep_dict(
            cache_dir,
            {
                "grid": {"policy.subsidy.mechanism": ["public_build", "gap_funding"]},
                "zip": {"costs.discount_rate": [0.03, 0.08], "demand.take_up.cellular": [0.6, 0.8]},
                "budgets": {"usd": [1e6, 2e6, 3e6]},
            },
        )
    )
    points = expand(scenario)
    assert len(points) == 2 * 2 * 3
    assert points[0].params == {
        "policy.subsidy.mechanism": "public_build",
        "costs.discount_rate": 0.03,
        "demand.take_up.cellular": 0.6,
        "policy.budget_usd": 1e6,
    }
    assert points[-1].params["policy.subsidy.mechanism"] == "gap_funding"
    assert points[-1].params["demand.take_up.cellular"] == 0.8
    ids = [p.point_id for p in points]
    assert len(set(ids)) == len(ids)
    assert ids == [p.point_id for p in expand(scenario)]  # deterministic


def test_latin_hypercube_hits_every_stratum_once_and_is_seeded() -> None:
    ranges = {"a": (0.0, 1.0), "b": (10.0, 30.0)}
    sample = latin_hypercube(ranges, 50, seed=4)
    assert sample.shape == (50, 2)
    for column, (low, high) in zip(sample.T, ranges.values(), strict=True):
        strata = np.floor((column - low) / (high - low) * 50).astype(int)
        assert sorted(strata) == list(range(50))
    assert np.array_equal(sample, latin_hypercube(ranges, 50, seed=4))
    assert not np.array_equal(sample, latin_hypercube(ranges, 50, seed=5))


def test_monte_carlo_draws_are_seeded_clipped_and_follow_their_distribution(
    cache_dir: Path,
) -> None:
    spec = {
        "monte_carlo": {
            "samples": 400,
            "seed": 2,
            "distributions": {
                "costs.cellular.site_civil_usd": {
                    "distribution": "lognormal",
                    "median": 45_000,
                    "sigma": 0.3,
                },
                "demand.take_up.cellular": {
                    "distribution": "normal",
                    "mean": 0.7,
                    "sd": 0.2,
                    "clip": [0.4, 0.9],
                },
                "costs.discount_rate": {
                    "distribution": "triangular",
                    "low": 0.03,
                    "mode": 0.05,
                    "high": 0.1,
                },
            },
        }
    }
    points = expand(scenario_from_dict(sweep_dict(cache_dir, spec)))
    draws = pd.DataFrame([p.params for p in points])
    assert [p.draw for p in points] == list(range(400))
    assert draws["demand.take_up.cellular"].between(0.4, 0.9).all()
    assert np.median(draws["costs.cellular.site_civil_usd"]) == pytest.approx(45_000, rel=0.05)
    assert draws["costs.discount_rate"].between(0.03, 0.1).all()
    again = expand(scenario_from_dict(sweep_dict(cache_dir, spec)))
    assert [p.point_id for p in points] == [p.point_id for p in again]
    spec["monte_carlo"]["seed"] = 3
    other = expand(scenario_from_dict(sweep_dict(cache_dir, spec)))
    assert points[0].point_id != other[0].point_id


def test_frontier_sweep_is_monotone_bounded_and_draws_its_charts(
    cache_dir: Path, tmp_path: Path
) -> None:
    scenario = scenario_from_dict(sweep_dict(cache_dir, MECHANISM_BY_BUDGET))
    result = run_sweep(scenario, directory=tmp_path / "s", workers=1, progress=False)
    table = result.table
    assert len(table) == 16 and list(table["point"]) == list(range(16))
    assert (table["bound"] >= table["objective"] * (1 - 1e-9)).all()
    assert (table["public_cost_usd"] <= table["budget_usd"] + 1e-6).all()
    assert table["status"].isin(["optimal", "feasible", "time_limit"]).all()
    for _, group in table.groupby("policy.subsidy.mechanism"):
        group = group.sort_values("budget_usd")
        assert np.all(np.diff(group["objective"]) >= -1e-9)
        assert np.all(np.diff(group["benefit_share"]) >= -1e-12)
        assert group["budget_usd"].is_monotonic_increasing
    assert table["population_served_share"].between(0, 1).all()
    shares = table[["share_fibre", "share_cellular", "share_satellite", "share_consolidate"]]
    assert np.allclose(shares.sum(axis=1), table["population_served_share"])
    for name in ("sweep.parquet", "sweep.json", "frontier.png", "heatmap.png"):
        assert (tmp_path / "s" / name).stat().st_size > 0
    assert not (tmp_path / "s" / "parts").exists()
    assert pd.read_parquet(tmp_path / "s" / "sweep.parquet").equals(table)


def test_milp_points_match_single_runs(cache_dir: Path, tmp_path: Path) -> None:
    data = sweep_dict(
        cache_dir,
        {"method": "milp", "grid": {"policy.budget_usd": [5e5, 2e6]}},
        outputs={"directory": str(tmp_path / "run")},
    )
    data["optimizer"]["mip_gap"] = 1e-6
    table = run_sweep(
        scenario_from_dict(data), directory=tmp_path / "s", workers=1, progress=False
    ).table
    for _, row in table.iterrows():
        single = dict(data, policy={"budget_usd": row["policy.budget_usd"]})
        plan = run(scenario_from_dict(single), write=False).context.plan
        assert row["objective"] == pytest.approx(plan.objective, rel=1e-6)
        assert row["bound"] >= row["objective"]
        assert row["status"] == "optimal"


def test_a_task_prices_its_economic_points_in_one_batch_with_the_rows_of_each_alone(
    cache_dir: Path,
) -> None:
    scenario = scenario_from_dict(
        sweep_dict(
            cache_dir,
            {
                "grid": {
                    "policy.subsidy.mechanism": ["public_build", "capex_share", "benchmark_cap"]
                },
                "monte_carlo": {
                    "samples": 3,
                    "seed": 2,
                    "distributions": {
                        "costs.discount_rate": {
                            "distribution": "uniform",
                            "low": 0.02,
                            "high": 0.1,
                        },
                        "demand.take_up.cellular": {
                            "distribution": "uniform",
                            "low": 0.4,
                            "high": 0.9,
                        },
                    },
                },
                "budgets": {"share_of_full_cost": [0.1, 0.4]},
            },
        )
    )
    tasks = plan_tasks(scenario, expand(scenario), workers=1)
    assert max(len(task.economic) for task in tasks) > 1
    assert sum(len(task.points) for task in tasks) == 18
    assert scenario.sweep is not None
    engineered = engineering_cache(scenario, scenario.sweep.cache_dir)[1]
    together = [run_task(task, engineered, keep_choices=True) for task in tasks]
    alone = [
        run_task(Task(task.engineering_key, (economic,), task.method), engineered, True)
        for task in tasks
        for economic in task.economic
    ]
    rows = [pd.DataFrame(row for r in results for row in r.rows) for results in (together, alone)]
    pd.testing.assert_frame_equal(comparable(rows[0]), comparable(rows[1]))
    choices = [np.concatenate([r.choices for r in results]) for results in (together, alone)]
    np.testing.assert_array_equal(*choices)


def test_engineering_is_cached_and_an_engineering_key_makes_its_own_entry(
    cache_dir: Path, tmp_path: Path
) -> None:
    fresh = tmp_path / "cache"
    data = sweep_dict(
        fresh,
        {"grid": {"engineering.radio.new_site_height_m": [20.0, 40.0]}, "budgets": {"usd": [2e6]}},
    )
    result = run_sweep(
        scenario_from_dict(data), directory=tmp_path / "s", workers=1, progress=False
    )
    assert len(list(fresh.glob("engineering-*.pkl"))) == 2
    assert result.table["objective"].nunique() == 2  # other masts, other reach, other plans
    base = scenario_from_dict(sweep_dict(fresh, {"budgets": {"usd": [1e6]}}))
    assert engineering_cache(base, fresh)[2] is False  # default heights: a third entry
    assert engineering_cache(base, fresh)[2] is True


def test_dask_local_cluster_gives_the_local_table(cache_dir: Path, tmp_path: Path) -> None:
    from distributed import LocalCluster

    scenario = scenario_from_dict(sweep_dict(cache_dir, MECHANISM_BY_BUDGET))
    local = run_sweep(scenario, directory=tmp_path / "local", workers=2, progress=False)
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        remote = run_sweep(
            scenario,
            directory=tmp_path / "dask",
            scheduler=cluster.scheduler_address,
            progress=False,
        )
    pd.testing.assert_frame_equal(comparable(local.table), comparable(remote.table))


def test_monte_carlo_sweep_writes_percentiles_and_village_stability(
    cache_dir: Path, tmp_path: Path
) -> None:
    spec = {
        "budgets": {"usd": [1e6, 4e6]},
        "monte_carlo": {
            "samples": 4,
            "seed": 1,
            "distributions": {
                "costs.cellular.site_civil_usd": {
                    "distribution": "uniform",
                    "low": 20_000,
                    "high": 90_000,
                }
            },
        },
    }
    result = run_sweep(
        scenario_from_dict(sweep_dict(cache_dir, spec)),
        directory=tmp_path / "mc",
        workers=1,
        progress=False,
    )
    out = tmp_path / "mc"
    for name in ("percentiles.png", "stability.gpkg", "village_shares.parquet", "choices.npz"):
        assert (out / name).stat().st_size > 0
    shares = pd.read_parquet(out / "village_shares.parquet")
    assert len(shares) == 2 * VILLAGES  # one combination per budget
    columns = [c for c in shares if c.startswith("share_")]
    assert np.allclose(shares[columns].sum(axis=1), 1.0)
    assert shares["stability"].between(0.25, 1.0).all()  # 4 draws: at least 1 in 4
    choices = np.load(out / "choices.npz")
    served = (choices["choice"] >= 0).sum(axis=1)
    assert np.array_equal(served, result.table["villages_served"].to_numpy())


def test_resume_refuses_a_folder_of_another_scenario(cache_dir: Path, tmp_path: Path) -> None:
    spec = {"budgets": {"usd": [1e6]}}
    run_sweep(
        scenario_from_dict(sweep_dict(cache_dir, spec)),
        directory=tmp_path / "s",
        workers=1,
        progress=False,
    )
    other = sweep_dict(cache_dir, spec, costs={"discount_rate": 0.03})
    with pytest.raises(InputError, match="holds a sweep of another scenario"):
        run_sweep(
            scenario_from_dict(other),
            directory=tmp_path / "s",
            resume=True,
            workers=1,
            progress=False,
        )


def test_a_killed_sweep_resumes_to_the_uninterrupted_table(cache_dir: Path, tmp_path: Path) -> None:
    spec = {
        "latin_hypercube": {
            "ranges": {"costs.cellular.site_civil_usd": [20_000, 90_000]},
            "samples": 16,
            "seed": 5,
        },
        "budgets": {"share_of_full_cost": [0.05, 0.2, 0.5]},
    }
    data = sweep_dict(cache_dir, spec)
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    killed = tmp_path / "killed"
    command = [sys.executable, "-m", "coverageplan.cli", "sweep", str(path), "--workers", "1"]
    process = subprocess.Popen(
        [*command, "--output", str(killed)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        cwd=ROOT,
    )
    # One worker cuts the 16 economic points into TASKS_PER_WORKER tasks: kill after the
    # first task's part, while the others are still to come.
    deadline = time.monotonic() + 120
    while not list((killed / "parts").glob("*.parquet")):
        assert process.poll() is None, "the sweep ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not (killed / "sweep.parquet").exists()
    kept = len(list((killed / "parts").glob("*.parquet")))
    assert 1 <= kept < TASKS_PER_WORKER
    resumed = subprocess.run(
        [*command, "--output", str(killed), "--resume"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert resumed.returncode == 0, resumed.stderr
    whole = run_sweep(
        scenario_from_dict(data), directory=tmp_path / "whole", workers=1, progress=False
    )
    pd.testing.assert_frame_equal(
        comparable(pd.read_parquet(killed / "sweep.parquet")), comparable(whole.table)
    )


def test_min_cost_sweep_over_a_target_records_infeasible_points_and_exits_3(
    cache_dir: Path, tmp_path: Path
) -> None:
    data = sweep_dict(
        cache_dir,
        {"method": "milp", "grid": {"demand.tiers.2.min_mbps": [100.0, 400.0]}},  # > fibre
        policy={
            "mode": "min_cost",
            "targets": [{"name": "fast", "tier": "fast", "share": 0.05}],
        },
    )
    path = tmp_path / "targets.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert main(["sweep", str(path), "--output", str(tmp_path / "s"), "--workers", "1"]) == 3
    table = pd.read_parquet(tmp_path / "s" / "sweep.parquet")
    assert list(table["status"]) == ["optimal", "infeasible"]
    reached = table.loc[0, "share_tier_fast"]
    assert reached >= 0.05 - 1e-9
    assert table.loc[0, "bound"] <= table.loc[0, "objective"] + 1e-6  # a lower bound on cost
