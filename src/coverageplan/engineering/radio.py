"""Cellular reach: link budgets over DEM profiles with Longley-Rice (ITM), or Okumura-Hata.

Path loss (``engineering.radio.propagation``):

- ``itm`` (default): for every site-village pair within ``max_range_m`` (pairs
  from a cKDTree), the DEM profile between them is sampled at
  ``profile_spacing_m`` and :func:`~coverageplan.engineering.itm.itm_point_to_point`
  gives the basic transmission loss at the scenario's time / location /
  situation reliability. Pairs are sorted by length and evaluated in chunks
  (bounded memory), across processes when there are many.
- ``hata``: Hata's empirical fit (Hata 1980, IEEE Trans. Veh. Technol.
  29(3):317-325), terrain-blind, 150-1500 MHz.

A village is covered by a site when the loss is at most the link budget's
maximum allowed loss (:func:`max_allowed_loss_db`: EIRP per LTE resource
element, antenna gains and losses, the RSRP threshold and one fade margin).
Pairs closer than ``MIN_DISTANCE_M`` count as covered.

Sites: existing 4G/5G towers give ``existing_cover``; existing 2G/3G towers are
upgrade sites; new candidates sit on local DEM high points (the highest cell of
a ``peak_window_m`` square) near villages nothing covers yet, at least
``candidate_spacing_m`` apart, at most ``max_candidates``, most people first.
Towers outside the DEM are left out of the radio model (logged). Backhaul
options per site come from :mod:`~coverageplan.engineering.backhaul`.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage, sparse
from scipy.spatial import cKDTree

from coverageplan.engineering.backhaul import backhaul_options
from coverageplan.engineering.itm import itm_point_to_point
from coverageplan.engineering.terrain import (
    bilinear,
    outside_dem,
    terrain_profiles,
    void_filled,
)
from coverageplan.errors import InputError
from coverageplan.region.model import Region, Terrain
from coverageplan.scenario import ITM_CLIMATES, ITM_MODES, RadioEngineering

log = logging.getLogger(__name__)

SITE_UPGRADE, SITE_NEW = 0, 1
SITE_KIND_NAMES = ("upgrade", "new")
MIN_DISTANCE_M = 100.0
ITM_HEIGHT_RANGE_M = (0.5, 3000.0)
CHUNK_PAIRS = 20_000
PARALLEL_MIN_PAIRS = 100_000
MIN_PROFILE_SPACING_M = 30.0


def hata_path_loss_db(
    distance_m: np.ndarray,
    freq_mhz: float,
    tx_height_m: np.ndarray | float,
    rx_height_m: float,
    environment: str = "open",
) -> np.ndarray:
    """Median basic transmission loss in dB (Okumura-Hata), vectorized over distance and height."""
    log_f = np.log10(freq_mhz)
    log_hb = np.log10(tx_height_m)
    distance_km = np.maximum(np.asarray(distance_m, dtype=float), MIN_DISTANCE_M) / 1_000.0
    mobile_correction = (1.1 * log_f - 0.7) * rx_height_m - (1.56 * log_f - 0.8)
    urban = (
        69.55
        + 26.16 * log_f
        - 13.82 * log_hb
        - mobile_correction
        + (44.9 - 6.55 * log_hb) * np.log10(distance_km)
    )
    if environment == "urban":
        return urban
    if environment == "suburban":
        return urban - 2.0 * np.log10(freq_mhz / 28.0) ** 2 - 5.4
    return urban - 4.78 * log_f**2 + 18.33 * log_f - 40.94


def hata_range_m(
    max_loss_db: float,
    freq_mhz: float,
    tx_height_m: np.ndarray,
    rx_height_m: float,
    environment: str,
) -> np.ndarray:
    """Distance at which the Hata loss reaches ``max_loss_db`` (the inverse in log distance)."""
    at_1km = hata_path_loss_db(
        np.full(np.shape(tx_height_m), 1_000.0), freq_mhz, tx_height_m, rx_height_m, environment
    )
    slope_db_per_decade = 44.9 - 6.55 * np.log10(tx_height_m)
    return 1_000.0 * 10.0 ** ((max_loss_db - at_1km) / slope_db_per_decade)


def max_allowed_loss_db(radio: RadioEngineering) -> float:
    """Largest path loss at which a handset still gets ``min_rsrp_dbm`` with the fade margin.

    RSRP is power per resource element: total power spread over
    12 subcarriers × ``resource_blocks``.
    """
    return float(rsrp_at_zero_loss_dbm(radio) - radio.fade_margin_db - radio.min_rsrp_dbm)


def rsrp_at_zero_loss_dbm(radio: RadioEngineering) -> float:
    """RSRP (dBm) a handset would receive through 0 dB of path loss: EIRP per element + rx terms."""
    per_element_dbm = radio.tx_power_dbm - 10.0 * np.log10(12 * radio.resource_blocks)
    eirp_per_element = per_element_dbm + radio.tx_antenna_gain_dbi - radio.tx_losses_db
    return float(eirp_per_element + radio.rx_antenna_gain_dbi - radio.rx_losses_db)


def itm_parameters(radio: RadioEngineering) -> dict[str, float | int]:
    """The scenario's ITM settings as :func:`itm_point_to_point` keyword arguments."""
    itm = radio.itm
    return {
        "freq_mhz": radio.freq_mhz,
        "polarization": 0 if itm.polarization == "horizontal" else 1,
        "climate": ITM_CLIMATES[itm.climate],
        "n0_n_units": itm.n0_n_units,
        "epsilon": itm.ground_permittivity,
        "sigma_s_per_m": itm.ground_conductivity_s_per_m,
        "mdvar": ITM_MODES[itm.variability_mode],
        "time_pct": itm.time_pct,
        "location_pct": itm.location_pct,
        "situation_pct": itm.situation_pct,
    }


