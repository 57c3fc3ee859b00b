"""Network importers: fibre routes and points of presence from vector files, roads from OSM."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS

from coverageplan.errors import InputError
from coverageplan.region.importers import osm
from coverageplan.region.importers.crs import WGS84, gcj02_to_wgs84
from coverageplan.region.importers.tables import detect_format, open_vector
from coverageplan.region.model import empty_layer
from coverageplan.scenario import RawLayer

_KIND = {"LineString": shapely.GeometryType.LINESTRING, "Point": shapely.GeometryType.POINT}


def read_vector_layer(layer: RawLayer, geometry_type: str, crs: CRS) -> gpd.GeoDataFrame:
    """Lines or points of a GeoJSON/GeoPackage file in ``crs`` (multi-parts split)."""
    frame = open_vector(layer).explode(index_parts=False, ignore_index=True)
    kinds = shapely.get_type_id(frame.geometry.to_numpy())
    if (kinds != _KIND[geometry_type]).any():
        raise InputError(f"{layer.path}: expected {geometry_type} features only")
    if layer.gcj02:
        frame = frame.to_crs(WGS84)
        frame.geometry = shapely.transform(
            frame.geometry.to_numpy(),
            lambda xy: np.column_stack(gcj02_to_wgs84(xy[:, 0], xy[:, 1])),
        )
    frame = frame.to_crs(crs)
    frame.attrs["geometry_type"] = geometry_type
    return frame


def read_roads(layer: RawLayer, crs: CRS) -> gpd.GeoDataFrame:
    """Roads as trench routes: OSM highways, or lines from a vector file."""
    if detect_format(layer) == "osm":
        lines, table = osm.read_roads(layer.path)
        roads = gpd.GeoDataFrame(table, geometry=lines, crs=WGS84).to_crs(crs)
        roads.attrs["geometry_type"] = "LineString"
        return roads
    return read_vector_layer(layer, "LineString", crs)


def clip_to(frame: gpd.GeoDataFrame, bounds: tuple[float, float, float, float]) -> gpd.GeoDataFrame:
    """Features intersecting the box (whole features kept, so routes stay connected)."""
    if frame.empty:
        return frame
    keep = frame.sindex.query(shapely.box(*bounds), predicate="intersects")
    clipped = frame.iloc[sorted(keep)].reset_index(drop=True)
    clipped.attrs = frame.attrs
    return clipped if len(clipped) else empty_layer(frame.attrs["geometry_type"], frame.crs)
