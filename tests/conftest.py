from __future__ import annotations

from pathlib import Path

import pytest

from coverageplan.region import Region, write_region
from coverageplan.region.synth import synthesize

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def small_region() -> Region:
    return synthesize(300, seed=3)


@pytest.fixture()
def region_dir(tmp_path: Path, small_region: Region) -> Path:
    return write_region(small_region, tmp_path / "region")


def scenario_dict(region_path: Path, output: Path, **policy: float) -> dict:
    return {
        "name": "test",
        "region": {"path": str(region_path)},
        "policy": {"budget_usd": 2_000_000, **policy},
        "optimizer": {"time_limit_s": 30},
        "outputs": {"directory": str(output)},
    }
