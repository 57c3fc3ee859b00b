"""Economics: net present cost of every option, vectorized over villages and sites.

Net present cost = capex + yearly opex × annuity factor over the horizon at the
discount rate. Money in USD (2020-2023 prices); unit costs and their sources are
in the scenario's ``costs`` section. Subscribers = households × take-up.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from coverageplan.engineering import Reach
from coverageplan.engineering.radio import SITE_NEW
from coverageplan.scenario import Costs, Demand


def annuity_factor(discount_rate: float, years: int) -> float:
    """Present value of 1 per year paid at the end of years 1..``years``."""
    if discount_rate == 0:
        return float(years)
    return float((1.0 - (1.0 + discount_rate) ** -years) / discount_rate)


@dataclass(frozen=True)
class OptionCosts:
    """Net present costs (USD) and demand, by position.

    ``village_cost_usd`` (n, 3) per village and option (fibre, cellular,
    satellite), excluding shared sites and trenches; ``site_cost_usd`` (m,);
    ``edge_cost_usd`` (n,) trench from each village to its parent;
    ``subscribers`` (n,); ``sat_demand_mbps`` (n,) busy-hour satellite load;
    ``beam_capacity_mbps`` (b,).
    """

    village_cost_usd: np.ndarray
    site_cost_usd: np.ndarray
    edge_cost_usd: np.ndarray
    subscribers: np.ndarray
    sat_demand_mbps: np.ndarray
    beam_capacity_mbps: np.ndarray


def option_costs(reach: Reach, households: np.ndarray, costs: Costs, demand: Demand) -> OptionCosts:
    """Price every option of every village, every site and every trench."""
    years = annuity_factor(costs.discount_rate, costs.horizon_years)
    subscribers = np.asarray(households, dtype=float) * demand.take_up
    sat_demand_mbps = subscribers * demand.busy_hour_mbps_per_subscriber

    fibre = costs.fibre
    fibre_capex = fibre.village_equipment_usd + fibre.drop_usd_per_subscriber * subscribers
    fibre_village = fibre_capex * (1.0 + fibre.equipment_opex_share_per_year * years)
    length_km = np.where(reach.fibre.reachable, reach.fibre.edge_length_m, 0.0) / 1_000.0
    edge_cost = length_km * (
        fibre.trench_usd_per_km * reach.fibre.edge_terrain_factor
        + fibre.opex_usd_per_km_per_year * years
    )

    cell = costs.cellular
    site_capex = np.where(
        reach.radio.site_kind == SITE_NEW, cell.new_site_usd, cell.upgrade_site_usd
    )
    site_capex = site_capex + cell.backhaul_usd
    site_cost = (
        site_capex * (1.0 + cell.site_opex_share_per_year * years)
        + cell.site_rent_usd_per_year * years
    )
    cellular_village = np.zeros_like(subscribers)  # handsets are the users' own

    sat = costs.satellite
    terminals = subscribers * (sat.terminal_usd + sat.install_usd)
    satellite_village = (
        terminals * (1.0 + sat.maintenance_share_per_year * years)
        + sat.capacity_usd_per_mbps_per_year * sat_demand_mbps * years
    )
    return OptionCosts(
        village_cost_usd=np.column_stack([fibre_village, cellular_village, satellite_village]),
        site_cost_usd=site_cost.astype(float),
        edge_cost_usd=edge_cost,
        subscribers=subscribers,
        sat_demand_mbps=sat_demand_mbps,
        beam_capacity_mbps=np.full(reach.beam_count, demand.beam_capacity_mbps),
    )