def profile_spacing_m(terrain: Terrain, radio: RadioEngineering) -> float:
    """DEM sample spacing along links: the scenario's, else the DEM cell size (≥ 30 m)."""
    if radio.profile_spacing_m is not None:
        return radio.profile_spacing_m
    return max(MIN_PROFILE_SPACING_M, min(terrain.cell_size_m))


def check_heights(height_m: np.ndarray, what: str) -> None:
    """Raise ``InputError`` naming the first antenna height outside ITM's 0.5-3000 m."""
    low, high = ITM_HEIGHT_RANGE_M
    bad = ~((height_m >= low) & (height_m <= high))
    if bad.any():
        rows = ", ".join(str(i) for i in np.flatnonzero(bad)[:5])
        raise InputError(
            f"{what} rows {rows}: antenna height {height_m[bad][0]:g} m is outside ITM's "
            f"{low:g}-{high:g} m range; fix height_m or use engineering.radio.propagation 'hata'"
        )


# Link chunks evaluated in worker processes read the DEM and pairs from here
# (inherited by fork, never pickled per task).
_LINKS: dict[str, object] = {}


def _links_chunk_loss(bounds: tuple[int, int]) -> np.ndarray:
    """ITM loss (dB) of the pairs ``bounds`` of the shared link arrays."""
    start, stop = bounds
    terrain, elevation = _LINKS["terrain"], _LINKS["elevation"]
    tx_xy, rx_xy, tx_h = _LINKS["tx_xy"], _LINKS["rx_xy"], _LINKS["tx_height_m"]
    assert isinstance(terrain, Terrain) and isinstance(elevation, np.ndarray)
    assert isinstance(tx_xy, np.ndarray) and isinstance(rx_xy, np.ndarray)
    assert isinstance(tx_h, np.ndarray)
    z, intervals, spacing = terrain_profiles(
        terrain,
        elevation,
        tx_xy[start:stop],
        rx_xy[start:stop],
        spacing_m=float(_LINKS["spacing"]),  # type: ignore[arg-type]
    )
    params = _LINKS["params"]
    assert isinstance(params, dict)
    return itm_point_to_point(z, intervals, spacing, tx_height_m=tx_h[start:stop], **params).loss_db


