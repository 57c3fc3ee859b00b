"""Read and write a Region: one GeoPackage (``region.gpkg``) plus one GeoTIFF DEM (``dem.tif``)."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import rasterio
from pyproj import CRS
from rasterio.warp import Resampling, calculate_default_transform, reproject
from scipy import ndimage

from coverageplan.atomic import atomic_file
from coverageplan.errors import InputError
from coverageplan.region.model import Region, Terrain, empty_layer
from coverageplan.region.validate import check_required_columns, validate_region

log = logging.getLogger(__name__)

GPKG_NAME = "region.gpkg"
DEM_NAME = "dem.tif"
LAYER_GEOMETRY = {
    "villages": "Point",
    "fibre": "LineString",
    "fibre_nodes": "Point",
    "towers": "Point",
    "roads": "LineString",
}


def fill_voids(elevation_m: np.ndarray) -> tuple[np.ndarray, int]:
    """Replace NaN cells by the nearest valid elevation; return the grid and the count filled."""
    voids = np.isnan(elevation_m)
    count = int(voids.sum())
    if count == 0 or count == voids.size:
        return elevation_m, count
    nearest = ndimage.distance_transform_edt(voids, return_distances=False, return_indices=True)
    return elevation_m[tuple(nearest)], count


def read_raster(path: Path) -> Terrain:
    """Band 1 of a DEM raster with nodata as NaN (voids not yet filled)."""
    try:
        with rasterio.open(path) as dataset:
            elevation = dataset.read(1, masked=True).astype(np.float32).filled(np.nan)
            transform, crs = dataset.transform, dataset.crs
    except rasterio.errors.RasterioIOError as error:
        raise InputError(f"{path}: cannot read DEM ({error})") from None
    if crs is None:
        raise InputError(f"{path}: the DEM has no CRS; give it one (e.g. gdal_edit -a_srs)")
    return Terrain(elevation_m=elevation, transform=transform, crs=CRS.from_user_input(crs))


def read_terrain(path: Path) -> Terrain:
    """Read band 1 of a DEM; nodata becomes NaN and is filled from the nearest valid cell."""
    terrain = read_raster(path)
    elevation, voids = fill_voids(terrain.elevation_m)
    if voids:
        log.warning("%s: filled %d void DEM cells from their nearest neighbours", path, voids)
    return Terrain(elevation_m=elevation, transform=terrain.transform, crs=terrain.crs)


def metric_crs_for(villages: gpd.GeoDataFrame, requested: str | None) -> CRS:
    """The CRS to plan in: the requested one, the data's own if metric, else its UTM zone."""
    if requested is not None:
        try:
            return CRS.from_user_input(requested)
        except Exception as error:
            raise InputError(
                f"region.crs: {requested!r} is not a CRS pyproj knows ({error})"
            ) from None
    crs = CRS.from_user_input(villages.crs)
    if crs.is_projected:
        return crs
    return CRS.from_user_input(villages.estimate_utm_crs())


def reproject_terrain(terrain: Terrain, crs: CRS) -> Terrain:
    """Warp a DEM into ``crs`` with bilinear resampling (no-op when already there)."""
    if terrain.crs == crs:
        return terrain
    rows, cols = terrain.elevation_m.shape
    xmin, ymin, xmax, ymax = terrain.bounds
    transform, width, height = calculate_default_transform(
        terrain.crs, crs, cols, rows, left=xmin, bottom=ymin, right=xmax, top=ymax
    )
    warped = np.full((height, width), np.nan, dtype=np.float32)
    reproject(
        terrain.elevation_m,
        warped,
        src_transform=terrain.transform,
        src_crs=terrain.crs,
        dst_transform=transform,
        dst_crs=crs,
        src_nodata=np.nan,
        dst_nodata=np.nan,
        resampling=Resampling.bilinear,
    )
    return Terrain(elevation_m=warped, transform=transform, crs=crs)


