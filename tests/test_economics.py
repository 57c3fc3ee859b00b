"""Economics and subsidy rules against figures computed by hand, to the cent."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from coverageplan.economics import annuity_factor, economics, replacement_factor
from coverageplan.engineering import Reach
from coverageplan.engineering.fibre import FibreReach
from coverageplan.engineering.radio import SITE_NEW, RadioReach
from coverageplan.policy import Villages, public_costs
from coverageplan.scenario import Costs, Demand, Subsidy

RATE, HORIZON = 0.10, 3
# Annuity at 10 % over 3 years: 1/1.1 + 1/1.21 + 1/1.331.
ANNUITY = 1 / 1.1 + 1 / 1.21 + 1 / 1.331


def tiny_reach() -> Reach:
    """Two villages: 0 covered by nothing, 1 covered by one new site; fibre 0 → network, 1 → 0."""
    return Reach(
        village_xy=np.array([[0.0, 0.0], [1_000.0, 0.0]]),
        fibre=FibreReach(
            parent=np.array([-1, 0]),
            edge_length_m=np.array([2_000.0, 1_000.0]),
            edge_terrain_factor=np.array([1.5, 1.0]),
            attach_xy=np.zeros((2, 2)),
            reachable=np.array([True, True]),
        ),
        radio=RadioReach(
            site_xy=np.array([[500.0, 0.0]]),
            site_kind=np.array([SITE_NEW], dtype=np.int8),
            site_tower=np.array([-1]),
            site_height_m=np.array([30.0]),
            cover=sparse.csr_matrix(np.array([[False], [True]])),
            existing_cover=np.array([False, False]),
            existing_sites_cover=sparse.csr_matrix((2, 0), dtype=bool),
        ),
        beam=np.array([0, 0]),
        beam_count=1,
    )


COSTS = Costs.model_validate(
    {
        "discount_rate": RATE,
        "horizon_years": HORIZON,
        "fibre": {
            "trench_usd_per_km": 1_000,
            "village_equipment_usd": 1_000,
            "drop_usd_per_subscriber": 100,
            "opex_usd_per_km_per_year": 10,
            "equipment_opex_share_per_year": 0.1,
            "equipment_life_years": 2,
            "cable_life_years": 30,
        },
        "cellular": {
            "site_equipment_usd": 10_000,
            "site_civil_usd": 20_000,
            "backhaul_usd": 5_000,
            "site_opex_share_per_year": 0.1,
            "site_rent_usd_per_year": 1_000,
            "equipment_life_years": 2,
            "civil_life_years": 20,
        },
        "satellite": {
            "terminal_usd": 400,
            "install_usd": 100,
            "capacity_usd_per_mbps_per_year": 10,
            "maintenance_share_per_year": 0.0,
            "terminal_life_years": 5,
        },
    }
)
DEMAND = Demand.model_validate(
    {
        "take_up": {"fibre": 0.5, "cellular": 0.5, "satellite": 0.2},
        "arpu_usd_per_month": {"fibre": 6, "cellular": 5, "satellite": 50},
        "busy_hour_mbps_per_subscriber": 2.0,
    }
)
VILLAGES = Villages(
    population=np.array([40.0, 30.0]),
    households=np.array([10.0, 8.0]),
    region_class=np.array(["remote", "central"]),
    priority=np.ones(2),
    dispersion=np.zeros(2),
    income_usd_per_month=None,
)


def batch():
    """A batch of one point (the leading point axis of every array)."""
    return economics(tiny_reach(), VILLAGES.households, None, np.array([-1, -1]), [COSTS], [DEMAND])


def econ():
    return batch().take(0)


def public_costs_of(subsidy: Subsidy) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One point's public costs (village, site, edge) under ``subsidy``."""
    village, site, edge = public_costs(batch(), tiny_reach(), VILLAGES, [subsidy])
    return village[0], site[0], edge[0]


def test_factors() -> None:
    assert annuity_factor(RATE, HORIZON) == pytest.approx(ANNUITY, abs=1e-12)
    assert annuity_factor(0.0, 4) == 4.0
    assert replacement_factor(RATE, 2, HORIZON) == pytest.approx(1 / 1.21)  # replaced at year 2
    assert replacement_factor(RATE, 5, HORIZON) == 0.0