def itm_link_loss_db(
    terrain: Terrain,
    elevation_m: np.ndarray,
    tx_xy: np.ndarray,
    tx_height_m: np.ndarray,
    rx_xy: np.ndarray,
    radio: RadioEngineering,
    *,
    chunk_pairs: int = CHUNK_PAIRS,
    workers: int | None = None,
) -> np.ndarray:
    """ITM basic transmission loss (dB) of each link tx → rx (k,), at the scenario's reliability.

    ``elevation_m``: the void-filled DEM grid (:func:`void_filled`). Links are
    sorted by length so padded profiles stay narrow, then evaluated
    ``chunk_pairs`` at a time; with more than ``PARALLEL_MIN_PAIRS`` links the
    chunks go to ``workers`` forked processes (default ``radio.workers``, 0 =
    all cores). Links shorter than ``MIN_DISTANCE_M`` get the free-space loss at
    that distance.
    """
    tx_xy = np.asarray(tx_xy, dtype=float).reshape(-1, 2)
    rx_xy = np.asarray(rx_xy, dtype=float).reshape(-1, 2)
    count = len(tx_xy)
    loss = np.empty(count)
    length = np.hypot(*(rx_xy - tx_xy).T)
    short = length < MIN_DISTANCE_M
    loss[short] = 32.45 + 20 * np.log10(radio.freq_mhz) + 20 * np.log10(MIN_DISTANCE_M / 1e3)
    todo = np.flatnonzero(~short)
    todo = todo[np.argsort(length[todo], kind="stable")]
    params = {**itm_parameters(radio), "rx_height_m": radio.rx_height_m}
    _LINKS.update(
        terrain=terrain,
        elevation=elevation_m,
        tx_xy=tx_xy[todo],
        rx_xy=rx_xy[todo],
        tx_height_m=np.broadcast_to(np.asarray(tx_height_m, dtype=float), (count,))[todo],
        spacing=profile_spacing_m(terrain, radio),
        params=params,
    )
    bounds = [(s, min(s + chunk_pairs, len(todo))) for s in range(0, len(todo), chunk_pairs)]
    processes = radio.workers if workers is None else workers
    processes = processes or os.cpu_count() or 1
    try:
        if processes > 1 and len(todo) > PARALLEL_MIN_PAIRS:
            with multiprocessing.get_context("fork").Pool(processes) as pool:
                parts = pool.map(_links_chunk_loss, bounds, chunksize=1)
        else:
            parts = [_links_chunk_loss(b) for b in bounds]
    finally:
        _LINKS.clear()
    loss[todo] = np.concatenate(parts) if parts else np.empty(0)
    return loss


