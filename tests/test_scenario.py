from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from coverageplan.errors import InputError
from coverageplan.scenario import load_scenario, scenario_from_dict

from .conftest import ROOT

SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))


def write(tmp_path: Path, data: object, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.name)
def test_every_shipped_scenario_validates_with_each_override(path: Path) -> None:
    scenario = load_scenario(path)
    for name in scenario.overrides:
        load_scenario(path, overrides=[name])


def test_shipped_scenarios_exist() -> None:
    assert SCENARIOS, "scenarios/ holds no scenario"


def test_relative_paths_are_taken_from_the_scenario_folder(tmp_path: Path) -> None:
    path = write(tmp_path, {"region": {"path": "regions/a"}, "outputs": {"directory": "out/x"}})
    scenario = load_scenario(path)
    assert scenario.region.path == (tmp_path / "regions/a").resolve()
    assert scenario.outputs.directory == (tmp_path / "out/x").resolve()


def test_unknown_key_names_file_and_key_path(tmp_path: Path) -> None:
    path = write(tmp_path, {"region": {"path": "r"}, "policy": {"budget_usdd": 5}})
    with pytest.raises(InputError) as error:
        load_scenario(path)
    message = str(error.value)
    assert str(path) in message
    assert "policy.budget_usdd" in message
    assert "unknown key" in message


def test_wrong_type_names_key_and_expectation(tmp_path: Path) -> None:
    path = write(tmp_path, {"region": {"path": "r"}, "costs": {"horizon_years": "ten"}})
    with pytest.raises(InputError) as error:
        load_scenario(path)
    assert "costs.horizon_years" in str(error.value)
    assert "integer" in str(error.value)
    assert "'ten'" in str(error.value)


def test_out_of_range_value(tmp_path: Path) -> None:
    path = write(tmp_path, {"region": {"path": "r"}, "demand": {"fibre_speed_mbps": -5}})
    with pytest.raises(
        InputError, match=r"demand\.fibre_speed_mbps: Input should be greater than 0"
    ):
        load_scenario(path)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (
            {"demand": {"take_up": {"fibre": 1.5, "cellular": 0.5, "satellite": 0.5}}},
            r"demand: .*take_up must be within \[0, 1\]",
        ),
        (
            {"costs": {"discount_rate": -1.0}},
            r"costs\.discount_rate: Input should be greater than -1",
        ),
        (
            {"costs": {"cellular": {"backhaul_usd": -1}}},
            r"costs\.cellular\.backhaul_usd: Input should be greater than or equal to 0",
        ),
        ({"policy": {"eligible": {"suburban": ["fibre"]}}}, r"policy\.eligible\.suburban"),
        (
            {"policy": {"subsidy": {"capex_share": {"mountain": 0.3}}}},
            r"policy\.subsidy\.capex_share\.mountain",
        ),
        ({"policy": {"mode": "min_cost"}}, r"policy: .*needs at least one target"),
        (
            {"policy": {"targets": [{"name": "x", "tier": "ultra", "share": 0.5}]}},
            r"unknown tier 'ultra'",
        ),
        (
            {
                "policy": {
                    "mode": "min_cost",
                    "targets": [{"name": "t", "tier": "basic", "share": 1}],
                },
                "optimizer": {"method": "decompose"},
            },
            r"optimizer\.method: 'decompose' prices the budget and needs policy\.mode",
        ),
    ],
)
def test_bad_economics_and_policy_values_name_the_key(section: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        scenario_from_dict({"region": {"synthetic": {}}, **section})


def test_region_needs_exactly_one_source(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="exactly one of 'path' or 'synthetic'"):
        load_scenario(write(tmp_path, {"region": {}}))


def test_bad_yaml_reports_line(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"not valid YAML at line \d+, column \d+"):
        load_scenario(write(tmp_path, "region:\n  path: [unclosed\n"))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read scenario file"):
        load_scenario(tmp_path / "absent.yaml")


def test_override_merges_deeply_and_in_order() -> None:
    data = {
        "region": {"synthetic": {"villages": 10}},
        "policy": {"budget_usd": 1.0, "default_region_class": "remote"},
        "overrides": {"a": {"policy": {"budget_usd": 2.0}}, "b": {"policy": {"budget_usd": 3.0}}},
    }
    assert scenario_from_dict(data, overrides=["a"]).policy.budget_usd == 2.0
    merged = scenario_from_dict(data, overrides=["a", "b"])
    assert merged.policy.budget_usd == 3.0
    assert merged.policy.default_region_class == "remote"


def test_unknown_override_lists_known_ones() -> None:
    data = {"region": {"synthetic": {}}, "overrides": {"low": {}}}
    with pytest.raises(InputError, match=r"no override named 'high' \(known: low\)"):
        scenario_from_dict(data, overrides=["high"])


def test_invalid_override_content_is_reported() -> None:
    data = {"region": {"synthetic": {}}, "overrides": {"bad": {"policy": {"budget_usd": -1}}}}
    with pytest.raises(InputError, match=r"policy\.budget_usd"):
        scenario_from_dict(data, overrides=["bad"])


def test_slope_bands_must_match_factors() -> None:
    data = {"region": {"synthetic": {}}, "engineering": {"fibre": {"slope_factors": [1.0]}}}
    with pytest.raises(InputError, match="one more entry"):
        scenario_from_dict(data)


def test_every_field_has_a_description_and_default() -> None:
    from pydantic import BaseModel

    from coverageplan.scenario import Scenario

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, field in model.model_fields.items():
            annotation = field.annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                walk(annotation, f"{prefix}{name}.")
                continue
            assert field.description, f"{prefix}{name} has no description"

    walk(Scenario, "")
