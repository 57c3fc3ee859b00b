"""Tower importers: OpenCelliD cell exports and mast tables (e.g. the French regulator's list).

Records (cells, or one row per operator per mast) are merged into sites by
location: points linked by chains of neighbours closer than ``site_merge_m``
are one site (connected components of the spatial-index pairs), placed at
their mean, with the best technology any of them offers, the operators joined
by ``;`` and the record count. Without a height column a site gets
``tower_height_m`` (default 30 m, a typical rural macro mast).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse import csgraph

from coverageplan.errors import InputError
from coverageplan.region.importers.crs import WGS84
from coverageplan.region.importers.tables import read_table, rename, table_lonlat
from coverageplan.region.model import TOWER_TECHS
from coverageplan.scenario import RawLayer

OPENCELLID_COLUMNS = (
    "radio mcc net area cell unit lon lat range samples changeable created updated averageSignal"
).split()
"""Columns of an OpenCelliD export (the full dumps carry no header line)."""

RADIO_TECH = {"GSM": "2g", "CDMA": "2g", "UMTS": "3g", "LTE": "4g", "NR": "5g"}
"""OpenCelliD ``radio`` values and the tower technology they mean."""

TOWER_COLUMNS = ("operator", "x", "y", "tech", "g2", "g3", "g4", "g5", "height_m", "site_id")
"""Keys of a towers ``columns`` map: ``g2``…``g5`` are 0/1 technology flags."""


def read_opencellid(layer: RawLayer) -> pd.DataFrame:
    """Cells with ``tech`` and ``operator`` (MCC-MNC), lon/lat in WGS84 (or as mapped)."""
    frame = read_table(layer.path)
    if "radio" not in frame.columns:  # a headerless dump: its first row is data
        frame = read_table(layer.path, names=OPENCELLID_COLUMNS)
    frame = rename(frame, layer, TOWER_COLUMNS)
    tech = frame["radio"].str.upper().map(RADIO_TECH)
    unknown = tech.isna().to_numpy()
    if unknown.any():
        rows = ", ".join(str(r) for r in np.flatnonzero(unknown)[:5])
        raise InputError(
            f"{layer.path}: unknown radio at rows {rows}; expected {', '.join(RADIO_TECH)}"
        )
    operator = frame["mcc"].astype(str) + "-" + frame["net"].astype(str)
    return table_lonlat(frame.assign(tech=tech, operator=operator), layer)


def read_masts(layer: RawLayer) -> pd.DataFrame:
    """A mast table: coordinates in any CRS, a ``tech`` column or 0/1 flags g2…g5."""
    frame = table_lonlat(rename(read_table(layer.path), layer, TOWER_COLUMNS), layer)
    if "tech" in frame:
        tech = frame["tech"].astype(str).str.lower()
    else:
        flags = [f"g{n}" for n in range(2, 6) if f"g{n}" in frame]
        if not flags:
            raise InputError(
                f"{layer.path}: no technology column; give 'tech' (2g…5g) or 0/1 flags "
                "g2, g3, g4, g5 (map them with columns: {g4: ...})"
            )
        on = np.column_stack(
            [pd.to_numeric(frame[f], errors="coerce").fillna(0) > 0 for f in flags]
        )
        best = np.where(on.any(axis=1), len(flags) - 1 - np.argmax(on[:, ::-1], axis=1), -1)
        if (best < 0).any():
            rows = ", ".join(str(r) for r in np.flatnonzero(best < 0)[:5])
            raise InputError(f"{layer.path}: rows {rows} have no technology flag set")
        tech = pd.Series(np.array([f"{f[1]}g" for f in flags])[best], index=frame.index)
    bad = ~tech.isin(TOWER_TECHS).to_numpy()
    if bad.any():
        rows = ", ".join(str(r) for r in np.flatnonzero(bad)[:5])
        raise InputError(f"{layer.path}: rows {rows}: tech must be one of {TOWER_TECHS}")
    return frame.assign(tech=tech)


def read_towers(layer: RawLayer) -> pd.DataFrame:
    """Tower records of one file, by its format (``opencellid`` or ``masts``; auto sniffs)."""
    kind = layer.format
    if kind == "auto":
        head = read_table(layer.path).columns
        first = str(head[0]).upper()
        kind = "opencellid" if "radio" in head or first in RADIO_TECH else "masts"
    if kind == "opencellid":
        return read_opencellid(layer)
    if kind == "masts":
        return read_masts(layer)
    raise InputError(f"{layer.path}: towers format must be opencellid or masts, not {kind!r}")


def merge_sites(
    records: pd.DataFrame, crs: object, *, merge_m: float, height_m: float
) -> gpd.GeoDataFrame:
    """Records within ``merge_m`` of each other as one site: best tech, operators, count, height."""
    points = gpd.GeoSeries(gpd.points_from_xy(records["lon"], records["lat"]), crs=WGS84)
    points = points.to_crs(crs).reset_index(drop=True)
    xy = points.get_coordinates()
    near = points.sindex.query(points, predicate="dwithin", distance=merge_m)
    links = sparse.coo_matrix((np.ones(near.shape[1]), near), shape=(len(points),) * 2)
    _, site = csgraph.connected_components(links, directed=False)
    rank = records["tech"].map({t: i for i, t in enumerate(TOWER_TECHS)})
    height = pd.to_numeric(records.get("height_m", np.nan), errors="coerce")
    table = pd.DataFrame(
        {
            "site": site,
            "x": xy["x"].to_numpy(),
            "y": xy["y"].to_numpy(),
            "rank": rank.to_numpy(),
            "operator": records.get("operator", pd.Series("", index=records.index)).astype(str),
            "height_m": np.asarray(height, float) * np.ones(len(records)),
        }
    )
    sites = (
        table.groupby("site", sort=True)
        .agg(
            x=("x", "mean"),
            y=("y", "mean"),
            rank=("rank", "max"),
            height_m=("height_m", "max"),
            operators=("operator", lambda ops: ";".join(sorted(set(ops)))),
            records=("x", "size"),
        )
        .reset_index(drop=True)
    )
    return gpd.GeoDataFrame(
        {
            "tech": np.array(TOWER_TECHS)[sites["rank"].to_numpy()],
            "height_m": sites["height_m"].fillna(height_m).to_numpy(),
            "operators": sites["operators"].to_numpy(),
            "records": sites["records"].to_numpy(),
        },
        geometry=gpd.points_from_xy(sites["x"], sites["y"]),
        crs=crs,
    )