def pairs_within(
    site_xy: np.ndarray, point_xy: np.ndarray, max_range_m: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(site, point, distance_m) of every pair closer than ``max_range_m``, from cKDTrees."""
    if len(site_xy) == 0 or len(point_xy) == 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, np.empty(0)
    pairs = cKDTree(site_xy).sparse_distance_matrix(
        cKDTree(point_xy), max_range_m, output_type="ndarray"
    )
    return pairs["i"].astype(np.int64), pairs["j"].astype(np.int64), pairs["v"]


def coverage_matrix(
    village_xy: np.ndarray,
    site_xy: np.ndarray,
    site_height_m: np.ndarray,
    radio: RadioEngineering,
    *,
    terrain: Terrain | None = None,
    elevation_m: np.ndarray | None = None,
) -> sparse.csr_matrix:
    """Sparse bool (n villages × m sites): True where the site's loss is within the budget.

    ITM needs ``terrain`` (and optionally its void-filled grid ``elevation_m``);
    Hata needs neither.
    """
    n, m = len(village_xy), len(site_xy)
    if n == 0 or m == 0:
        return sparse.csr_matrix((n, m), dtype=bool)
    max_loss = max_allowed_loss_db(radio)
    site_height_m = np.asarray(site_height_m, dtype=float)
    if radio.propagation == "hata":
        reach_m = hata_range_m(
            max_loss, radio.freq_mhz, site_height_m, radio.rx_height_m, radio.environment
        )
        site, village, distance = pairs_within(site_xy, village_xy, float(reach_m.max()))
        loss = hata_path_loss_db(
            distance, radio.freq_mhz, site_height_m[site], radio.rx_height_m, radio.environment
        )
    else:
        if terrain is None:
            raise ValueError("propagation 'itm' needs the terrain")
        grid = void_filled(terrain) if elevation_m is None else elevation_m
        site, village, distance = pairs_within(site_xy, village_xy, radio.max_range_m)
        loss = itm_link_loss_db(
            terrain, grid, site_xy[site], site_height_m[site], village_xy[village], radio
        )
    keep = loss <= max_loss
    data = np.ones(int(keep.sum()), dtype=bool)
    return sparse.csr_matrix((data, (village[keep], site[keep])), shape=(n, m))


def signal_grid(
    terrain: Terrain,
    site_xy: np.ndarray,
    site_height_m: np.ndarray,
    radio: RadioEngineering,
    *,
    cell_m: float,
    max_cells: int = 400,
) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """Best RSRP (dBm) over ``sites`` on a grid covering the DEM; NaN beyond ``max_range_m``.

    The grid has square cells of ``cell_m`` (coarsened so neither side
    exceeds ``max_cells``), north-up, row 0 at the top. Returns the (rows,
    cols) float32 grid and its (xmin, ymin, xmax, ymax) outer edges.
    """
    xmin, ymin, xmax, ymax = terrain.bounds
    cell = max(cell_m, (xmax - xmin) / max_cells, (ymax - ymin) / max_cells)
    cols = max(1, int(np.ceil((xmax - xmin) / cell)))
    rows = max(1, int(np.ceil((ymax - ymin) / cell)))
    x = np.minimum(xmin + (np.arange(cols) + 0.5) * cell, xmax)
    y = np.maximum(ymax - (np.arange(rows) + 0.5) * cell, ymin)
    gx, gy = np.meshgrid(x, y)
    points = np.column_stack([gx.ravel(), gy.ravel()])
    site_xy = np.asarray(site_xy, dtype=float).reshape(-1, 2)
    site_height_m = np.asarray(site_height_m, dtype=float)
    best = np.full(len(points), -np.inf)
    if radio.propagation == "hata":
        site, point, distance = pairs_within(site_xy, points, radio.max_range_m)
        loss = hata_path_loss_db(
            distance, radio.freq_mhz, site_height_m[site], radio.rx_height_m, radio.environment
        )
    else:
        site, point, _ = pairs_within(site_xy, points, radio.max_range_m)
        loss = itm_link_loss_db(
            terrain, void_filled(terrain), site_xy[site], site_height_m[site], points[point], radio
        )
    np.maximum.at(best, point, rsrp_at_zero_loss_dbm(radio) - loss)
    grid = np.where(np.isfinite(best), best, np.nan).astype(np.float32).reshape(rows, cols)
    return grid, (xmin, ymax - rows * cell, xmin + cols * cell, ymax)


def spaced_selection(xy: np.ndarray, score: np.ndarray, spacing_m: float) -> np.ndarray:
    """Indices of points at least ``spacing_m`` apart, best ``score`` first (greedy by score).

    Equal to taking points in descending score and dropping any within
    ``spacing_m`` of one already taken, computed in vectorized rounds: each
    round takes every point with no better live neighbour.
    """
    n = len(xy)
    if n == 0:
        return np.empty(0, dtype=np.int64)
    order = np.lexsort((np.arange(n), -np.asarray(score, dtype=float)))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    pairs = cKDTree(xy).query_pairs(spacing_m, output_type="ndarray")
    a = np.concatenate([pairs[:, 0], pairs[:, 1]])
    b = np.concatenate([pairs[:, 1], pairs[:, 0]])
    alive = np.ones(n, dtype=bool)
    chosen = np.zeros(n, dtype=bool)
    while alive.any():
        live = alive[a] & alive[b]
        best_neighbour = np.full(n, n, dtype=np.int64)
        np.minimum.at(best_neighbour, a[live], rank[b[live]])
        take = alive & (rank < best_neighbour)
        chosen |= take
        alive &= ~take
        alive[b[take[a]]] = False
    picked = np.flatnonzero(chosen)
    return picked[np.argsort(rank[picked])]


def high_points(terrain: Terrain, elevation_m: np.ndarray, window_m: float) -> np.ndarray:
    """(k, 2) centres of DEM cells that are the highest of their ``window_m`` square (not flat)."""
    cell = max(min(terrain.cell_size_m), 1e-9)
    size = max(3, round(window_m / cell) | 1)
    highest = ndimage.maximum_filter(elevation_m, size=size, mode="nearest")
    lowest = ndimage.minimum_filter(elevation_m, size=size, mode="nearest")
    rows, cols = np.nonzero((elevation_m >= highest) & (highest > lowest))
    x, y = terrain.transform @ (cols + 0.5, rows + 0.5)  # type: ignore[operator]
    return np.column_stack([x, y]).astype(float).reshape(-1, 2)


def candidate_sites(
    terrain: Terrain,
    elevation_m: np.ndarray,
    village_xy: np.ndarray,
    population: np.ndarray,
    uncovered: np.ndarray,
    radio: RadioEngineering,
) -> np.ndarray:
    """(k, 2) new candidate sites: DEM high points near uncovered villages, spaced, capped.

    Each uncovered village votes, with its population, for the highest DEM high
    point within ``candidate_search_m`` (itself when there is none); the voted
    points are thinned to ``candidate_spacing_m`` by votes and capped at
    ``max_candidates``.
    """
    targets = np.flatnonzero(uncovered)
    if len(targets) == 0 or radio.max_candidates == 0:
        return np.empty((0, 2))
    peaks = high_points(terrain, elevation_m, radio.peak_window_m)
    peak_z = bilinear_at(terrain, elevation_m, peaks)
    village, peak, _ = pairs_within(village_xy[targets], peaks, radio.candidate_search_m)
    order = np.lexsort((-peak_z[peak], village))
    village, peak = village[order], peak[order]
    first = np.ones(len(village), dtype=bool)
    first[1:] = village[1:] != village[:-1]
    spot = village_xy[targets].copy()
    spot[village[first]] = peaks[peak[first]]
    spots, which = np.unique(spot, axis=0, return_inverse=True)
    votes = np.bincount(which.ravel(), weights=population[targets] + 1e-6, minlength=len(spots))
    keep = spaced_selection(spots, votes, radio.candidate_spacing_m)[: radio.max_candidates]
    return spots[keep]


def bilinear_at(terrain: Terrain, grid: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Bilinear values of ``grid`` at (k, 2) points."""
    return bilinear(terrain, grid, xy[:, 0], xy[:, 1]).astype(float)


@dataclass(frozen=True)
class RadioReach:
    """Cellular structure: candidate sites, which villages each covers, and backhaul options.

    ``site_xy`` (m, 2); ``site_kind`` (m,) int (SITE_UPGRADE / SITE_NEW);
    ``site_tower`` (m,) index into the towers layer, −1 for new sites;
    ``site_height_m`` (m,); ``cover`` sparse bool (n, m); ``existing_cover``
    (n,) bool, covered by an existing 4G/5G tower; ``existing_sites_cover``
    sparse bool (n, e) which existing 4G/5G towers cover each village;
    ``existing_xy``, ``existing_height_m`` those towers (e, 2), (e,).
    Backhaul per site: ``site_hop_m`` (m,) shortest microwave hop with
    line of sight to a fibre point or fibre-fed site (inf: none; None: a hop of
    0 m for every site, the flat-cost model); ``site_fibre_route_m`` (m,)
    fibre route to the network (inf: none or too far; None: none);
    ``satellite_backhaul_mbps`` the capacity of a satellite-backhauled site.
    """

    site_xy: np.ndarray
    site_kind: np.ndarray
    site_tower: np.ndarray
    site_height_m: np.ndarray
    cover: sparse.csr_matrix
    existing_cover: np.ndarray
    existing_sites_cover: sparse.csr_matrix
    existing_xy: np.ndarray = field(default_factory=lambda: np.empty((0, 2)))
    existing_height_m: np.ndarray = field(default_factory=lambda: np.empty(0))
    site_hop_m: np.ndarray | None = None
    site_fibre_route_m: np.ndarray | None = None
    satellite_backhaul_mbps: float = np.inf


def radio_reach(
    region: Region,
    village_xy: np.ndarray,
    village_elevation_m: np.ndarray,
    radio: RadioEngineering,
    *,
    fibre_points_xy: np.ndarray | None = None,
    route_factor: float = 1.2,
) -> RadioReach:
    """Existing coverage, upgrade sites and new candidate sites, their coverage and backhaul.

    ``fibre_points_xy`` (f, 2): where backhaul can join the fibre network
    (default none); ``route_factor``: fibre route over straight-line length.
    ``village_elevation_m`` is unused by ITM (profiles sample the DEM) and
    kept for callers.
    """
    del village_elevation_m
    towers = region.towers
    tower_xy = np.asarray(towers.geometry.get_coordinates().to_numpy(), dtype=float).reshape(-1, 2)
    tech = towers["tech"].to_numpy().astype(str) if len(towers) else np.empty(0, dtype=str)
    height_m = towers["height_m"].to_numpy(dtype=float) if len(towers) else np.empty(0)
    inside = ~outside_dem(region.terrain, tower_xy)
    if not inside.all():
        log.warning(
            "%d tower(s) lie outside the DEM and are left out of the radio model (rows %s)",
            int((~inside).sum()),
            ", ".join(str(i) for i in np.flatnonzero(~inside)[:10]),
        )
    itm = radio.propagation == "itm"
    if itm:
        check_heights(height_m[inside], "towers")
    grid = void_filled(region.terrain) if itm else None
    terrain = region.terrain

    def cover(xy: np.ndarray, height: np.ndarray) -> sparse.csr_matrix:
        return coverage_matrix(village_xy, xy, height, radio, terrain=terrain, elevation_m=grid)

    modern_mask = np.isin(tech, ("4g", "5g")) & inside
    modern = np.flatnonzero(modern_mask)
    existing = cover(tower_xy[modern], height_m[modern])
    existing_cover = np.asarray(existing.sum(axis=1)).ravel() > 0

    upgrade = np.flatnonzero(~np.isin(tech, ("4g", "5g")) & inside)
    upgrade_cover = cover(tower_xy[upgrade], height_m[upgrade])
    uncovered = ~existing_cover & ~(np.asarray(upgrade_cover.sum(axis=1)).ravel() > 0)
    population = region.villages["population"].to_numpy(dtype=float)
    elevation_for_peaks = grid if grid is not None else void_filled(terrain)
    new_xy = candidate_sites(terrain, elevation_for_peaks, village_xy, population, uncovered, radio)
    new_height = np.full(len(new_xy), radio.new_site_height_m)
    new_cover = cover(new_xy, new_height)

    site_xy = np.concatenate([tower_xy[upgrade], new_xy]).reshape(-1, 2)
    site_height = np.concatenate([height_m[upgrade], new_height])
    fibre_xy = np.empty((0, 2)) if fibre_points_xy is None else fibre_points_xy
    fed = modern if radio.existing_4g_fibre_fed else modern[:0]
    hop_m, fibre_route_m = backhaul_options(
        terrain,
        elevation_for_peaks,
        site_xy,
        site_height,
        fibre_xy,
        tower_xy[fed],
        height_m[fed],
        radio,
        route_factor=route_factor,
    )
    return RadioReach(
        site_xy=site_xy,
        site_kind=np.concatenate(
            [np.full(len(upgrade), SITE_UPGRADE), np.full(len(new_xy), SITE_NEW)]
        ).astype(np.int8),
        site_tower=np.concatenate([upgrade, np.full(len(new_xy), -1)]).astype(np.int64),
        site_height_m=site_height,
        cover=sparse.hstack([upgrade_cover, new_cover], format="csr").astype(bool),
        existing_cover=existing_cover,
        existing_sites_cover=existing,
        existing_xy=tower_xy[modern],
        existing_height_m=height_m[modern],
        site_hop_m=hop_m,
        site_fibre_route_m=fibre_route_m,
        satellite_backhaul_mbps=radio.satellite_backhaul_mbps,
    )
