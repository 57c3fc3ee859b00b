"""The fibre extension tree: hand-made fixtures with known answers."""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pytest
import shapely
from affine import Affine
from pyproj import CRS

from coverageplan.engineering.fibre import fibre_reach
from coverageplan.errors import InputError
from coverageplan.optimize import FIBRE, Problem, solve
from coverageplan.region import Region, validate_region
from coverageplan.region.model import Terrain, empty_layer
from coverageplan.scenario import FibreEngineering

CRS_M = CRS.from_epsg(32648)
CELL_M = 50.0
SIZE = 200  # 10 km square


def terrain(elevation: np.ndarray) -> Terrain:
    return Terrain(
        elevation.astype(np.float32), Affine(CELL_M, 0, 0, 0, -CELL_M, SIZE * CELL_M), CRS_M
    )


def flat() -> Terrain:
    return terrain(np.full((SIZE, SIZE), 300.0))


def region(village_xy: np.ndarray, access_xy: np.ndarray, ground: Terrain, **layers) -> Region:
    villages = gpd.GeoDataFrame(
        {
            "village_id": [f"V{i}" for i in range(len(village_xy))],
            "population": 100,
            "households": 30,
        },
        geometry=shapely.points(village_xy),
        crs=CRS_M,
    )
    nodes = gpd.GeoDataFrame(
        {"node_id": ["A"] * len(access_xy)}, geometry=shapely.points(access_xy), crs=CRS_M
    )
    return Region(villages=villages, terrain=ground, fibre_nodes=nodes, **layers)


def reach(region_: Region, **settings):
    xy = shapely.get_coordinates(region_.villages.geometry.to_numpy())
    return fibre_reach(
        region_, xy, region_.terrain.slope_deg(), FibreEngineering(route_factor=1.0, **settings)
    )


def test_villages_along_a_valley_share_one_trench() -> None:
    access = np.array([[1_000.0, 5_000.0]])
    villages = np.array([[1_000.0 + 1_000.0 * k, 5_000.0] for k in range(1, 6)])
    tree = reach(region(villages, access, flat()))
    assert tree.parent.tolist() == [-1, 0, 1, 2, 3]
    np.testing.assert_allclose(tree.edge_length_m, 1_000.0)
    spur = reach(region(villages, access, flat()), topology="spur")
    np.testing.assert_allclose(spur.edge_length_m, [1_000, 2_000, 3_000, 4_000, 5_000])

    # Fibre to every village costs the chain (5 km), not the sum of spurs (15 km).
    problem = Problem(
        cost=np.tile([0.0, 1e9, 1e9], (5, 1)),
        benefit=np.ones((5, 3)),
        budget=5_000.0,
        parent=tree.parent,
        edge_cost=tree.edge_length_m * tree.edge_terrain_factor,
    )
    plan = solve(problem)
    assert (plan.choice == FIBRE).all()
    assert plan.total_cost == pytest.approx(5_000.0)


def rugged_band(height_m: float) -> Terrain:
    """Flat land with a band of steep ridges for x in [3, 5] km, |y − 5 km| < 1.5 km."""
    x = (np.arange(SIZE) + 0.5) * CELL_M
    y = SIZE * CELL_M - (np.arange(SIZE) + 0.5) * CELL_M
    xx, yy = np.meshgrid(x, y)
    band = (xx > 3_000) & (xx < 5_000) & (np.abs(yy - 5_000) < 1_500)
    ridges = height_m * np.abs(np.sin(np.pi * xx / 300.0))
    return terrain(300.0 + np.where(band, ridges, 0.0))


