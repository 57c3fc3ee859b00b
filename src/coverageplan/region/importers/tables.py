"""Reading point tables (CSV, XLSX, GeoNames dumps, GeoJSON/GeoPackage) into lon/lat frames.

Every reader returns a plain DataFrame with WGS84 ``lon`` and ``lat`` columns
(degrees) plus the file's own columns renamed by the scenario's column map.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from coverageplan.errors import InputError
from coverageplan.region.importers.crs import parse_crs, to_wgs84
from coverageplan.scenario import RawLayer

X_NAMES = ("lon", "longitude", "lng", "long", "x")
Y_NAMES = ("lat", "latitude", "y")
TABLE_SUFFIXES = (".csv", ".tsv", ".xlsx", ".xls")
VECTOR_SUFFIXES = (".geojson", ".json", ".gpkg", ".shp", ".fgb")
OSM_SUFFIXES = (".pbf", ".osm", ".bz2", ".o5m", ".opl")

GEONAMES_COLUMNS = (
    "geonameid name asciiname alternatenames latitude longitude feature_class feature_code "
    "country_code cc2 admin1_code admin2_code admin3_code admin4_code population elevation "
    "dem timezone modification_date"
).split()
"""Columns of a GeoNames dump (``XX.txt``: tab-separated, no header)."""

GEONAMES_PLACE = {"PPLX": "hamlet", "PPLL": "village", "PPLA": "town", "PPLC": "town"}
"""GeoNames feature codes mapped to OSM place types (others count as villages)."""


def detect_format(layer: RawLayer) -> str:
    """The layer's format: as given, else from the file's suffix."""
    if layer.format != "auto":
        return layer.format
    suffix = layer.path.suffix.lower()
    if suffix == ".txt":
        return "geonames"
    if suffix in TABLE_SUFFIXES:
        return "table"
    if suffix in VECTOR_SUFFIXES:
        return "vector"
    if suffix in OSM_SUFFIXES:
        return "osm"
    raise InputError(
        f"{layer.path}: cannot tell the format from the suffix {suffix!r}; "
        "set 'format' (table, vector, osm, geonames, opencellid or masts)"
    )


def read_table(path: Path, *, names: list[str] | None = None) -> pd.DataFrame:
    """A CSV/TSV/XLSX table as strings-or-numbers, one row per record."""
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    suffix = path.suffix.lower()
    try:
        if suffix in (".xlsx", ".xls"):
            return pd.read_excel(path, dtype={0: str})
        sep = "\t" if suffix in (".tsv", ".txt") else ","
        header = None if names is not None else "infer"
        return pd.read_csv(
            path,
            sep=sep,
            header=header,
            names=names,
            dtype=str,
            keep_default_na=False,
            na_values=[""],
            quoting=3 if names is not None else 0,
        )
    except (ValueError, OSError, pd.errors.ParserError) as error:
        raise InputError(f"{path}: cannot read table ({error})") from None


def rename(frame: pd.DataFrame, layer: RawLayer, allowed: tuple[str, ...]) -> pd.DataFrame:
    """Apply the scenario's column map (our name → the file's column name)."""
    unknown = sorted(set(layer.columns) - set(allowed))
    if unknown:
        raise InputError(
            f"{layer.path}: columns map has unknown key(s) {', '.join(unknown)}; "
            f"known: {', '.join(allowed)}"
        )
    missing = sorted(c for c in layer.columns.values() if c not in frame.columns)
    if missing:
        raise InputError(
            f"{layer.path}: mapped column(s) {', '.join(missing)} not in the file "
            f"(it has: {', '.join(map(str, frame.columns[:20]))})"
        )
    return frame.rename(columns={v: k for k, v in layer.columns.items()})


def _coordinate_column(frame: pd.DataFrame, candidates: tuple[str, ...]) -> str | None:
    lower = {str(c).lower(): str(c) for c in frame.columns}
    return next((lower[name] for name in candidates if name in lower), None)


def table_lonlat(frame: pd.DataFrame, layer: RawLayer) -> pd.DataFrame:
    """Add WGS84 ``lon``/``lat`` from the x/y columns (mapped, else guessed) in the layer CRS."""
    x_col = "x" if "x" in layer.columns else _coordinate_column(frame, X_NAMES)
    y_col = "y" if "y" in layer.columns else _coordinate_column(frame, Y_NAMES)
    if x_col is None or y_col is None:
        raise InputError(
            f"{layer.path}: no coordinate columns found (looked for {'/'.join(X_NAMES)} and "
            f"{'/'.join(Y_NAMES)}; it has: {', '.join(map(str, frame.columns[:20]))}); "
            "map them with columns: {x: ..., y: ...}"
        )
    x = pd.to_numeric(frame[x_col], errors="coerce").to_numpy(float)
    y = pd.to_numeric(frame[y_col], errors="coerce").to_numpy(float)
    bad = ~(np.isfinite(x) & np.isfinite(y))
    if bad.any():
        rows = ", ".join(str(r + 2) for r in np.flatnonzero(bad)[:5])
        raise InputError(
            f"{layer.path}: {int(bad.sum())} row(s) without numeric {x_col}/{y_col} "
            f"(file lines {rows}); fix or remove them"
        )
    crs = parse_crs(layer.crs, str(layer.path))
    lon, lat = to_wgs84(x, y, crs, gcj02=layer.gcj02)
    return frame.assign(lon=lon, lat=lat)


def read_geonames(layer: RawLayer) -> pd.DataFrame:
    """A GeoNames dump: populated places (feature class P); population 0 means unknown."""
    frame = read_table(layer.path, names=GEONAMES_COLUMNS)
    frame = frame[frame["feature_class"] == "P"]
    population = pd.to_numeric(frame["population"], errors="coerce")
    return frame.assign(
        village_id="geonames:" + frame["geonameid"].astype(str),
        population=population.where(population > 0),
        place=frame["feature_code"].map(GEONAMES_PLACE).fillna("village"),
        lon=pd.to_numeric(frame["longitude"]),
        lat=pd.to_numeric(frame["latitude"]),
    )


def open_vector(layer: RawLayer) -> gpd.GeoDataFrame:
    """A vector file's features, with the layer's CRS where the file names none."""
    if not layer.path.is_file():
        raise InputError(f"{layer.path}: file not found")
    try:
        frame = pyogrio.read_dataframe(layer.path, layer=layer.layer)
    except Exception as error:
        raise InputError(f"{layer.path}: cannot read vector file ({error})") from None
    if frame.crs is None:
        frame = frame.set_crs(parse_crs(layer.crs, str(layer.path)))
    return frame


def read_vector_points(layer: RawLayer) -> pd.DataFrame:
    """Points from GeoJSON / GeoPackage / Shapefile as a lon/lat frame."""
    frame = open_vector(layer)
    geometry = frame.geometry.to_numpy()
    points = shapely.get_type_id(geometry) == shapely.GeometryType.POINT
    if not points.all():
        rows = ", ".join(str(r) for r in np.flatnonzero(~points)[:5])
        raise InputError(f"{layer.path}: features must be points; not at rows {rows}")
    xy = shapely.get_coordinates(geometry)
    lon, lat = to_wgs84(xy[:, 0], xy[:, 1], frame.crs, gcj02=layer.gcj02)
    table = pd.DataFrame(frame.drop(columns=frame.geometry.name))
    return table.assign(lon=lon, lat=lat)
