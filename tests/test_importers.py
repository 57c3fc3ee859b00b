from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
import yaml
from affine import Affine

from coverageplan.cli import main
from coverageplan.errors import InputError
from coverageplan.region.importers import import_region
from coverageplan.region.importers.crs import gcj02_to_wgs84, wgs84_to_gcj02
from coverageplan.region.importers.terrain import read_dem
from coverageplan.scenario import RegionFiles, scenario_from_dict

ROOT = Path(__file__).resolve().parents[1]
ARIEGE = ROOT.parent / "shared" / "realdata" / "ariege"


def write_hgt(path: Path, lat: int = 42, lon: int = 1, side: int = 1201) -> np.ndarray:
    """A smooth synthetic SRTM tile with a block of voids."""
    rows, cols = np.mgrid[0:side, 0:side]
    elevation = (500 + rows + 0.5 * cols).astype(">i2")
    elevation[100:110, 200:205] = -32768
    name = f"N{lat:02d}E{lon:03d}.hgt"
    if path.suffix == ".zip":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr(name, elevation.tobytes())
    else:
        (path / name).write_bytes(elevation.tobytes())
        path = path / name
    return elevation


def files(tmp_path: Path, villages: dict, **extra) -> RegionFiles:
    dem = tmp_path / "N42E001.hgt.zip"
    if not dem.exists():
        write_hgt(dem)
    return RegionFiles.model_validate({"dem": [dem], "villages": villages, **extra})


def village_csv(tmp_path: Path, text: str | None = None) -> Path:
    path = tmp_path / "villages.csv"
    path.write_text(
        text
        or "code,nom,lon,lat,pop\n"
        "A1,Alpha,1.50,42.50,120\nB2,Beta,1.52,42.51,\nC3,Gamma,1.60,42.70,900\n"
    )
    return path


OSM_XML = """<?xml version='1.0' encoding='UTF-8'?>
<osm version="0.6">
 <node id="1" lat="42.50" lon="1.50"><tag k="place" v="village"/><tag k="name" v="Un"/>
  <tag k="population" v="1,234"/></node>
 <node id="2" lat="42.52" lon="1.55"><tag k="place" v="hamlet"/></node>
 <node id="3" lat="42.60" lon="1.40"><tag k="amenity" v="pub"/></node>
 <node id="4" lat="42.50" lon="1.40"/>
 <node id="5" lat="42.55" lon="1.45"/>
 <way id="10"><nd ref="4"/><nd ref="5"/><tag k="highway" v="tertiary"/></way>
 <way id="11"><nd ref="4"/><nd ref="3"/><tag k="highway" v="footway"/></way>
</osm>
"""


def test_gcj02_matches_published_pairs():
    # WGS84 -> GCJ-02 pairs published with open implementations (Beijing area)
    wgs = np.array([[116.404, 39.915], [116.0, 40.0]])
    gcj = np.array([[116.41024449916938, 39.91640428150164], [116.006141221789, 40.001213650174]])
    lon, lat = wgs84_to_gcj02(wgs[:, 0], wgs[:, 1])
    np.testing.assert_allclose(np.column_stack([lon, lat]), gcj, atol=2e-7)
    lon, lat = gcj02_to_wgs84(gcj[:, 0], gcj[:, 1])
    np.testing.assert_allclose(np.column_stack([lon, lat]), wgs, atol=2e-7)
    outside = gcj02_to_wgs84(np.array([1.5]), np.array([42.5]))  # no offset outside China
    assert outside == (1.5, 42.5)


def test_hgt_tile_georeferenced_pixel_centres_and_voids(tmp_path: Path):
    elevation = write_hgt(tmp_path)
    terrain = read_dem([tmp_path / "N42E001.hgt"])
    assert terrain.crs.to_epsg() == 4326
    assert np.isnan(terrain.elevation_m).sum() == 50
    x, y = terrain.transform @ (0.5, 0.5)  # centre of the first cell
    assert (x, y) == pytest.approx((1.0, 43.0))
    assert terrain.elevation_m[0, 1] == elevation[0, 1]


def test_one_arc_second_tiles_mosaic(tmp_path: Path):
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    write_hgt(tmp_path / "a", lon=1, side=3601)
    write_hgt(tmp_path / "b", lon=2, side=3601)
    terrain = read_dem([tmp_path / "a" / "N42E001.hgt", tmp_path / "b" / "N42E002.hgt"])
    assert terrain.elevation_m.shape == (3601, 7201)  # tiles share their edge column
    assert terrain.bounds[0] == pytest.approx(1 - 0.5 / 3600)
    assert terrain.bounds[2] == pytest.approx(3 + 0.5 / 3600)


