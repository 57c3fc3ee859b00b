from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

from coverageplan.errors import InputError
from coverageplan.region import Region, read_region, write_region
from coverageplan.region.io import fill_voids, write_layers, write_terrain


def rewrite_villages(folder: Path, villages: gpd.GeoDataFrame, region: Region) -> None:
    layers = region.layers()
    layers["villages"] = villages
    write_layers(layers, folder / "region.gpkg")


def test_round_trip_keeps_layers_and_dem(region_dir: Path, small_region: Region) -> None:
    region = read_region(region_dir)
    assert region.crs == small_region.crs
    assert list(region.villages["village_id"]) == list(small_region.villages["village_id"])
    np.testing.assert_array_equal(
        region.villages["population"], small_region.villages["population"]
    )
    np.testing.assert_allclose(region.terrain.elevation_m, small_region.terrain.elevation_m)
    assert len(region.towers) == len(small_region.towers)
    assert len(region.fibre) == len(small_region.fibre)
    assert region.roads.empty


def test_missing_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"region\.gpkg: region file not found"):
        read_region(tmp_path)


def test_missing_column_is_named(region_dir: Path, small_region: Region) -> None:
    rewrite_villages(region_dir, small_region.villages.drop(columns=["households"]), small_region)
    with pytest.raises(InputError, match=r"lacks column.*households"):
        read_region(region_dir)


def test_duplicate_ids_are_named(region_dir: Path, small_region: Region) -> None:
    villages = small_region.villages.copy()
    villages.loc[5, "village_id"] = villages.loc[4, "village_id"]
    rewrite_villages(region_dir, villages, small_region)
    with pytest.raises(InputError, match=r"village_id not unique: V0000004"):
        read_region(region_dir)


def test_negative_count_names_row_and_id(region_dir: Path, small_region: Region) -> None:
    villages = small_region.villages.copy()
    villages.loc[7, "population"] = -3
    rewrite_villages(region_dir, villages, small_region)
    with pytest.raises(
        InputError,
        match=r"'population' must be an integer ≥ 0; bad at row 7 \(village_id 'V0000007'\)",
    ):
        read_region(region_dir)


def test_non_point_geometry_is_rejected(region_dir: Path, small_region: Region) -> None:
    villages = small_region.villages.copy()
    geometry = villages.geometry.to_numpy().copy()
    geometry[2] = shapely.buffer(geometry[2], 100.0)
    villages = villages.set_geometry(gpd.GeoSeries(geometry, crs=villages.crs))
    from coverageplan.region import validate_region

    with pytest.raises(InputError, match=r"must be non-empty points; bad at row 2"):
        validate_region(Region(villages=villages, terrain=small_region.terrain), source="test")


def test_dem_must_cover_villages(region_dir: Path, small_region: Region) -> None:
    villages = small_region.villages.copy()
    villages.geometry = villages.geometry.translate(xoff=1e6)
    rewrite_villages(region_dir, villages, small_region)
    with pytest.raises(InputError, match="the DEM does not cover 300 village"):
        read_region(region_dir)


def test_unknown_region_class(region_dir: Path, small_region: Region) -> None:
    villages = small_region.villages.copy()
    villages.loc[0, "region_class"] = "suburban"
    rewrite_villages(region_dir, villages, small_region)
    with pytest.raises(
        InputError, match=r"unknown region_class at row 0.*expected one of developed"
    ):
        read_region(region_dir)


def test_bad_tower_tech(region_dir: Path, small_region: Region) -> None:
    layers = small_region.layers()
    towers = layers["towers"].copy()
    towers.loc[1, "tech"] = "lte"
    layers["towers"] = towers
    write_layers(layers, region_dir / "region.gpkg")
    with pytest.raises(InputError, match="towers rows 1: tech must be one of 2g"):
        read_region(region_dir)


def test_geographic_input_is_reprojected_to_utm(region_dir: Path, small_region: Region) -> None:
    layers = {name: layer.to_crs(4326) for name, layer in small_region.layers().items()}
    write_layers(layers, region_dir / "region.gpkg")
    region = read_region(region_dir)
    assert region.crs.is_projected
    assert region.crs.utm_zone is not None
    original = shapely.get_coordinates(small_region.villages.geometry.to_numpy())
    back = shapely.get_coordinates(region.villages.to_crs(small_region.crs).geometry.to_numpy())
    np.testing.assert_allclose(back, original, atol=0.01)


def test_explicit_crs_reprojects_dem_too(region_dir: Path) -> None:
    region = read_region(region_dir, crs="EPSG:3857")
    assert region.crs.to_epsg() == 3857
    assert region.terrain.crs.to_epsg() == 3857


def test_non_metric_crs_request_is_rejected(region_dir: Path) -> None:
    with pytest.raises(InputError, match="is not metric"):
        read_region(region_dir, crs="EPSG:4326")


def test_voids_are_filled_and_counted(region_dir: Path, small_region: Region, caplog) -> None:
    elevation = small_region.terrain.elevation_m.copy()
    elevation[10:14, 20:25] = np.nan
    terrain = type(small_region.terrain)(
        elevation, small_region.terrain.transform, small_region.terrain.crs
    )
    write_terrain(terrain, region_dir / "dem.tif")
    region = read_region(region_dir)
    assert np.isfinite(region.terrain.elevation_m).all()
    assert "filled 20 void DEM cells" in caplog.text


def test_fill_voids_uses_nearest_value() -> None:
    grid = np.array([[1.0, np.nan, np.nan, 4.0]], dtype=np.float32)
    filled, count = fill_voids(grid)
    assert count == 2
    np.testing.assert_array_equal(filled, [[1.0, 1.0, 4.0, 4.0]])


def test_write_region_is_complete(tmp_path: Path, small_region: Region) -> None:
    folder = write_region(small_region, tmp_path / "r")
    assert sorted(p.name for p in folder.iterdir()) == ["dem.tif", "region.gpkg"]
