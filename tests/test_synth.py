from __future__ import annotations

import numpy as np
import shapely

from coverageplan.region import validate_region
from coverageplan.region.synth import synthesize


def test_deterministic_for_a_seed() -> None:
    first, second = synthesize(400, seed=11), synthesize(400, seed=11)
    assert first.villages.equals(second.villages)
    assert first.towers.equals(second.towers)
    np.testing.assert_array_equal(first.terrain.elevation_m, second.terrain.elevation_m)
    other = synthesize(400, seed=12)
    assert not np.array_equal(first.terrain.elevation_m, other.terrain.elevation_m)


def test_region_is_valid_and_complete(small_region) -> None:
    validate_region(small_region, source="synthetic")
    villages = small_region.villages
    assert len(villages) == 300
    assert villages["village_id"].is_unique
    assert (villages["population"] > 0).all()
    assert (villages["households"] <= villages["population"]).all()
    assert set(small_region.towers["tech"]) <= {"2g", "3g", "4g"}
    assert len(small_region.fibre) >= 1


def test_plausible_geography() -> None:
    region = synthesize(3_000, seed=5)
    terrain = region.terrain
    xy = shapely.get_coordinates(region.villages.geometry.to_numpy())
    village_elevation = terrain.sample(xy[:, 0], xy[:, 1])
    village_slope = terrain.sample(xy[:, 0], xy[:, 1], terrain.slope_deg())
    # Villages sit lower and flatter than the land as a whole: valleys and plains.
    assert np.median(village_elevation) < np.median(terrain.elevation_m)
    assert np.median(village_slope) < np.median(terrain.slope_deg())
    # Populations are skewed (lognormal): mean well above median.
    population = region.villages["population"].to_numpy()
    assert population.mean() > 1.15 * np.median(population)
    # Clustered: nearest-neighbour distances shorter than for uniform points (Clark-Evans < 1).
    from scipy.spatial import cKDTree

    distances, _ = cKDTree(xy).query(xy, k=2)
    xmin, ymin, xmax, ymax = terrain.bounds
    expected = 0.5 / np.sqrt(len(xy) / ((xmax - xmin) * (ymax - ymin)))
    assert distances[:, 1].mean() < 0.92 * expected
    # The backbone is a tree spanning all towns.
    towns = (region.fibre_nodes["kind"] == "town").sum()
    assert len(region.fibre) == towns - 1
    # Several area classes, remoteness-ordered: developed villages sit nearest to towns.
    classes = region.villages["region_class"].to_numpy()
    assert {"developed", "remote", "border"} <= set(classes)
    town_xy = shapely.get_coordinates(
        region.fibre_nodes.geometry[region.fibre_nodes["kind"] == "town"].to_numpy()
    )
    distance, _ = cKDTree(town_xy).query(xy)
    assert distance[classes == "developed"].mean() < distance[classes == "remote"].mean()
    # Newer towers cluster near towns.
    tower_xy = shapely.get_coordinates(region.towers.geometry.to_numpy())
    tower_distance, _ = cKDTree(town_xy).query(tower_xy)
    tech = region.towers["tech"].to_numpy()
    assert tower_distance[tech == "4g"].mean() < tower_distance[tech == "2g"].mean()
