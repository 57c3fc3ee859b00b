"""Settlement importers: villages from tables, GeoNames, OSM or vector points.

Missing population is taken from a population raster (the value of the cell
holding the village, people per cell) when the scenario gives one, else from
:data:`coverageplan.scenario.DEFAULT_POPULATION` by place type; either way the
village is flagged ``population_estimated``. Missing households are
population / household size, rounded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import rasterio
from pyproj import Transformer

from coverageplan.errors import InputError
from coverageplan.region.importers import osm
from coverageplan.region.importers.crs import WGS84
from coverageplan.region.importers.tables import (
    detect_format,
    read_geonames,
    read_table,
    read_vector_points,
    rename,
    table_lonlat,
)
from coverageplan.scenario import RawLayer, RegionFiles

VILLAGE_COLUMNS = (
    "village_id",
    "name",
    "x",
    "y",
    "population",
    "households",
    "place",
    "region_class",
    "income",
    "dispersion",
    "priority",
)
"""Keys of a villages ``columns`` map: our column → the file's column."""


def read_settlements(layer: RawLayer) -> pd.DataFrame:
    """Raw settlement rows with lon/lat and whatever of our columns the source has."""
    kind = detect_format(layer)
    if kind == "osm":
        return osm.read_places(layer.path)
    if kind == "geonames":
        return read_geonames(layer)
    if kind == "vector":
        return rename(read_vector_points(layer), layer, VILLAGE_COLUMNS)
    if kind == "table":
        frame = rename(read_table(layer.path), layer, VILLAGE_COLUMNS)
        return table_lonlat(frame, layer)
    raise InputError(f"{layer.path}: format {kind!r} does not hold settlements")


def _sample_raster(path: Path, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Values of a raster at WGS84 points (NaN outside it or at nodata)."""
    try:
        with rasterio.open(path) as dataset:
            values = dataset.read(1, masked=True).astype(float).filled(np.nan)
            crs, transform = dataset.crs or WGS84, dataset.transform
    except rasterio.errors.RasterioIOError as error:
        raise InputError(f"{path}: cannot read population raster ({error})") from None
    x, y = Transformer.from_crs(WGS84, crs, always_xy=True).transform(lon, lat)
    rows, cols = rasterio.transform.rowcol(transform, x, y)
    rows, cols = np.asarray(rows), np.asarray(cols)
    inside = (rows >= 0) & (rows < values.shape[0]) & (cols >= 0) & (cols < values.shape[1])
    sampled = np.full(len(rows), np.nan)
    sampled[inside] = values[rows[inside], cols[inside]]
    return sampled


def _numeric(frame: pd.DataFrame, column: str) -> pd.Series:
    """A column as numbers (NaN where absent or not a number)."""
    if column not in frame:
        return pd.Series(np.nan, index=frame.index)
    return pd.to_numeric(frame[column], errors="coerce")


def complete_villages(frame: pd.DataFrame, files: RegionFiles) -> pd.DataFrame:
    """Ids, names, population (estimated where missing, flagged) and households."""
    source = files.villages.path
    out = frame.reset_index(drop=True)
    if "village_id" not in out:
        out["village_id"] = source.stem + ":" + out.index.astype(str)
    out["village_id"] = out["village_id"].astype(str).str.strip()
    population = _numeric(out, "population")
    missing = population.isna().to_numpy()
    estimate = np.full(len(out), np.nan)
    if files.population_raster is not None and missing.any():
        estimate = _sample_raster(
            files.population_raster, out["lon"].to_numpy(), out["lat"].to_numpy()
        )
    place = out["place"] if "place" in out else pd.Series("village", index=out.index)
    by_type = place.map(files.default_population).fillna(files.default_population["village"])
    estimate = np.where(np.isfinite(estimate), estimate, by_type.to_numpy(float))
    out["population"] = np.round(np.where(missing, estimate, population)).astype(np.int64)
    out["population_estimated"] = missing
    households = _numeric(out, "households")
    from_size = np.round(out["population"] / files.household_size)
    out["households"] = households.fillna(from_size).round().astype(np.int64)
    return out
