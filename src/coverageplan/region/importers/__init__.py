"""Importers: raw planner data (SRTM, census tables, OSM, GeoNames, cell and mast lists) → Region.

:func:`import_region` reads the files a scenario's ``region.files`` lists,
converts every layer to one metric CRS and returns the validated Region with an
:class:`ImportReport` of what it found.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS, Transformer

from coverageplan.errors import InputError
from coverageplan.region.importers.crs import WGS84
from coverageplan.region.importers.networks import clip_to, read_roads, read_vector_layer
from coverageplan.region.importers.settlements import complete_villages, read_settlements
from coverageplan.region.importers.terrain import read_dem
from coverageplan.region.importers.towers import merge_sites, read_towers
from coverageplan.region.io import fill_voids, metric_crs_for, reproject_terrain
from coverageplan.region.model import Region, Terrain, empty_layer
from coverageplan.region.validate import validate_region
from coverageplan.scenario import RegionFiles

log = logging.getLogger(__name__)

VILLAGE_KEEP = (
    "village_id",
    "name",
    "population",
    "households",
    "population_estimated",
    "place",
    "region_class",
    "income",
    "dispersion",
    "priority",
)


@dataclass(frozen=True)
class ImportReport:
    """What an import found: counts, voids filled, estimates, towers dropped, seconds."""

    villages: int
    population: int
    population_estimated: int
    towers: int
    tower_records: int
    towers_outside: int
    fibre: int
    fibre_nodes: int
    roads: int
    dem_cells: tuple[int, int]
    voids_filled: int
    crs: str
    seconds: float

    def lines(self) -> list[str]:
        """The report as short lines for the terminal."""
        rows, cols = self.dem_cells
        return [
            f"villages: {self.villages:,} ({self.population:,} people; "
            f"{self.population_estimated:,} without population, estimated)",
            f"towers: {self.towers:,} sites from {self.tower_records:,} records "
            f"({self.towers_outside:,} records outside the area dropped)",
            f"networks: {self.fibre:,} fibre routes, {self.fibre_nodes:,} fibre nodes, "
            f"{self.roads:,} roads",
            f"terrain: {cols:,}×{rows:,} cells, {self.voids_filled:,} voids filled",
            f"crs: {self.crs}; imported in {self.seconds:.1f} s",
        ]


def _inside(terrain: Terrain, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Which WGS84 points fall inside the (unprojected) DEM grid."""
    x, y = Transformer.from_crs(WGS84, terrain.crs, always_xy=True).transform(lon, lat)
    xmin, ymin, xmax, ymax = terrain.bounds
    return (x >= xmin) & (x <= xmax) & (y >= ymin) & (y <= ymax)


def _check_dem_covers(terrain: Terrain, villages: pd.DataFrame, files: RegionFiles) -> None:
    outside = ~_inside(terrain, villages["lon"].to_numpy(), villages["lat"].to_numpy())
    if outside.any():
        first = villages[outside].head(3)
        shown = ", ".join(
            f"{vid!r} at ({lon:.4f}, {lat:.4f})"
            for vid, lon, lat in zip(first["village_id"], first["lon"], first["lat"], strict=True)
        )
        xmin, ymin, xmax, ymax = terrain.bounds
        dem = ", ".join(str(p) for p in files.dem)
        raise InputError(
            f"{files.villages.path}: {int(outside.sum())} of {len(villages)} village(s) lie "
            f"outside the DEM ({dem}: x {xmin:.3f}…{xmax:.3f}, y {ymin:.3f}…{ymax:.3f}), e.g. "
            f"{shown}; add DEM tiles that cover them, or check the coordinates and their crs"
        )


def import_region(files: RegionFiles, *, crs: str | None = None) -> tuple[Region, ImportReport]:
    """Read, convert to one metric CRS and validate the region the raw files describe."""
    started = time.perf_counter()
    villages = complete_villages(read_settlements(files.villages), files)
    raw_terrain = read_dem(files.dem)
    _check_dem_covers(raw_terrain, villages, files)
    elevation, voids = fill_voids(raw_terrain.elevation_m)
    if voids:
        log.warning(
            "%s: filled %d void DEM cells from their nearest neighbours", files.dem[0], voids
        )
    points = gpd.GeoDataFrame(
        villages[[c for c in VILLAGE_KEEP if c in villages]],
        geometry=gpd.points_from_xy(villages["lon"], villages["lat"]),
        crs=WGS84,
    )
    target = metric_crs_for(points, crs)
    terrain = reproject_terrain(
        Terrain(elevation_m=elevation, transform=raw_terrain.transform, crs=raw_terrain.crs),
        target,
    )
    records = pd.concat([read_towers(layer) for layer in files.towers] or [pd.DataFrame()])
    inside = (
        _inside(raw_terrain, records["lon"].to_numpy(), records["lat"].to_numpy())
        if len(records)
        else np.zeros(0, bool)
    )
    towers = (
        merge_sites(
            records[inside], target, merge_m=files.site_merge_m, height_m=files.tower_height_m
        )
        if inside.any()
        else empty_layer("Point", target)
    )
    layers = {
        "fibre": (files.fibre, "LineString"),
        "fibre_nodes": (files.fibre_nodes, "Point"),
    }
    networks = {
        name: empty_layer(kind, target)
        if layer is None
        else clip_to(read_vector_layer(layer, kind, target), terrain.bounds)
        for name, (layer, kind) in layers.items()
    }
    roads = (
        empty_layer("LineString", target)
        if files.roads is None
        else clip_to(read_roads(files.roads, target), terrain.bounds)
    )
    region = Region(
        villages=points.to_crs(target), terrain=terrain, towers=towers, roads=roads, **networks
    )
    region = validate_region(region, source=str(files.villages.path))
    report = ImportReport(
        villages=len(region.villages),
        population=int(region.villages["population"].sum()),
        population_estimated=int(region.villages["population_estimated"].sum()),
        towers=len(towers),
        tower_records=len(records),
        towers_outside=int((~inside).sum()),
        fibre=len(region.fibre),
        fibre_nodes=len(region.fibre_nodes),
        roads=len(region.roads),
        dem_cells=terrain.elevation_m.shape,
        voids_filled=voids,
        crs=CRS.from_user_input(target).to_string(),
        seconds=time.perf_counter() - started,
    )
    return region, report


__all__ = ["ImportReport", "import_region"]
