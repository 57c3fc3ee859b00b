from __future__ import annotations

import numpy as np
import pytest
from affine import Affine
from pyproj import CRS

from coverageplan.engineering import compute_reach
from coverageplan.engineering.fibre import slope_factor_grid
from coverageplan.engineering.radio import (
    coverage_matrix,
    hata_path_loss_db,
    hata_range_m,
    max_allowed_loss_db,
)
from coverageplan.engineering.satellite import beam_of
from coverageplan.engineering.terrain import mean_along_segments, segment_samples
from coverageplan.region.model import Terrain
from coverageplan.scenario import Engineering, FibreEngineering, RadioEngineering


def plane(slope_deg: float, size: int = 200, cell_m: float = 50.0) -> Terrain:
    """A tilted plane rising eastwards at ``slope_deg``."""
    x = np.arange(size) * cell_m
    elevation = np.tile(x * np.tan(np.radians(slope_deg)), (size, 1)).astype(np.float32)
    return Terrain(elevation, Affine(cell_m, 0, 0, 0, -cell_m, size * cell_m), CRS.from_epsg(32648))


def test_hata_matches_textbook_value() -> None:
    # Urban Hata, 900 MHz, 30 m base, 1.5 m mobile, 1 km: 126.4 dB (a standard worked example).
    loss = hata_path_loss_db(np.array([1_000.0]), 900.0, 30.0, 1.5, "urban")
    assert loss[0] == pytest.approx(126.4, abs=0.1)
    # Open-area correction at 900 MHz is about −28.6 dB.
    open_loss = hata_path_loss_db(np.array([1_000.0]), 900.0, 30.0, 1.5, "open")
    assert loss[0] - open_loss[0] == pytest.approx(28.6, abs=0.1)
    # Loss grows by (44.9 − 6.55 log10 hb) dB per decade of distance.
    ten = hata_path_loss_db(np.array([10_000.0]), 900.0, 30.0, 1.5, "urban")
    assert ten[0] - loss[0] == pytest.approx(44.9 - 6.55 * np.log10(30.0))


def test_range_inverts_loss() -> None:
    heights = np.array([15.0, 30.0, 60.0])
    reach = hata_range_m(120.0, 800.0, heights, 1.5, "open")
    np.testing.assert_allclose(hata_path_loss_db(reach, 800.0, heights, 1.5, "open"), 120.0)
    assert np.all(np.diff(reach) > 0)  # taller masts reach further


def test_default_link_budget_gives_a_rural_cell_of_about_six_km() -> None:
    radio = RadioEngineering()
    reach = hata_range_m(max_allowed_loss_db(radio), radio.freq_mhz, np.array([30.0]), 1.5, "open")
    assert (
        4_000 < reach[0] < 8_000
    )  # PARAMETERS.md §B3: 5 km planning radius, 4-8 km for 12-30 m masts


def test_coverage_matrix_matches_dense_computation() -> None:
    rng = np.random.default_rng(0)
    villages = rng.uniform(0, 30_000, (200, 2))
    sites = rng.uniform(0, 30_000, (15, 2))
    heights = rng.uniform(15, 50, 15)
    radio = RadioEngineering(propagation="hata")
    cover = coverage_matrix(villages, sites, heights, radio).toarray()
    distance = np.hypot(*(villages[:, None, :] - sites[None, :, :]).transpose(2, 0, 1))
    loss = hata_path_loss_db(
        distance, radio.freq_mhz, heights[None, :], radio.rx_height_m, radio.environment
    )
    np.testing.assert_array_equal(cover, loss <= max_allowed_loss_db(radio))


def test_segment_samples_are_ragged_and_include_ends() -> None:
    start = np.array([[0.0, 0.0], [0.0, 0.0]])
    end = np.array([[1_000.0, 0.0], [0.0, 50.0]])
    xy, owner = segment_samples(start, end, 100.0)
    assert np.bincount(owner).tolist() == [11, 2]
    np.testing.assert_allclose(xy[owner == 0][[0, -1]], [[0, 0], [1_000, 0]])
    assert np.diff(xy[owner == 0][:, 0]).max() <= 100.0 + 1e-9


@pytest.mark.parametrize(("slope", "factor"), [(2.0, 1.0), (10.0, 1.3), (20.0, 1.6), (40.0, 2.0)])
def test_spur_terrain_factor_follows_slope_class(slope: float, factor: float) -> None:
    terrain = plane(slope)
    grid = slope_factor_grid(terrain.slope_deg(), FibreEngineering())
    start = np.array([[2_000.0, 5_000.0]])
    end = np.array([[8_000.0, 5_000.0]])
    assert mean_along_segments(terrain, grid, start, end, spacing_m=100.0)[0] == pytest.approx(
        factor
    )


def test_beams_tile_the_region() -> None:
    beam, count = beam_of(np.array([[0.0, 0.0], [5.0, 5.0], [25.0, 0.0], [0.0, 25.0]]), 20.0)
    assert count == 3
    assert beam[0] == beam[1] and len({beam[0], beam[2], beam[3]}) == 3


def test_reach_of_a_synthetic_region(small_region) -> None:
    reach = compute_reach(small_region, Engineering())
    n = len(small_region.villages)
    assert reach.village_xy.shape == (n, 2)
    assert reach.fibre.reachable.all() and (reach.fibre.parent >= 0).any()
    assert (reach.fibre.edge_terrain_factor >= 1.0).all()
    assert (reach.fibre.edge_length_m >= 0).all()
    assert reach.radio.cover.shape == (n, len(reach.radio.site_xy))
    # Upgrade sites are the 2G/3G towers; new sites are capped and spaced.
    towers = small_region.towers
    assert (reach.radio.site_kind == 0).sum() == (~towers["tech"].isin(["4g", "5g"])).sum()
    assert reach.radio.existing_cover.any()
    assert reach.beam.shape == (n,) and reach.beam.max() + 1 == reach.beam_count
