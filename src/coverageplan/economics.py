"""Economics: costs over the horizon, demand, revenue and delivered speed, vectorized.

Every cost item — a village's own equipment for an option, a cellular site, a
fibre trench edge — is kept as capex, the present value of its replacements
within the horizon, and opex per year, so that subsidy rules can pay shares of
each. Net present cost = capex + replacements + opex × annuity factor.
Money in USD (2020-2023 prices); rates per year.

Options by column: 0 fibre, 1 cellular, 2 satellite, 3 consolidation (the
households move to a host village and are served there).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from coverageplan.engineering import Reach
from coverageplan.engineering.backhaul import (
    BACKHAUL_FIBRE,
    BACKHAUL_MICROWAVE,
    BACKHAUL_SATELLITE,
)
from coverageplan.engineering.radio import SITE_NEW, RadioReach
from coverageplan.optimize import CELLULAR, FIBRE, SATELLITE
from coverageplan.scenario import Costs, Demand

N_OPTIONS = 4
MONTHS = 12


def annuity_factor(discount_rate: float, years: float | np.ndarray) -> np.ndarray | float:
    """Present value of 1 per year paid at the end of years 1..``years`` (0 for ≤ 0 years)."""
    span = np.maximum(np.asarray(years, dtype=float), 0.0)
    value = np.asarray(
        span if discount_rate == 0 else (1.0 - (1.0 + discount_rate) ** -span) / discount_rate
    )
    return float(value) if value.ndim == 0 else value


def replacement_factor(discount_rate: float, life_years: int, horizon_years: int) -> float:
    """Present value of replacing 1 of equipment every ``life_years`` before the horizon ends."""
    times = np.arange(life_years, horizon_years, life_years)
    return float(((1.0 + discount_rate) ** -times).sum())


@dataclass(frozen=True)
class CostItems:
    """Capex, present value of replacements and opex per year of a set of items (USD)."""

    capex_usd: np.ndarray
    replacement_usd: np.ndarray
    opex_usd_per_year: np.ndarray

    def npc(self, discount_rate: float, horizon_years: int) -> np.ndarray:
        """Net present cost over the horizon."""
        years = annuity_factor(discount_rate, horizon_years)
        return self.capex_usd + self.replacement_usd + self.opex_usd_per_year * years


@dataclass(frozen=True)
class Economics:
    """Costs, demand and speeds by position (n villages, m sites, b beams).

    ``village`` (n, 4) own cost items per option; ``site`` (m,); ``edge`` (n,)
    trench from each village to its parent. ``subscribers`` (n, 4);
    ``revenue_usd`` (n, 4) present value over the horizon; ``speed_mbps``
    (n, 4) busy-hour speed delivered; ``affordable`` (n, 4);
    ``adoption`` (n, 4) take-up relative to the affordable take-up (1, or
    ``unaffordable_take_up_factor``); ``sat_demand_mbps`` (n,);
    ``beam_capacity_mbps`` (b,); ``cell_demand_mbps`` (n,) busy-hour
    demand on cellular; ``host`` (n,) the
    consolidation host, −1 none; ``discount_rate``, ``horizon_years``;
    ``site_backhaul`` (m,) the cheapest feasible backhaul per site
    (``BACKHAUL_*`` of :mod:`~coverageplan.engineering.backhaul`) and
    ``site_backhaul_usd`` (m,) its net present cost (in ``site``);
    ``site_capacity_mbps`` (m,) throughput after the backhaul's limit.
    """

    village: CostItems
    site: CostItems
    edge: CostItems
    subscribers: np.ndarray
    revenue_usd: np.ndarray
    speed_mbps: np.ndarray
    affordable: np.ndarray
    adoption: np.ndarray
    sat_demand_mbps: np.ndarray
    beam_capacity_mbps: np.ndarray
    cell_demand_mbps: np.ndarray
    host: np.ndarray
    discount_rate: float
    horizon_years: int
    site_backhaul: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int8))
    site_backhaul_usd: np.ndarray = field(default_factory=lambda: np.empty(0))
    site_capacity_mbps: np.ndarray = field(default_factory=lambda: np.empty(0))

    def npc(self, items: CostItems) -> np.ndarray:
        """Net present cost of ``items`` over this horizon."""
        return items.npc(self.discount_rate, self.horizon_years)


def subscribers_by_option(
    households: np.ndarray, household_income_usd_per_month: np.ndarray | None, demand: Demand
) -> tuple[np.ndarray, np.ndarray]:
    """Subscribers (n, 3) per technology and whether each price is affordable.

    A price above ``affordability_share_of_income`` of household income cuts
    take-up by ``unaffordable_take_up_factor``. Without income data (None or
    NaN) a price counts as affordable.
    """
    price = np.asarray(demand.arpu_usd_per_month.as_array())
    take_up = np.asarray(demand.take_up.as_array())
    if household_income_usd_per_month is None:
        affordable = np.ones((len(households), 3), dtype=bool)
    else:
        limit = demand.affordability_share_of_income * household_income_usd_per_month
        affordable = (price[None, :] <= limit[:, None]) | np.isnan(limit)[:, None]
    factor = np.where(affordable, 1.0, demand.unaffordable_take_up_factor)
    return households[:, None] * take_up[None, :] * factor, affordable


def cellular_speed_mbps(
    cover: sparse.csr_matrix,
    existing: sparse.csr_matrix,
    subscribers: np.ndarray,
    demand: Demand,
    *,
    site_capacity_mbps: np.ndarray | None = None,
) -> np.ndarray:
    """Best busy-hour speed per village over the sites that cover it (0 where none).

    ``site_capacity_mbps`` (m,) per candidate site (default
    ``demand.site_capacity_mbps``; existing sites always have that).

    Ex-ante load: each village's busy-hour active subscribers are split evenly
    over every site (existing or candidate) that covers it; a site's capacity
    is shared by the load it carries, and per-user speed is capped at
    ``cellular_peak_mbps``.
    """
    both = sparse.hstack([existing, cover], format="csr").astype(float)
    sites_per_village = np.maximum(np.diff(both.indptr), 1)
    active = subscribers * demand.active_share / sites_per_village
    load = np.asarray(both.T @ active).ravel()
    capacity = np.full(both.shape[1], demand.site_capacity_mbps)
    if site_capacity_mbps is not None:
        capacity[existing.shape[1] :] = site_capacity_mbps
    per_user = np.minimum(capacity / np.maximum(load, 1.0), demand.cellular_peak_mbps)
    speed = both.multiply(per_user[None, :]).tocsr()
    return np.asarray(speed.max(axis=1).toarray()).ravel()


def site_backhaul(radio: RadioReach, costs: Costs) -> tuple[np.ndarray, CostItems]:
    """Cheapest feasible backhaul per site (by net present cost) and its cost items.

    Microwave: ``backhaul_usd`` + ``microwave_usd_per_km`` × hop, replaced
    with the equipment, opex at the site share. Fibre: trench per km × route,
    replaced with the cable, route opex per km. Satellite: terminal replaced
    with the equipment plus its yearly service; always feasible.
    """
    cell, fibre = costs.cellular, costs.fibre
    rate, horizon = costs.discount_rate, costs.horizon_years
    m = len(radio.site_kind)
    hop_m = np.zeros(m) if radio.site_hop_m is None else radio.site_hop_m
    route_m = np.full(m, np.inf) if radio.site_fibre_route_m is None else radio.site_fibre_route_m
    equipment_replace = replacement_factor(rate, cell.equipment_life_years, horizon)
    hop_km = np.where(np.isfinite(hop_m), hop_m, 0.0) / 1e3
    mw = cell.backhaul_usd + cell.microwave_usd_per_km * hop_km
    route_km = np.where(np.isfinite(route_m), route_m, 0.0) / 1e3
    trench = fibre.trench_usd_per_km * route_km
    sat = np.full(m, cell.satellite_backhaul_usd)
    options = [
        CostItems(mw, mw * equipment_replace, mw * cell.site_opex_share_per_year),
        CostItems(
            trench,
            trench * replacement_factor(rate, fibre.cable_life_years, horizon),
            fibre.opex_usd_per_km_per_year * route_km,
        ),
        CostItems(
            sat,
            sat * equipment_replace,
            sat * cell.site_opex_share_per_year + cell.satellite_backhaul_usd_per_year,
        ),
    ]
    npc = np.stack([item.npc(rate, horizon) for item in options])
    npc[BACKHAUL_MICROWAVE, ~np.isfinite(hop_m)] = np.inf
    npc[BACKHAUL_FIBRE, ~np.isfinite(route_m)] = np.inf
    kind = np.argmin(npc, axis=0).astype(np.int8)  # satellite is always finite
    pick = np.arange(m)
    chosen = CostItems(
        *(
            np.stack([getattr(item, name) for item in options])[kind, pick]
            for name in ("capex_usd", "replacement_usd", "opex_usd_per_year")
        )
    )
    return kind, chosen


def economics(
    reach: Reach,
    households: np.ndarray,
    household_income_usd_per_month: np.ndarray | None,
    host: np.ndarray,
    costs: Costs,
    demand: Demand,
) -> Economics:
    """Price every option, site and trench; estimate subscribers, revenue and speed."""
    n = len(households)
    households = np.asarray(households, dtype=float)
    rate, horizon = costs.discount_rate, costs.horizon_years
    years = annuity_factor(rate, horizon)
    subs3, affordable3 = subscribers_by_option(households, household_income_usd_per_month, demand)

    fibre, cell, sat = costs.fibre, costs.cellular, costs.satellite
    fibre_capex = fibre.village_equipment_usd + fibre.drop_usd_per_subscriber * subs3[:, FIBRE]
    sat_demand = subs3[:, SATELLITE] * demand.busy_hour_mbps_per_subscriber
    terminals = subs3[:, SATELLITE] * (sat.terminal_usd + sat.install_usd)
    zeros = np.zeros(n)
    village = CostItems(
        capex_usd=np.column_stack(
            [fibre_capex, zeros, terminals, costs.consolidation.usd_per_household * households]
        ),
        replacement_usd=np.column_stack(
            [
                fibre_capex * replacement_factor(rate, fibre.equipment_life_years, horizon),
                zeros,
                terminals * replacement_factor(rate, sat.terminal_life_years, horizon),
                zeros,
            ]
        ),
        opex_usd_per_year=np.column_stack(
            [
                fibre_capex * fibre.equipment_opex_share_per_year,
                zeros,
                terminals * sat.maintenance_share_per_year
                + sat.capacity_usd_per_mbps_per_year * sat_demand,
                zeros,
            ]
        ),
    )

    new = reach.radio.site_kind == SITE_NEW
    equipment = np.full(len(new), cell.site_equipment_usd)
    civil = np.where(new, cell.site_civil_usd, 0.0)
    backhaul_kind, backhaul = site_backhaul(reach.radio, costs)
    site = CostItems(
        capex_usd=equipment + civil + backhaul.capex_usd,
        replacement_usd=equipment * replacement_factor(rate, cell.equipment_life_years, horizon)
        + civil * replacement_factor(rate, cell.civil_life_years, horizon)
        + backhaul.replacement_usd,
        opex_usd_per_year=(equipment + civil) * cell.site_opex_share_per_year
        + cell.site_rent_usd_per_year
        + backhaul.opex_usd_per_year,
    )
    site_capacity = np.where(
        backhaul_kind == BACKHAUL_SATELLITE,
        np.minimum(demand.site_capacity_mbps, reach.radio.satellite_backhaul_mbps),
        demand.site_capacity_mbps,
    )

    length_km = np.where(reach.fibre.reachable, reach.fibre.edge_length_m, 0.0) / 1_000.0
    trench = length_km * fibre.trench_usd_per_km * reach.fibre.edge_terrain_factor
    edge = CostItems(
        capex_usd=trench,
        replacement_usd=trench * replacement_factor(rate, fibre.cable_life_years, horizon),
        opex_usd_per_year=length_km * fibre.opex_usd_per_km_per_year,
    )

    speed3 = np.column_stack(
        [
            np.full(n, demand.fibre_speed_mbps),
            cellular_speed_mbps(
                reach.radio.cover,
                reach.radio.existing_sites_cover,
                subs3[:, CELLULAR],
                demand,
                site_capacity_mbps=site_capacity,
            ),
            np.full(n, demand.satellite_speed_mbps),
        ]
    )
    has_host = host >= 0
    host_speed = np.where(has_host, speed3[np.maximum(host, 0)].max(axis=1), 0.0)
    price = np.asarray(demand.arpu_usd_per_month.as_array())
    revenue3 = subs3 * price[None, :] * MONTHS * years
    return Economics(
        village=village,
        site=site,
        edge=edge,
        subscribers=np.column_stack([subs3, zeros]),
        revenue_usd=np.column_stack([revenue3, zeros]),
        speed_mbps=np.column_stack([speed3, host_speed]),
        affordable=np.column_stack([affordable3, np.ones(n, dtype=bool)]),
        adoption=np.column_stack(
            [np.where(affordable3, 1.0, demand.unaffordable_take_up_factor), np.ones(n)]
        ),
        sat_demand_mbps=sat_demand,
        beam_capacity_mbps=np.full(reach.beam_count, demand.beam_capacity_mbps),
        cell_demand_mbps=subs3[:, CELLULAR]
        * demand.active_share
        * demand.busy_hour_mbps_per_subscriber,
        host=np.asarray(host, dtype=np.int64),
        discount_rate=rate,
        horizon_years=horizon,
        site_backhaul=backhaul_kind,
        site_backhaul_usd=backhaul.npc(rate, horizon),
        site_capacity_mbps=site_capacity,
    )
