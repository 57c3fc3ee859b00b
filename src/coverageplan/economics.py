"""Economics: costs over the horizon, demand, revenue and delivered speed, vectorized.

Every cost item — a village's own equipment for an option, a cellular site, a
fibre trench edge — is kept as capex, the present value of its replacements
within the horizon, and opex per year, so that subsidy rules can pay shares of
each. Net present cost = capex + replacements + opex × annuity factor.
Money in USD (2020-2023 prices); rates per year.

Many scenario points are priced at once: their cost and demand sections are
read as arrays with a leading point axis (:class:`Stacked`) and every result
carries that axis, (P, n, 4) for P points and n villages; one point is the
case P = 1. Options by column: 0 fibre, 1 cellular, 2 satellite,
3 consolidation (the households move to a host village and are served there).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from pydantic import BaseModel
from scipy import sparse

from coverageplan.engineering import Reach
from coverageplan.engineering.backhaul import (
    BACKHAUL_FIBRE,
    BACKHAUL_MICROWAVE,
    BACKHAUL_SATELLITE,
)
from coverageplan.engineering.radio import SITE_NEW, RadioReach
from coverageplan.optimize import CELLULAR, CONSOLIDATE, FIBRE, SATELLITE
from coverageplan.scenario import Costs, Demand

N_OPTIONS = 4
MONTHS = 12

Index = int | np.ndarray
"""Which points to take: one position (drops the point axis), or positions (keeps it)."""


class Stacked:
    """Scenario sections of P points side by side: a field reads as the (P,) array of its values.

    A sub-section reads as another Stacked (``costs.fibre.trench_usd_per_km``
    is (P,)); :meth:`each` stacks any other per-section value, such as a
    per-option list.
    """

    def __init__(self, sections: Sequence[BaseModel]) -> None:
        if not sections:
            raise ValueError("Stacked: no sections (price at least one point)")
        self._sections = tuple(sections)

    def __len__(self) -> int:
        return len(self._sections)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        values = [getattr(section, name) for section in self._sections]
        if isinstance(values[0], BaseModel):
            return Stacked(values)
        return np.asarray(values)

    def each(self, value: Callable[[Any], Any]) -> np.ndarray:
        """``value`` of every section, stacked: (P, ...)."""
        return np.asarray([value(section) for section in self._sections])


def per_point(values: ArrayLike, ndim: int) -> np.ndarray:
    """Per-point values (P,) shaped (P, 1, ...) to broadcast against ``ndim``-dimensional arrays."""
    return np.reshape(values, (-1,) + (1,) * (ndim - 1))


def reduce_segments(
    ufunc: np.ufunc, values: np.ndarray, indptr: np.ndarray, empty: float
) -> np.ndarray:
    """``ufunc`` over each compressed row's entries, for every point: (P, rows).

    ``values`` (nnz, P): every stored entry of a CSR (or CSC) matrix with
    ``indptr`` (rows + 1,), in its order, at each point (entry-major, so a
    row's entries are contiguous); a row without entries gets ``empty``.
    """
    counts = np.diff(indptr)
    out = np.full((len(counts), values.shape[1]), empty)
    rows = np.flatnonzero(counts)
    if len(rows):
        out[rows] = ufunc.reduceat(values, indptr[rows], axis=0)
    return out.T


def entry_values(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """(nnz, P) per-point ``values`` (P, k) at each stored entry's ``index`` (0..k-1)."""
    return np.take(np.ascontiguousarray(values.T), index, axis=0)


def annuity_factor(discount_rate: ArrayLike, years: ArrayLike) -> np.ndarray:
    """Present value of 1 per year paid at the end of years 1..``years`` (0 for ≤ 0 years).

    Rates and years broadcast against each other (per point, per village); a
    rate too small to change 1 + rate counts as 0.
    """
    rate = np.asarray(discount_rate, dtype=float)
    span = np.maximum(np.asarray(years, dtype=float), 0.0)
    zero = 1.0 + rate == 1.0
    safe = np.where(zero, 1.0, rate)
    return np.where(zero, span, (1.0 - (1.0 + safe) ** -span) / safe)


def replacement_factor(
    discount_rate: ArrayLike, life_years: ArrayLike, horizon_years: ArrayLike
) -> np.ndarray:
    """Present value of replacing 1 of equipment every ``life_years`` before the horizon ends.

    Arguments broadcast (one value per point); the discounted replacements
    are summed in time order, so a point's factor does not depend on its batch.
    """
    rate, life, horizon = np.broadcast_arrays(
        np.asarray(discount_rate, dtype=float),
        np.asarray(life_years, dtype=np.int64),
        np.asarray(horizon_years, dtype=np.int64),
    )
    most = int(np.max((horizon - 1) // life, initial=0))  # replacements at life, 2 life, ...
    if most <= 0:
        return np.zeros(rate.shape)
    times = life[..., None] * np.arange(1, most + 1)
    terms = np.where(times < horizon[..., None], (1.0 + rate[..., None]) ** -times, 0.0)
    return np.cumsum(terms, axis=-1)[..., -1]


def _take(value: Any, index: Index) -> Any:
    return value.take(index) if isinstance(value, CostItems) else np.asarray(value)[index]


@dataclass(frozen=True)
class CostItems:
    """Capex, present value of replacements and opex per year of a set of items (USD).

    Each (P, ...) with a leading point axis.
    """

    capex_usd: np.ndarray
    replacement_usd: np.ndarray
    opex_usd_per_year: np.ndarray

    def npc(self, discount_rate: ArrayLike, horizon_years: ArrayLike) -> np.ndarray:
        """Net present cost over the horizon (rate and horizon (P,), one per point)."""
        years = per_point(annuity_factor(discount_rate, horizon_years), self.capex_usd.ndim)
        return self.capex_usd + self.replacement_usd + self.opex_usd_per_year * years

    def take(self, index: Index) -> CostItems:
        """The items of the points at ``index`` (see :data:`Index`)."""
        return CostItems(*(_take(getattr(self, f.name), index) for f in fields(self)))


@dataclass(frozen=True)
class Economics:
    """Costs, demand and speeds of P points by position (n villages, m sites, b beams).

    Every array has a leading point axis P: ``village`` (P, n, 4) own cost
    items per option; ``site`` (P, m); ``edge`` (P, n) trench from each village
    to its parent. ``subscribers`` (P, n, 4); ``revenue_usd`` (P, n, 4) present
    value over the horizon; ``speed_mbps`` (P, n, 4) busy-hour speed delivered;
    ``affordable`` (P, n, 4); ``adoption`` (P, n, 4) take-up relative to the
    affordable take-up (1, or ``unaffordable_take_up_factor``);
    ``sat_demand_mbps`` (P, n); ``beam_capacity_mbps`` (P, b);
    ``cell_demand_mbps`` (P, n) busy-hour demand on cellular; ``host`` (P, n)
    the consolidation host, −1 none; ``discount_rate``, ``horizon_years`` (P,);
    ``site_backhaul`` (P, m) the cheapest feasible backhaul per site
    (``BACKHAUL_*`` of :mod:`~coverageplan.engineering.backhaul`) and
    ``site_backhaul_usd`` (P, m) its net present cost (in ``site``);
    ``site_capacity_mbps`` (P, m) throughput after the backhaul's limit.
    ``take(i)`` gives one point's arrays without the point axis (what plans
    and reports use).
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
    discount_rate: np.ndarray
    horizon_years: np.ndarray
    site_backhaul: np.ndarray
    site_backhaul_usd: np.ndarray
    site_capacity_mbps: np.ndarray

    def npc(self, items: CostItems) -> np.ndarray:
        """Net present cost of ``items`` over these points' horizons."""
        return items.npc(self.discount_rate, self.horizon_years)

    def take(self, index: Index) -> Economics:
        """The points at ``index`` (see :data:`Index`)."""
        return Economics(**{f.name: _take(getattr(self, f.name), index) for f in fields(self)})


def arpu_usd_per_month(demand: Stacked) -> np.ndarray:
    """(P, 4) price per subscriber and month by option; consolidation has no subscribers."""
    return demand.each(lambda d: [*d.arpu_usd_per_month.as_array(), 0.0])


def subscribers_by_option(
    households: np.ndarray, household_income_usd_per_month: np.ndarray | None, demand: Stacked
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Subscribers, whether each price is affordable, and adoption; each (P, n, 4) by option.

    A price above ``affordability_share_of_income`` of household income cuts
    take-up by ``unaffordable_take_up_factor`` (the adoption: 1 or that
    factor). Without income data (None or NaN) a price counts as affordable.
    Consolidation has no subscribers of its own (take-up and price 0).
    """
    price = arpu_usd_per_month(demand)[:, None, :]
    take_up = demand.each(lambda d: [*d.take_up.as_array(), 0.0])[:, None, :]
    if household_income_usd_per_month is None:
        affordable = np.ones((len(demand), len(households), N_OPTIONS), dtype=bool)
    else:
        limit = per_point(demand.affordability_share_of_income, 2) * household_income_usd_per_month
        affordable = ~(price > limit[..., None])  # a NaN limit compares False: affordable
    adoption = np.where(affordable, 1.0, per_point(demand.unaffordable_take_up_factor, 3))
    return households[None, :, None] * take_up * adoption, affordable, adoption


def cellular_speed_mbps(
    cover: sparse.csr_matrix,
    existing: sparse.csr_matrix,
    subscribers: np.ndarray,
    demand: Stacked,
    *,
    site_capacity_mbps: np.ndarray | None = None,
) -> np.ndarray:
    """Best busy-hour speed (P, n) per village over the sites that cover it (0 where none).

    ``cover`` and ``existing`` are boolean (a stored entry covers);
    ``subscribers`` (P, n) on cellular; ``site_capacity_mbps`` (P, m) per
    candidate site (default ``demand.site_capacity_mbps``; existing sites
    always have that).

    Ex-ante load: each village's busy-hour active subscribers are split evenly
    over every site (existing or candidate) that covers it; a site's capacity
    is shared by the load it carries, and per-user speed is capped at
    ``cellular_peak_mbps``.
    """
    both = sparse.hstack([existing, cover], format="csr")
    sites_per_village = np.maximum(np.diff(both.indptr), 1)
    active = subscribers * per_point(demand.active_share, 2) / sites_per_village
    load = np.asarray(both.T.astype(float) @ active.T).T
    capacity = per_point(demand.site_capacity_mbps, 2) * np.ones(both.shape[1])
    if site_capacity_mbps is not None:
        capacity[:, existing.shape[1] :] = site_capacity_mbps
    per_user = np.minimum(capacity / np.maximum(load, 1.0), per_point(demand.cellular_peak_mbps, 2))
    return reduce_segments(np.maximum, entry_values(per_user, both.indices), both.indptr, 0.0)


def site_backhaul(radio: RadioReach, costs: Stacked) -> tuple[np.ndarray, CostItems]:
    """Cheapest feasible backhaul per site and point (by net present cost), and its cost items.

    Returns the kind (P, m) and items (P, m). Microwave: ``backhaul_usd`` +
    ``microwave_usd_per_km`` × hop, replaced with the equipment, opex at the
    site share. Fibre: trench per km × route, replaced with the cable, route
    opex per km. Satellite: terminal replaced with the equipment plus its
    yearly service; always feasible.
    """
    cell, fibre = costs.cellular, costs.fibre
    rate, horizon = costs.discount_rate, costs.horizon_years
    m = len(radio.site_kind)
    hop_m = np.zeros(m) if radio.site_hop_m is None else radio.site_hop_m
    route_m = np.full(m, np.inf) if radio.site_fibre_route_m is None else radio.site_fibre_route_m

    def each(values: np.ndarray) -> np.ndarray:
        return per_point(values, 2)

    equipment_replace = each(replacement_factor(rate, cell.equipment_life_years, horizon))
    hop_km = np.where(np.isfinite(hop_m), hop_m, 0.0) / 1e3
    mw = each(cell.backhaul_usd) + each(cell.microwave_usd_per_km) * hop_km
    route_km = np.where(np.isfinite(route_m), route_m, 0.0) / 1e3
    trench = each(fibre.trench_usd_per_km) * route_km
    sat = each(cell.satellite_backhaul_usd) * np.ones(m)
    options = [
        CostItems(mw, mw * equipment_replace, mw * each(cell.site_opex_share_per_year)),
        CostItems(
            trench,
            trench * each(replacement_factor(rate, fibre.cable_life_years, horizon)),
            each(fibre.opex_usd_per_km_per_year) * route_km,
        ),
        CostItems(
            sat,
            sat * equipment_replace,
            sat * each(cell.site_opex_share_per_year) + each(cell.satellite_backhaul_usd_per_year),
        ),
    ]
    npc = np.stack([item.npc(rate, horizon) for item in options])
    npc[BACKHAUL_MICROWAVE, :, ~np.isfinite(hop_m)] = np.inf
    npc[BACKHAUL_FIBRE, :, ~np.isfinite(route_m)] = np.inf
    kind = np.argmin(npc, axis=0)  # satellite is always finite
    chosen = CostItems(
        *(
            np.take_along_axis(
                np.stack([getattr(item, f.name) for item in options]), kind[None], 0
            )[0]
            for f in fields(CostItems)
        )
    )
    return kind.astype(np.int8), chosen


def economics(
    reach: Reach,
    households: np.ndarray,
    household_income_usd_per_month: np.ndarray | None,
    host: np.ndarray,
    costs: Sequence[Costs],
    demand: Sequence[Demand],
) -> Economics:
    """Price every option, site and trench of P points; estimate subscribers, revenue and speed.

    ``costs`` and ``demand`` hold one section per point (equal lengths).
    """
    if len(costs) != len(demand):
        raise ValueError(f"economics: {len(costs)} cost sections but {len(demand)} demand sections")
    c, d = Stacked(costs), Stacked(demand)
    points, n = len(c), len(households)
    households = np.asarray(households, dtype=float)
    rate, horizon = c.discount_rate, c.horizon_years

    def each(values: np.ndarray) -> np.ndarray:
        return per_point(values, 2)

    subscribers, affordable, adoption = subscribers_by_option(
        households, household_income_usd_per_month, d
    )

    fibre, cell, sat = c.fibre, c.cellular, c.satellite
    fibre_capex = (
        each(fibre.village_equipment_usd)
        + each(fibre.drop_usd_per_subscriber) * subscribers[..., FIBRE]
    )
    sat_demand = subscribers[..., SATELLITE] * each(d.busy_hour_mbps_per_subscriber)
    terminals = subscribers[..., SATELLITE] * each(sat.terminal_usd + sat.install_usd)
    zeros = np.zeros((points, n))
    village = CostItems(
        capex_usd=np.stack(
            [
                fibre_capex,
                zeros,
                terminals,
                each(c.consolidation.usd_per_household) * households,
            ],
            axis=-1,
        ),
        replacement_usd=np.stack(
            [
                fibre_capex * each(replacement_factor(rate, fibre.equipment_life_years, horizon)),
                zeros,
                terminals * each(replacement_factor(rate, sat.terminal_life_years, horizon)),
                zeros,
            ],
            axis=-1,
        ),
        opex_usd_per_year=np.stack(
            [
                fibre_capex * each(fibre.equipment_opex_share_per_year),
                zeros,
                terminals * each(sat.maintenance_share_per_year)
                + each(sat.capacity_usd_per_mbps_per_year) * sat_demand,
                zeros,
            ],
            axis=-1,
        ),
    )

    new = reach.radio.site_kind == SITE_NEW
    equipment = each(cell.site_equipment_usd) * np.ones(len(new))
    civil = np.where(new, each(cell.site_civil_usd), 0.0)
    backhaul_kind, backhaul = site_backhaul(reach.radio, c)
    site = CostItems(
        capex_usd=equipment + civil + backhaul.capex_usd,
        replacement_usd=equipment
        * each(replacement_factor(rate, cell.equipment_life_years, horizon))
        + civil * each(replacement_factor(rate, cell.civil_life_years, horizon))
        + backhaul.replacement_usd,
        opex_usd_per_year=(equipment + civil) * each(cell.site_opex_share_per_year)
        + each(cell.site_rent_usd_per_year)
        + backhaul.opex_usd_per_year,
    )
    site_capacity = np.where(
        backhaul_kind == BACKHAUL_SATELLITE,
        np.minimum(each(d.site_capacity_mbps), reach.radio.satellite_backhaul_mbps),
        each(d.site_capacity_mbps),
    )

    length_km = np.where(reach.fibre.reachable, reach.fibre.edge_length_m, 0.0) / 1_000.0
    trench = length_km * each(fibre.trench_usd_per_km) * reach.fibre.edge_terrain_factor
    edge = CostItems(
        capex_usd=trench,
        replacement_usd=trench * each(replacement_factor(rate, fibre.cable_life_years, horizon)),
        opex_usd_per_year=length_km * each(fibre.opex_usd_per_km_per_year),
    )

    speed = np.stack(
        [
            each(d.fibre_speed_mbps) * np.ones(n),
            cellular_speed_mbps(
                reach.radio.cover,
                reach.radio.existing_sites_cover,
                subscribers[..., CELLULAR],
                d,
                site_capacity_mbps=site_capacity,
            ),
            each(d.satellite_speed_mbps) * np.ones(n),
            zeros,
        ],
        axis=-1,
    )
    hosted = np.flatnonzero(host >= 0)  # consolidated households get their host's best speed
    speed[:, hosted, CONSOLIDATE] = speed[:, host[hosted], :CONSOLIDATE].max(axis=-1)
    price = arpu_usd_per_month(d)[:, None, :]
    revenue = subscribers * price * MONTHS * per_point(annuity_factor(rate, horizon), 3)
    return Economics(
        village=village,
        site=site,
        edge=edge,
        subscribers=subscribers,
        revenue_usd=revenue,
        speed_mbps=speed,
        affordable=affordable,
        adoption=adoption,
        sat_demand_mbps=sat_demand,
        beam_capacity_mbps=each(d.beam_capacity_mbps) * np.ones(reach.beam_count),
        cell_demand_mbps=subscribers[..., CELLULAR]
        * each(d.active_share)
        * each(d.busy_hour_mbps_per_subscriber),
        host=np.broadcast_to(np.asarray(host, dtype=np.int64), (points, n)),
        discount_rate=rate,
        horizon_years=horizon,
        site_backhaul=backhaul_kind,
        site_backhaul_usd=backhaul.npc(rate, horizon),
        site_capacity_mbps=site_capacity,
    )