def read_region(folder: Path | str, *, crs: str | None = None) -> Region:
    """Read, reproject to one metric CRS and validate the region saved in ``folder``."""
    folder = Path(folder)
    gpkg, dem = folder / GPKG_NAME, folder / DEM_NAME
    for path in (gpkg, dem):
        if not path.is_file():
            raise InputError(
                f"{path}: region file not found (a region folder holds {GPKG_NAME} and {DEM_NAME})"
            )
    try:
        present = {name for name, _ in pyogrio.list_layers(gpkg)}
    except Exception as error:
        raise InputError(f"{gpkg}: not a readable GeoPackage ({error})") from None
    if "villages" not in present:
        raise InputError(
            f"{gpkg}: no 'villages' layer (found: {', '.join(sorted(present)) or 'none'})"
        )
    layers: dict[str, gpd.GeoDataFrame] = {}
    for name, geometry_type in LAYER_GEOMETRY.items():
        if name in present:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # GDAL notes on empty layers
                layers[name] = gpd.read_file(gpkg, layer=name, engine="pyogrio")
        else:
            layers[name] = empty_layer(geometry_type, layers["villages"].crs if layers else None)
    villages = layers["villages"]
    if villages.crs is None:
        raise InputError(f"{gpkg}: the villages layer has no CRS")
    target = metric_crs_for(villages, crs)
    for name, layer in layers.items():
        if layer.crs is None:
            layer = layer.set_crs(villages.crs)
        layers[name] = layer.to_crs(target)
    region = Region(terrain=reproject_terrain(read_terrain(dem), target), **layers)
    check_required_columns(region, str(gpkg))
    region = _normalise_types(region)
    return validate_region(region, source=str(folder))


def _normalise_types(region: Region) -> Region:
    """Give the village table its documented dtypes (ids as strings)."""
    villages = region.villages.copy()
    villages["village_id"] = (
        villages["village_id"].astype(str).where(villages["village_id"].notna())
    )
    return Region(
        villages=villages,
        terrain=region.terrain,
        fibre=region.fibre,
        fibre_nodes=region.fibre_nodes,
        towers=region.towers,
        roads=region.roads,
    )


def write_float_raster(
    values: np.ndarray,
    crs: object,
    transform: object,
    path: Path,
    tags: dict[str, str] | None = None,
) -> None:
    """Write a 2-D grid as a tiled, compressed float32 GeoTIFF (NaN = nodata), atomically."""
    rows, cols = values.shape
    profile = {
        "driver": "GTiff",
        "height": rows,
        "width": cols,
        "count": 1,
        "dtype": "float32",
        "crs": crs,
        "transform": transform,
        "nodata": np.nan,
        "compress": "deflate",
        "predictor": 3,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
    }
    with atomic_file(path) as temporary, rasterio.open(temporary, "w", **profile) as dataset:
        dataset.write(values.astype(np.float32), 1)
        if tags:
            dataset.update_tags(1, **tags)


def write_terrain(terrain: Terrain, path: Path) -> None:
    """Write the DEM (metres) as a GeoTIFF, atomically."""
    write_float_raster(terrain.elevation_m, terrain.crs, terrain.transform, path)


def write_layers(layers: dict[str, gpd.GeoDataFrame], path: Path) -> None:
    """Write vector layers into one GeoPackage, atomically."""
    with atomic_file(path) as temporary:
        for name, layer in layers.items():
            geometry_type = layer.attrs.get("geometry_type") or LAYER_GEOMETRY.get(name)
            pyogrio.write_dataframe(
                layer, temporary, layer=name, driver="GPKG", geometry_type=geometry_type
            )


def write_region(region: Region, folder: Path | str) -> Path:
    """Save a region as ``folder/region.gpkg`` + ``folder/dem.tif``; return the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_layers(region.layers(), folder / GPKG_NAME)
    write_terrain(region.terrain, folder / DEM_NAME)
    return folder
