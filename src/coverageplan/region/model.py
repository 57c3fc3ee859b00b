"""The Region and Terrain value types."""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
from affine import Affine
from pyproj import CRS
from scipy import ndimage

TOWER_TECHS: tuple[str, ...] = ("2g", "3g", "4g", "5g")
"""Tower technologies; 2G/3G sites can be upgraded to 4G."""


@dataclass(frozen=True)
class Terrain:
    """A DEM: elevation in metres on a north-up grid, NaN where void.

    ``transform`` maps (column, row) to (x, y) of the cell's upper-left corner.
    """

    elevation_m: np.ndarray
    transform: Affine
    crs: CRS

    @property
    def cell_size_m(self) -> tuple[float, float]:
        """Cell width and height in CRS units (metres for a metric CRS)."""
        return abs(self.transform.a), abs(self.transform.e)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(xmin, ymin, xmax, ymax) of the grid's outer edges."""
        rows, cols = self.elevation_m.shape
        x0, y0 = self.transform @ (0, 0)
        x1, y1 = self.transform @ (cols, rows)
        return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)

    def fractional_index(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Row and column (cell centres at integers) of points, as floats."""
        col, row = ~self.transform @ (np.asarray(x, float), np.asarray(y, float))
        return np.asarray(row) - 0.5, np.asarray(col) - 0.5

    def sample(self, x: np.ndarray, y: np.ndarray, grid: np.ndarray | None = None) -> np.ndarray:
        """Bilinear sample of ``grid`` (default: elevation) at points; edge values outside."""
        values = self.elevation_m if grid is None else grid
        row, col = self.fractional_index(x, y)
        return ndimage.map_coordinates(
            values, [row.ravel(), col.ravel()], order=1, mode="nearest"
        ).reshape(np.shape(row))

    def slope_deg(self) -> np.ndarray:
        """Terrain slope in degrees per cell (central differences)."""
        dx, dy = self.cell_size_m
        grad_row, grad_col = np.gradient(self.elevation_m.astype(np.float64), dy, dx)
        return np.degrees(np.arctan(np.hypot(grad_row, grad_col))).astype(np.float32)


@dataclass(frozen=True)
class Region:
    """Villages, terrain and existing networks of one planning area.

    Layers (GeoDataFrames in the region's metric CRS):
    ``villages`` points with ``village_id``, ``population``, ``households`` and
    optional ``region_class``, ``income``, ``dispersion``, ``priority``;
    ``fibre`` backbone lines; ``fibre_nodes`` access points where new fibre can
    splice in; ``towers`` points with ``tech`` and ``height_m``; ``roads`` lines.
    """

    villages: gpd.GeoDataFrame
    terrain: Terrain
    fibre: gpd.GeoDataFrame = field(default_factory=lambda: empty_layer("LineString"))
    fibre_nodes: gpd.GeoDataFrame = field(default_factory=lambda: empty_layer("Point"))
    towers: gpd.GeoDataFrame = field(default_factory=lambda: empty_layer("Point"))
    roads: gpd.GeoDataFrame = field(default_factory=lambda: empty_layer("LineString"))

    @property
    def crs(self) -> CRS:
        """The region's metric CRS."""
        return CRS.from_user_input(self.villages.crs)

    def layers(self) -> dict[str, gpd.GeoDataFrame]:
        """The vector layers by GeoPackage layer name."""
        return {
            "villages": self.villages,
            "fibre": self.fibre,
            "fibre_nodes": self.fibre_nodes,
            "towers": self.towers,
            "roads": self.roads,
        }


def empty_layer(geometry_type: str, crs: CRS | str | None = None) -> gpd.GeoDataFrame:
    """An empty layer (no rows) that still knows its geometry type for writing."""
    frame = gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs=crs))
    frame.attrs["geometry_type"] = geometry_type
    return frame