def test_geotiff_dem_and_csv_villages_import(tmp_path: Path):
    tif = tmp_path / "dem.tif"
    with rasterio.open(
        tif,
        "w",
        driver="GTiff",
        width=200,
        height=200,
        count=1,
        dtype="float32",
        crs="EPSG:4326",
        transform=Affine(0.005, 0, 1.2, 0, -0.005, 42.9),
        nodata=-9999,
    ) as dataset:
        grid = np.full((200, 200), 800, np.float32)
        grid[5, 5] = -9999
        dataset.write(grid, 1)
    layer = {"path": village_csv(tmp_path), "columns": {"village_id": "code", "population": "pop"}}
    region, report = import_region(RegionFiles.model_validate({"dem": [tif], "villages": layer}))
    villages = region.villages
    assert list(villages["village_id"]) == ["A1", "B2", "C3"]
    assert list(villages["population"]) == [120, 200, 900]  # Beta: village default
    assert list(villages["population_estimated"]) == [False, True, False]
    assert list(villages["households"]) == [55, 91, 409]  # population / 2.2
    assert report.voids_filled == 1 and report.population_estimated == 1
    assert region.crs.is_projected


def test_lambert_xlsx_and_population_raster(tmp_path: Path):
    table = pd.DataFrame(
        {
            "id": ["p", "q"],
            "X": [600000.0, 602000.0],
            "Y": [6160000.0, 6161000.0],
            "households": [10, None],
        }
    )
    table.to_excel(tmp_path / "v.xlsx", index=False)
    raster = tmp_path / "pop.tif"
    with rasterio.open(
        raster,
        "w",
        driver="GTiff",
        width=10,
        height=10,
        count=1,
        dtype="float32",
        crs="EPSG:4326",
        transform=Affine(0.1, 0, 1.0, 0, -0.1, 43.0),
    ) as dataset:
        dataset.write(np.full((10, 10), 77, np.float32), 1)
    layer = {
        "path": tmp_path / "v.xlsx",
        "crs": "EPSG:2154",
        "columns": {"village_id": "id", "x": "X", "y": "Y"},
    }
    region, _ = import_region(files(tmp_path, layer, population_raster=raster), crs="EPSG:2154")
    assert list(region.villages["population"]) == [77, 77]
    assert list(region.villages["households"]) == [10, 35]
    x = region.villages.geometry.x.to_numpy()
    np.testing.assert_allclose(x, [600000, 602000], atol=1e-3)


def test_geonames_dump_and_geojson_points(tmp_path: Path):
    def row(**f: object) -> str:
        fields = [f["id"], f["name"], f["name"], "", f["lat"], f["lon"], f["fc"], f["code"], "AD"]
        return "\t".join(map(str, [*fields, "", "", "", "", "", f["pop"], "", 1500, "UTC", "2020"]))

    lines = [
        row(id=1, name="Vila", lat=42.53, lon=1.56, fc="P", code="PPL", pop=0),
        row(id=2, name="Town", lat=42.50, lon=1.52, fc="P", code="PPLC", pop=20000),
        row(id=3, name="Peak", lat=42.60, lon=1.50, fc="T", code="MT", pop=0),
    ]
    (tmp_path / "AD.txt").write_text("\n".join(lines) + "\n")
    region, report = import_region(files(tmp_path, {"path": tmp_path / "AD.txt"}))
    assert list(region.villages["village_id"]) == ["geonames:1", "geonames:2"]
    assert list(region.villages["population"]) == [200, 20000]
    assert report.population_estimated == 1

    geojson = tmp_path / "v.geojson"
    geojson.write_text(
        '{"type":"FeatureCollection","features":[{"type":"Feature","properties":'
        '{"vid":"g1","inhabitants":50},"geometry":{"type":"Point","coordinates":[1.5,42.5]}}]}'
    )
    layer = {"path": geojson, "columns": {"village_id": "vid", "population": "inhabitants"}}
    region, _ = import_region(files(tmp_path, layer))
    assert list(region.villages["population"]) == [50]


def test_osm_places_and_roads(tmp_path: Path):
    extract = tmp_path / "tiny.osm"
    extract.write_text(OSM_XML)
    region, report = import_region(files(tmp_path, {"path": extract}, roads={"path": extract}))
    villages = region.villages
    assert list(villages["village_id"]) == ["osm:node/1", "osm:node/2"]
    assert list(villages["population"]) == [1234, 30]  # hamlet default
    assert list(villages["place"]) == ["village", "hamlet"]
    assert report.roads == 1 and list(region.roads["highway"]) == ["tertiary"]


def test_opencellid_cells_aggregate_to_sites(tmp_path: Path):
    cells = tmp_path / "cells.csv"
    cells.write_text(
        "radio,mcc,net,area,cell,unit,lon,lat,range,samples,changeable,created,updated,averageSignal\n"
        "GSM,208,1,10,1,,1.5000,42.5000,1000,5,1,0,0,0\n"
        "LTE,208,1,10,2,,1.50001,42.50001,1000,5,1,0,0,0\n"
        "UMTS,208,20,10,3,,1.50002,42.5,1000,5,1,0,0,0\n"
        "UMTS,208,20,10,4,,1.6,42.6,1000,5,1,0,0,0\n"
        "NR,208,20,10,5,,5.0,45.0,1000,5,1,0,0,0\n"
    )
    towers = [{"path": cells}]
    region, report = import_region(files(tmp_path, {"path": village_csv(tmp_path)}, towers=towers))
    sites = region.towers.sort_values("records", ascending=False)
    assert list(sites["records"]) == [3, 1]
    assert list(sites["tech"]) == ["4g", "3g"]
    assert sites["operators"].iloc[0] == "208-1;208-20"
    assert (sites["height_m"] == 30).all()
    assert report.towers_outside == 1 and report.tower_records == 5


