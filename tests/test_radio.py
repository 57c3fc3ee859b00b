"""Terrain-aware cellular coverage: DEM profiles, ITM links, candidate sites and backhaul."""

from __future__ import annotations

import logging
import time

import geopandas as gpd
import numpy as np
import pytest
import shapely
from affine import Affine
from pydantic import ValidationError
from pyproj import CRS
from scipy.spatial.distance import pdist

from coverageplan.economics import Stacked, site_backhaul
from coverageplan.engineering.backhaul import (
    BACKHAUL_FIBRE,
    BACKHAUL_MICROWAVE,
    BACKHAUL_SATELLITE,
    backhaul_options,
    line_of_sight,
)
from coverageplan.engineering.itm import itm_point_to_point
from coverageplan.engineering.radio import (
    RadioReach,
    candidate_sites,
    coverage_matrix,
    high_points,
    itm_link_loss_db,
    radio_reach,
    spaced_selection,
)
from coverageplan.engineering.terrain import terrain_profiles, void_filled
from coverageplan.errors import InputError
from coverageplan.region.importers import import_region
from coverageplan.region.model import Region, Terrain
from coverageplan.scenario import Costs, RadioEngineering, load_scenario
from tests.conftest import ROOT

CRS_M = CRS.from_epsg(32648)


def dem(elevation_m: np.ndarray, cell_m: float = 50.0) -> Terrain:
    """A north-up DEM with its upper-left corner at (0, rows × cell)."""
    rows = elevation_m.shape[0]
    transform = Affine(cell_m, 0.0, 0.0, 0.0, -cell_m, rows * cell_m)
    return Terrain(np.asarray(elevation_m, dtype=np.float32), transform, CRS_M)


