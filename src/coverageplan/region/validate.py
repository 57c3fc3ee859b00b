"""Region checks: small named functions, each raising an InputError that says what to fix."""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from coverageplan.errors import InputError
from coverageplan.region.model import TOWER_TECHS, Region
from coverageplan.scenario import REGION_CLASSES

REQUIRED_VILLAGE_COLUMNS = ("village_id", "population", "households")


def _rows(frame: pd.DataFrame, bad: np.ndarray, limit: int = 5) -> str:
    """Describe the first offending rows by position and id."""
    positions = np.flatnonzero(bad)
    ids = frame["village_id"].to_numpy() if "village_id" in frame else None
    shown = [
        f"row {p}" + (f" (village_id {ids[p]!r})" if ids is not None else "")
        for p in positions[:limit]
    ]
    more = f" and {len(positions) - limit} more" if len(positions) > limit else ""
    return ", ".join(shown) + more


def check_metric_crs(crs: CRS | None, source: str) -> None:
    """The region must be in a projected CRS measured in metres."""
    if crs is None:
        raise InputError(f"{source}: the villages layer has no CRS; set one (e.g. EPSG:4326)")
    unit = crs.axis_info[0].unit_name if crs.axis_info else ""
    if not crs.is_projected or unit not in ("metre", "meter"):
        raise InputError(f"{source}: CRS {crs.name!r} is not metric; distances need metres")


def check_required_columns(region: Region, source: str) -> None:
    """Villages carry an id, a population and a household count."""
    missing = [c for c in REQUIRED_VILLAGE_COLUMNS if c not in region.villages.columns]
    if missing:
        raise InputError(
            f"{source}: villages layer lacks column(s) {', '.join(missing)}; "
            f"required: {', '.join(REQUIRED_VILLAGE_COLUMNS)}"
        )


def check_unique_ids(region: Region, source: str) -> None:
    """Every village_id appears once and is not empty."""
    ids = region.villages["village_id"]
    empty = ids.isna().to_numpy() | (ids.astype(str).str.strip() == "").to_numpy()
    if empty.any():
        raise InputError(
            f"{source}: villages with an empty village_id: {_rows(region.villages, empty)}"
        )
    duplicated = ids.duplicated(keep=False).to_numpy()
    if duplicated.any():
        names = sorted(set(ids[duplicated].astype(str)))[:5]
        raise InputError(
            f"{source}: village_id not unique: {', '.join(names)} appear more than once"
        )


def check_counts(region: Region, source: str) -> None:
    """Population and households are whole numbers ≥ 0."""
    for column in ("population", "households"):
        values = pd.to_numeric(region.villages[column], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(values) | (values < 0) | (values != np.round(values))
        if bad.any():
            raise InputError(
                f"{source}: villages column {column!r} must be an integer ≥ 0; "
                f"bad at {_rows(region.villages, bad)}"
            )


def check_point_geometries(region: Region, source: str) -> None:
    """Villages are single non-empty points."""
    geometry = region.villages.geometry.to_numpy()
    bad = shapely.is_missing(geometry) | shapely.is_empty(geometry)
    bad |= shapely.get_type_id(geometry) != shapely.GeometryType.POINT
    if bad.any():
        raise InputError(
            f"{source}: villages must be non-empty points; bad at {_rows(region.villages, bad)}"
        )


def check_region_classes(region: Region, source: str) -> None:
    """Area classes, when given, are the known ones."""
    if "region_class" not in region.villages:
        return
    classes = region.villages["region_class"]
    bad = classes.notna().to_numpy() & ~classes.isin(REGION_CLASSES).to_numpy()
    if bad.any():
        raise InputError(
            f"{source}: unknown region_class at {_rows(region.villages, bad)}; "
            f"expected one of {', '.join(REGION_CLASSES)}"
        )


def check_towers(region: Region, source: str) -> None:
    """Towers carry a known technology and a positive height."""
    towers = region.towers
    if towers.empty:
        return
    for column in ("tech", "height_m"):
        if column not in towers:
            raise InputError(f"{source}: towers layer lacks column {column!r}")
    bad_tech = ~towers["tech"].isin(TOWER_TECHS).to_numpy()
    if bad_tech.any():
        rows = ", ".join(str(p) for p in np.flatnonzero(bad_tech)[:5])
        raise InputError(
            f"{source}: towers rows {rows}: tech must be one of {', '.join(TOWER_TECHS)}"
        )
    height = pd.to_numeric(towers["height_m"], errors="coerce").to_numpy(dtype=float)
    bad_height = ~(height > 0)
    if bad_height.any():
        rows = ", ".join(str(p) for p in np.flatnonzero(bad_height)[:5])
        raise InputError(f"{source}: towers rows {rows}: height_m must be a number > 0")
    kinds = shapely.get_type_id(towers.geometry.to_numpy())
    if (kinds != shapely.GeometryType.POINT).any():
        raise InputError(f"{source}: towers must be points")


def check_fibre(region: Region, source: str) -> None:
    """Fibre lines are valid, non-empty lines, and the network touches the region."""
    lines = region.fibre.geometry.to_numpy()
    if len(lines):
        bad = shapely.is_missing(lines) | shapely.is_empty(lines) | ~shapely.is_valid(lines)
        kinds = shapely.get_type_id(lines)
        bad |= ~np.isin(
            kinds, [shapely.GeometryType.LINESTRING, shapely.GeometryType.MULTILINESTRING]
        )
        if bad.any():
            rows = ", ".join(str(p) for p in np.flatnonzero(bad)[:5])
            raise InputError(f"{source}: fibre rows {rows}: expected valid, non-empty lines")
    network = np.concatenate([lines, region.fibre_nodes.geometry.to_numpy()])
    if len(network):
        area = shapely.box(*region.terrain.bounds)
        if not shapely.intersects(network, area).any():
            raise InputError(
                f"{source}: the fibre network lies wholly outside the region's DEM "
                "(check the fibre layers' CRS)"
            )


def check_dem_covers_villages(region: Region, source: str) -> None:
    """Every village lies inside the DEM."""
    xmin, ymin, xmax, ymax = region.terrain.bounds
    xy = shapely.get_coordinates(region.villages.geometry.to_numpy())
    outside = (xy[:, 0] < xmin) | (xy[:, 0] > xmax) | (xy[:, 1] < ymin) | (xy[:, 1] > ymax)
    if outside.any():
        raise InputError(
            f"{source}: the DEM does not cover {int(outside.sum())} village(s): "
            f"{_rows(region.villages, outside)}; extend dem.tif or drop them"
        )
    if np.isnan(region.terrain.elevation_m).all():
        raise InputError(f"{source}: the DEM holds no valid elevation")


def validate_region(region: Region, source: str = "region") -> Region:
    """Run every check; return the region unchanged when it passes."""
    check_metric_crs(region.villages.crs and CRS.from_user_input(region.villages.crs), source)
    check_required_columns(region, source)
    check_unique_ids(region, source)
    check_counts(region, source)
    check_point_geometries(region, source)
    check_region_classes(region, source)
    check_towers(region, source)
    check_fibre(region, source)
    check_dem_covers_villages(region, source)
    return region