@pytest.mark.parametrize(("height_m", "routes_around"), [(0.0, False), (150.0, True)])
def test_a_ridge_makes_the_tree_route_around_it(height_m: float, routes_around: bool) -> None:
    access = np.array([[2_000.0, 5_000.0]])
    # Village 0 lies beyond the band; village 1 sits off its end, on flat ground.
    villages = np.array([[6_000.0, 5_000.0], [4_000.0, 9_000.0]])
    settings = {"slope_breaks_deg": [15.0], "slope_factors": [1.0, 4.0], "neighbours": 2}
    tree = reach(region(villages, access, rugged_band(height_m)), **settings)
    if routes_around:
        assert tree.parent[0] == 1  # around the end of the ridges, through village 1
        assert tree.edge_terrain_factor[0] == pytest.approx(1.0, abs=0.05)
    else:
        assert tree.parent[0] == -1  # straight across the flat land
        assert tree.edge_length_m[0] == pytest.approx(4_000.0)


def test_tree_never_costs_more_than_spurs(small_region) -> None:
    xy = shapely.get_coordinates(small_region.villages.geometry.to_numpy())
    slope = small_region.terrain.slope_deg()
    tree = fibre_reach(small_region, xy, slope, FibreEngineering())
    spur = fibre_reach(small_region, xy, slope, FibreEngineering(topology="spur"))
    assert tree.reachable.all()
    tree_cost = (tree.edge_length_m * tree.edge_terrain_factor).sum()
    spur_cost = (spur.edge_length_m * spur.edge_terrain_factor).sum()
    assert tree_cost < 0.5 * spur_cost
    # Following parents from any village reaches the network (Problem checks for cycles).
    Problem(
        cost=np.zeros((len(xy), 1)), benefit=np.ones((len(xy), 1)), budget=1, parent=tree.parent
    )


def test_roads_make_trenches_cheaper() -> None:
    access = np.array([[1_000.0, 5_000.0]])
    villages = np.array([[6_000.0, 5_000.0]])
    road = gpd.GeoDataFrame(geometry=[shapely.LineString([(0, 5_000), (10_000, 5_000)])], crs=CRS_M)
    plain = reach(region(villages, access, flat()))
    along = reach(region(villages, access, flat(), roads=road))
    aerial = reach(region(villages, access, flat(), roads=road), aerial_allowed=True)
    assert plain.edge_terrain_factor[0] == pytest.approx(1.0)
    assert along.edge_terrain_factor[0] == pytest.approx(0.7)
    assert aerial.edge_terrain_factor[0] == pytest.approx(0.4)


def test_long_chain_milp_stays_fast() -> None:
    n = 3_000
    problem = Problem(
        cost=np.tile([1.0, 1e9, 1e9], (n, 1)),
        benefit=np.ones((n, 3)),
        budget=float(2 * n),
        parent=np.arange(n) - 1,
        edge_cost=np.ones(n),
    )
    plan = solve(problem, time_limit_s=30)
    assert plan.status == "optimal"
    assert (plan.choice == FIBRE).all() and plan.edges_built.all()


def test_no_backbone_means_no_fibre_with_a_warning(caplog) -> None:
    villages = np.array([[5_000.0, 5_000.0]])
    bare = region(villages, np.empty((0, 2)), flat())
    with caplog.at_level(logging.WARNING):
        result = reach(bare)
    assert not result.reachable.any()
    assert "fibre is infeasible everywhere" in caplog.text


def test_invalid_or_empty_fibre_lines_are_rejected() -> None:
    villages = np.array([[5_000.0, 5_000.0]])
    for geometry in (shapely.LineString(), shapely.Point(1, 1)):
        lines = gpd.GeoDataFrame(geometry=[geometry], crs=CRS_M)
        bad = region(villages, np.empty((0, 2)), flat(), fibre=lines)
        with pytest.raises(InputError, match="fibre rows 0: expected valid, non-empty lines"):
            validate_region(bad, source="test")


def test_backbone_outside_the_region_is_rejected() -> None:
    villages = np.array([[5_000.0, 5_000.0]])
    far = gpd.GeoDataFrame(geometry=[shapely.LineString([(1e6, 0), (1e6 + 5, 0)])], crs=CRS_M)
    bad = region(villages, np.empty((0, 2)), flat(), fibre=far)
    with pytest.raises(InputError, match="wholly outside the region"):
        validate_region(bad, source="test")
    assert empty_layer("Point").empty