def test_net_present_costs_by_hand() -> None:
    result = econ()
    npc = result.npc(result.village)
    # Village 0 fibre: 5 subscribers; capex 1,000 + 5 × 100 = 1,500; replaced at year 2;
    # opex 10 % = 150 a year.
    fibre_0 = 1_500 + 1_500 / 1.21 + 150 * ANNUITY
    assert npc[0, 0] == pytest.approx(fibre_0, abs=0.005)
    assert round(npc[0, 0], 2) == 3112.70
    # Village 1 satellite: 8 × 0.2 = 1.6 subscribers × 500 = 800 capex; 3.2 Mbps × 10 USD a year.
    assert npc[1, 2] == pytest.approx(800 + 32 * ANNUITY, abs=0.005)
    assert npc[0, 1] == 0.0  # cellular has no village-side cost
    # The new site: equipment + backhaul 15,000 replaced at year 2; civil 20,000 not;
    # opex 10 % of 35,000 + 1,000 rent = 4,500 a year.
    site = result.npc(result.site)[0]
    assert site == pytest.approx(35_000 + 15_000 / 1.21 + 4_500 * ANNUITY, abs=0.005)
    # Trenches: 2 km × 1,000 × 1.5 and 1 km × 1,000; opex 10 USD per km-year.
    edge = result.npc(result.edge)
    assert edge[0] == pytest.approx(3_000 + 20 * ANNUITY, abs=0.005)
    assert edge[1] == pytest.approx(1_000 + 10 * ANNUITY, abs=0.005)


def test_revenue_by_hand() -> None:
    revenue = econ().revenue_usd
    assert revenue[0, 0] == pytest.approx(5 * 6 * 12 * ANNUITY, abs=0.005)  # 895.27
    assert round(revenue[0, 0], 2) == 895.27
    assert revenue[1, 2] == pytest.approx(1.6 * 50 * 12 * ANNUITY, abs=0.005)


def test_public_build_and_gap_funding_by_hand() -> None:
    result = econ()
    built = public_costs_of(Subsidy(mechanism="public_build"))
    gap = public_costs_of(Subsidy(mechanism="gap_funding"))
    np.testing.assert_allclose(built[0], result.npc(result.village))
    # Gap funding: the village pays its NPC minus its revenue; shared items stay.
    assert round(gap[0][0, 0], 2) == round(3112.70 - 895.27, 2) == 2217.43
    np.testing.assert_allclose(gap[1], built[1])
    np.testing.assert_allclose(gap[2], built[2])


def test_capex_share_china_rule_by_hand() -> None:
    subsidy = Subsidy(
        mechanism="capex_share", capex_share={"remote": 0.3}, opex_years={"remote": 6}
    )
    village, site, edge = public_costs_of(subsidy)
    six_years = annuity_factor(RATE, 6)
    # Remote village 0, fibre: 30 % × (capex 1,500 + 6 years × 150).
    assert village[0, 0] == pytest.approx(0.3 * (1_500 + 150 * six_years), abs=0.005)
    assert village[1, 0] == 0.0  # central: no share
    assert site[0] == 0.0  # the site covers only the central village
    assert edge[0] == pytest.approx(0.3 * (3_000 + 20 * six_years), abs=0.005)


def test_benchmark_cap_by_hand() -> None:
    subsidy = Subsidy(
        mechanism="benchmark_cap", benchmark_usd_per_month=20.0, cap_usd_per_month=30.0
    )
    village, site, edge = public_costs_of(subsidy)
    months = 12 * ANNUITY
    # Village 0 fibre standalone: its NPC plus its trench (edge 0) per household-month.
    standalone = 3112.70 + 3_000 + 20 * ANNUITY
    monthly = standalone / (10 * months)
    expected = min(30.0, max(0.0, monthly - 20.0)) * 10 * months
    assert village[0, 0] == pytest.approx(expected, abs=0.01)
    # Village 1 cellular: the whole new site (it is the site's only village).
    site_npc = 35_000 + 15_000 / 1.21 + 4_500 * ANNUITY
    monthly = site_npc / (8 * months)
    assert village[1, 1] == pytest.approx(min(30.0, monthly - 20.0) * 8 * months, abs=0.01)
    assert site[0] == 0.0 and (edge == 0).all()


def test_satellite_voucher_by_hand() -> None:
    result = econ()
    village, _, _ = public_costs_of(Subsidy(mechanism="satellite_voucher", voucher_usd=300))
    assert village[1, 2] == pytest.approx(300 * 1.6)
    np.testing.assert_allclose(village[:, 0], result.npc(result.village)[:, 0])