def hills(size: int = 200, seed: int = 0) -> Terrain:
    """Smooth random hills over a 10 km square, 200-700 m."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size].astype(float)
    z = np.full((size, size), 200.0)
    for cx, cy, height in zip(
        *rng.uniform(0, size, (2, 12)), rng.uniform(50, 500, 12), strict=True
    ):
        z += height * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * 12.0**2))
    return dem(z)


def test_batch_profiles_equal_one_at_a_time_sampling() -> None:
    terrain = hills()
    rng = np.random.default_rng(1)
    start = rng.uniform(200, 9_800, (40, 2))
    end = rng.uniform(200, 9_800, (40, 2))
    z, intervals, spacing = terrain_profiles(
        terrain, terrain.elevation_m, start, end, spacing_m=90.0
    )
    assert z.shape == (40, intervals.max() + 1) and (spacing <= 90.0).all()
    for i in range(len(start)):  # the oracle: one path at a time with Terrain.sample
        t = np.arange(intervals[i] + 1) / intervals[i]
        xy = start[i] + t[:, None] * (end[i] - start[i])
        expected = terrain.sample(xy[:, 0], xy[:, 1])
        np.testing.assert_allclose(z[i, : intervals[i] + 1], expected, rtol=0, atol=1e-3)
        assert intervals[i] * spacing[i] == pytest.approx(np.hypot(*(end[i] - start[i])))


def test_link_loss_does_not_depend_on_chunking_or_processes(monkeypatch) -> None:
    terrain = hills()
    rng = np.random.default_rng(2)
    tx = rng.uniform(500, 9_500, (300, 2))
    rx = rng.uniform(500, 9_500, (300, 2))
    heights = rng.uniform(10, 60, 300)
    radio = RadioEngineering()
    whole = itm_link_loss_db(
        terrain, terrain.elevation_m, tx, heights, rx, radio, chunk_pairs=10**6
    )
    small = itm_link_loss_db(terrain, terrain.elevation_m, tx, heights, rx, radio, chunk_pairs=7)
    np.testing.assert_allclose(small, whole, rtol=0, atol=1e-9)
    monkeypatch.setattr("coverageplan.engineering.radio.PARALLEL_MIN_PAIRS", 0)
    forked = itm_link_loss_db(
        terrain, terrain.elevation_m, tx, heights, rx, radio, chunk_pairs=50, workers=2
    )
    np.testing.assert_allclose(forked, whole, rtol=0, atol=1e-9)
    # The same link through the ITM API directly.
    z, n, d = terrain_profiles(terrain, terrain.elevation_m, tx[:1], rx[:1], spacing_m=50.0)
    direct = itm_point_to_point(z, n, d, tx_height_m=heights[0], rx_height_m=1.5, freq_mhz=800.0)
    assert whole[0] == pytest.approx(direct.loss_db[0], abs=1e-9)


def test_ridge_raises_loss_by_a_knife_edge_diffraction_amount() -> None:
    flat = np.full((200, 200), 300.0)
    ridge = flat.copy()
    ridge[:, 99:101] += 150.0  # a 150 m wall at x = 5 km, between tx (2 km) and rx (8 km)
    tx, rx, radio = (
        np.array([[2_000.0, 5_000.0]]),
        np.array([[8_000.0, 5_000.0]]),
        RadioEngineering(),
    )
    loss = [
        itm_link_loss_db(t, t.elevation_m, tx, np.array([30.0]), rx, radio)[0]
        for t in (dem(flat), dem(ridge))
    ]
    free_space = 32.45 + 20 * np.log10(800.0) + 20 * np.log10(6.0)
    # Knife edge (ITU-R P.526): clearance h above the tx-rx line at mid path, d1 = d2 = 3 km.
    h = 450.0 - (330.0 + 301.5) / 2
    v = h * np.sqrt(2 / (299.792458 / 800.0) * 6_000.0 / 3_000.0**2)
    knife_edge = 6.9 + 20 * np.log10(np.sqrt((v - 0.1) ** 2 + 1) + v - 0.1)
    assert loss[1] - loss[0] > 10.0
    assert loss[1] - free_space == pytest.approx(knife_edge, abs=4.0)


def test_flattened_dem_covers_more_villages_per_site(small_region: Region) -> None:
    terrain = small_region.terrain
    flat = Terrain(
        np.full_like(terrain.elevation_m, terrain.elevation_m.mean()),
        terrain.transform,
        terrain.crs,
    )
    village_xy = shapely.get_coordinates(small_region.villages.geometry.to_numpy())
    tower_xy = shapely.get_coordinates(small_region.towers.geometry.to_numpy())
    height = small_region.towers["height_m"].to_numpy(dtype=float)
    radio = RadioEngineering()
    rugged = coverage_matrix(village_xy, tower_xy, height, radio, terrain=terrain)
    smooth = coverage_matrix(village_xy, tower_xy, height, radio, terrain=flat)
    assert 0 < rugged.nnz / len(tower_xy) < smooth.nnz / len(tower_xy)


def test_voids_are_filled_from_the_nearest_cell_never_read_as_minus_32768() -> None:
    z = np.full((100, 100), 500.0)
    z[40:60, :] = np.nan  # a band of voids across every path
    z[39, :] = 520.0
    terrain = dem(z)
    filled = void_filled(terrain)
    assert not np.isnan(filled).any() and filled.min() >= 500.0
    assert filled[40, 0] == 520.0  # nearest valid cell
    profile, _, _ = terrain_profiles(
        terrain,
        filled,
        np.array([[2_500.0, 4_500.0]]),
        np.array([[2_500.0, 500.0]]),
        spacing_m=50.0,
    )
    assert np.isfinite(profile).all() and profile.min() >= 500.0
    with pytest.raises(ValueError, match="NaN"):  # ITM itself refuses raw voids
        itm_point_to_point(
            np.array([500.0, np.nan, 500.0, 500.0]),
            3,
            100.0,
            tx_height_m=30,
            rx_height_m=2,
            freq_mhz=800,
        )
    with pytest.raises(InputError, match="no valid elevation"):
        void_filled(dem(np.full((4, 4), np.nan)))


def test_a_profile_end_outside_the_dem_is_an_error() -> None:
    terrain = hills()
    with pytest.raises(InputError, match=r"terrain profile 1: its end .* outside the DEM"):
        terrain_profiles(
            terrain,
            terrain.elevation_m,
            np.array([[1_000.0, 1_000.0], [1_000.0, 1_000.0]]),
            np.array([[2_000.0, 2_000.0], [12_000.0, 2_000.0]]),
            spacing_m=50.0,
        )


def tower_region(
    terrain: Terrain, tower_xy: np.ndarray, tech: list[str], height_m: list[float]
) -> Region:
    """Villages on a grid over ``terrain`` and the given towers."""
    xmin, ymin, xmax, ymax = terrain.bounds
    gx, gy = np.meshgrid(
        np.linspace(xmin + 500, xmax - 500, 8), np.linspace(ymin + 500, ymax - 500, 8)
    )
    villages = gpd.GeoDataFrame(
        {"village_id": [f"v{i}" for i in range(gx.size)], "population": 100, "households": 40},
        geometry=shapely.points(gx.ravel(), gy.ravel()),
        crs=CRS_M,
    )
    towers = gpd.GeoDataFrame(
        {"tech": tech, "height_m": height_m}, geometry=shapely.points(tower_xy), crs=CRS_M
    )
    return Region(villages=villages, terrain=terrain, towers=towers)


def test_towers_outside_the_dem_are_left_out_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    terrain = hills()
    region = tower_region(
        terrain, np.array([[5_000.0, 5_000.0], [15_000.0, 5_000.0]]), ["4g", "4g"], [30.0, 30.0]
    )
    xy = shapely.get_coordinates(region.villages.geometry.to_numpy())
    with caplog.at_level(logging.WARNING):
        reach = radio_reach(region, xy, np.zeros(len(xy)), RadioEngineering())
    assert "1 tower(s) lie outside the DEM" in caplog.text
    assert reach.existing_sites_cover.shape == (len(xy), 1) and reach.existing_cover.any()


def test_bad_frequency_and_heights_are_clear_errors() -> None:
    with pytest.raises(ValidationError, match="freq_mhz"):
        RadioEngineering(freq_mhz=10.0)
    with pytest.raises(ValidationError, match="outside Okumura-Hata's 150-1500 MHz"):
        RadioEngineering(propagation="hata", freq_mhz=2_600.0)
    assert RadioEngineering(freq_mhz=2_600.0).freq_mhz == 2_600.0  # ITM takes it
    with pytest.raises(ValidationError, match="rx_height_m"):
        RadioEngineering(rx_height_m=0.3)
    with pytest.raises(ValidationError, match="new_site_height_m"):
        RadioEngineering(new_site_height_m=0.2)
    region = tower_region(hills(), np.array([[5_000.0, 5_000.0]]), ["3g"], [4_000.0])
    xy = shapely.get_coordinates(region.villages.geometry.to_numpy())
    with pytest.raises(InputError, match=r"towers rows 0: antenna height 4000 m is outside ITM"):
        radio_reach(region, xy, np.zeros(len(xy)), RadioEngineering())


def test_spaced_selection_is_greedy_by_score() -> None:
    rng = np.random.default_rng(4)
    xy = rng.uniform(0, 10_000, (400, 2))
    score = rng.uniform(0, 1, 400)
    chosen = spaced_selection(xy, score, 800.0)
    taken: list[int] = []  # the oracle: one point at a time, best first
    for i in np.argsort(-score):
        if all(np.hypot(*(xy[i] - xy[j])) > 800.0 for j in taken):
            taken.append(int(i))
    assert chosen.tolist() == taken


def test_candidates_sit_on_high_points_near_uncovered_villages_and_are_spaced() -> None:
    y, x = np.mgrid[0:200, 0:200].astype(float)
    peaks = [(40, 40), (150, 60), (100, 160), (60, 130)]  # (col, row) at 50 m cells
    z = 300.0 + sum(400 * np.exp(-((x - c) ** 2 + (y - r) ** 2) / (2 * 8.0**2)) for c, r in peaks)
    terrain = dem(z)
    tops = high_points(terrain, terrain.elevation_m, 1_000.0)
    expected = np.array([[(c + 0.5) * 50, 10_000 - (r + 0.5) * 50] for c, r in peaks])
    assert {tuple(p) for p in np.round(tops)} >= {tuple(p) for p in np.round(expected)}
    villages = expected + np.array([1_200.0, 0.0])  # one village beside each hill ...
    uncovered = np.array([True, True, True, False])  # ... the last one already covered
    radio = RadioEngineering(candidate_spacing_m=2_000.0)
    sites = candidate_sites(
        terrain, terrain.elevation_m, villages, np.full(4, 100.0), uncovered, radio
    )
    np.testing.assert_allclose(np.sort(sites, axis=0), np.sort(expected[:3], axis=0))
    capped = candidate_sites(
        terrain,
        terrain.elevation_m,
        villages,
        np.array([10.0, 300.0, 20.0, 0.0]),
        uncovered,
        radio.model_copy(update={"max_candidates": 1}),
    )
    np.testing.assert_allclose(capped, expected[[1]])  # most people first
    wide = candidate_sites(
        terrain,
        terrain.elevation_m,
        villages,
        np.full(4, 100.0),
        np.ones(4, bool),
        radio.model_copy(update={"candidate_spacing_m": 5_500.0}),
    )
    assert len(wide) < 4 and pdist(wide).min() > 5_500.0


def test_microwave_needs_line_of_sight_and_the_cheapest_backhaul_wins() -> None:
    flat = np.full((200, 200), 300.0)
    ridge = flat.copy()
    ridge[:, 99:101] += 80.0
    site, fibre_point = np.array([[2_000.0, 5_000.0]]), np.array([[8_000.0, 5_000.0]])
    clear = {}
    for name, z in (("flat", flat), ("ridge", ridge)):
        t = dem(z)
        clear[name] = line_of_sight(
            t,
            t.elevation_m,
            site,
            np.array([30.0]),
            fibre_point,
            np.array([15.0]),
            freq_ghz=15.0,
            clearance=0.6,
            k_factor=4 / 3,
            spacing_m=50.0,
        )[0]
    assert clear == {"flat": True, "ridge": False}

    def options(elevation: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return backhaul_options(
            dem(elevation),
            elevation.astype(np.float32),
            site,
            np.array([30.0]),
            fibre_point,
            np.empty((0, 2)),
            np.empty(0),
            RadioEngineering(),
            route_factor=1.2,
        )

    hop, route = options(flat)
    assert hop[0] == pytest.approx(6_000.0) and route[0] == pytest.approx(7_200.0)
    hop_r, _ = options(ridge)
    assert np.isinf(hop_r[0])

    def reach(hop_m: list[float], route_m: list[float]) -> RadioReach:
        m = len(hop_m)
        return RadioReach(
            site_xy=np.zeros((m, 2)),
            site_kind=np.ones(m, np.int8),
            site_tower=np.full(m, -1),
            site_height_m=np.full(m, 30.0),
            cover=None,
            existing_cover=np.zeros(0, bool),  # type: ignore[arg-type]
            existing_sites_cover=None,
            site_hop_m=np.array(hop_m),
            site_fibre_route_m=np.array(route_m),  # type: ignore[arg-type]
        )

    costs = Costs()
    kind, items = site_backhaul(
        reach([6_000.0, np.inf, np.inf], [7_200.0, 500.0, np.inf]), Stacked([costs])
    )
    assert kind[0].tolist() == [BACKHAUL_MICROWAVE, BACKHAUL_FIBRE, BACKHAUL_SATELLITE]
    assert items.capex_usd[0, 0] == pytest.approx(25_000 + 700 * 6.0)
    assert items.capex_usd[0, 1] == pytest.approx(12_000 * 0.5)
    assert items.capex_usd[0, 2] == pytest.approx(5_000)
    dear_microwave = costs.model_copy(
        update={"cellular": costs.cellular.model_copy(update={"backhaul_usd": 1e6})}
    )
    kind, _ = site_backhaul(reach([6_000.0, 6_000.0], [500.0, 9_000.0]), Stacked([dear_microwave]))
    assert kind[0].tolist() == [BACKHAUL_FIBRE, BACKHAUL_SATELLITE]


def test_ariege_real_4g_masts_cover_a_plausible_share_of_communes() -> None:
    ariege = ROOT.parent / "shared" / "realdata" / "ariege"
    if not ariege.is_dir():
        pytest.skip(f"real Ariège data not found at {ariege} (the shared folder beside the repo)")
    scenario = load_scenario(ROOT / "scenarios" / "ariege.yaml")
    assert scenario.region.files is not None
    region, _ = import_region(scenario.region.files, crs=scenario.region.crs)
    xy = shapely.get_coordinates(region.villages.geometry.to_numpy())
    started = time.perf_counter()
    reach = radio_reach(region, xy, np.zeros(len(xy)), RadioEngineering())
    seconds = time.perf_counter() - started
    share = float(reach.existing_cover.mean())
    print(f"Ariège: real 4G masts cover {share:.1%} of {len(xy)} communes ({seconds:.1f} s)")
    assert 0.3 < share < 0.98  # mountain valleys: most, not all
    assert seconds < 30