def test_mast_table_merges_colocated_operators(tmp_path: Path):
    masts = tmp_path / "masts.csv"
    masts.write_text(
        "operator,x_l93,y_l93,g2,g3,g4,hauteur\n"
        "Orange,600000,6160000,1,1,0,25\nSFR,600000,6160000,1,1,1,\nFree,610000,6165000,0,1,0,40\n"
    )
    towers = [
        {
            "path": masts,
            "format": "masts",
            "crs": "2154",
            "columns": {"x": "x_l93", "y": "y_l93", "height_m": "hauteur"},
        }
    ]
    region, _ = import_region(files(tmp_path, {"path": village_csv(tmp_path)}, towers=towers))
    sites = region.towers.sort_values("records", ascending=False)
    assert list(sites["tech"]) == ["4g", "3g"]
    assert list(sites["operators"]) == ["Orange;SFR", "Free"]
    assert list(sites["height_m"]) == [25, 40]


@pytest.mark.parametrize(
    ("csv", "expected"),
    [
        ("code,name,east,north\nA,a,1.5,42.5\n", "no coordinate columns found"),
        ("code,lon,lat\nA,1.5,42.5\nB,7.5,48.0\n", "outside the DEM"),
        ("code,lon,lat\nA,1.5,42.5\nA,1.6,42.6\n", "village_id not unique"),
    ],
)
def test_bad_village_tables(tmp_path: Path, csv: str, expected: str):
    path = village_csv(tmp_path, csv)
    with pytest.raises(InputError, match=expected) as error:
        import_region(files(tmp_path, {"path": path, "columns": {"village_id": "code"}}))
    assert str(path) in str(error.value)


def test_dem_not_covering_villages(tmp_path: Path):
    (tmp_path / "far").mkdir()
    write_hgt(tmp_path / "far", lat=10, lon=10)
    layer = {"path": village_csv(tmp_path)}
    layout = RegionFiles.model_validate(
        {"dem": [tmp_path / "far" / "N10E010.hgt"], "villages": layer}
    )
    with pytest.raises(InputError, match=r"3 of 3 village.*add DEM tiles") as error:
        import_region(layout)
    assert "N10E010.hgt" in str(error.value)


def test_empty_osm_extract(tmp_path: Path):
    extract = tmp_path / "empty.osm"
    extract.write_text("<?xml version='1.0'?><osm version='0.6'></osm>")
    with pytest.raises(InputError, match=r"empty.osm: no place=.*check it covers"):
        import_region(files(tmp_path, {"path": extract}))


def test_cli_import_then_run_uses_cache(tmp_path: Path, capsys):
    layer = {"path": str(village_csv(tmp_path)), "columns": {"population": "pop"}}
    write_hgt(tmp_path / "N42E001.hgt.zip")
    data = {
        "name": "imp",
        "region": {
            "files": {
                "dem": [str(tmp_path / "N42E001.hgt.zip")],
                "villages": layer,
                "cache_dir": str(tmp_path / "cache"),
            }
        },
        "outputs": {"directory": str(tmp_path / "out"), "map": False},
    }
    scenario = tmp_path / "s.yaml"
    scenario.write_text(yaml.safe_dump(data))
    assert main(["import", str(scenario), "--out", str(tmp_path / "region")]) == 0
    assert "villages: 3 (1,220 people; 1 without population" in capsys.readouterr().out
    assert (tmp_path / "region" / "region.gpkg").is_file()
    assert main(["run", str(scenario)]) == 0
    assert len(list((tmp_path / "cache").iterdir())) == 1
    assert main(["run", str(scenario)]) == 0  # second run reads the cache
    assert len(list((tmp_path / "cache").iterdir())) == 1
    scenario_from_dict(data)  # the schema accepts the files section


def test_ariege_real_data_imports(tmp_path: Path):
    if not ARIEGE.is_dir():
        pytest.skip(f"real Ariège data not found at {ARIEGE} (the shared folder beside the repo)")
    from coverageplan.scenario import load_scenario

    scenario = load_scenario(ROOT / "scenarios" / "ariege.yaml")
    assert scenario.region.files is not None
    _, report = import_region(scenario.region.files, crs=scenario.region.crs)
    assert report.villages == 182 and report.population == 75_938
    assert report.voids_filled == 7652 and report.tower_records == 215
    assert report.seconds < 30
