"""Fibre reach: each village's spur to the nearest fibre access point, costed by terrain.

Walking-skeleton model: every village pays its own spur (``parent = -1``).
Spur length is the straight-line distance times a route factor; its terrain
factor is the mean, along the spur, of a slope-class multiplier sampled from
the DEM in one batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from scipy.spatial import cKDTree

from coverageplan.engineering.terrain import mean_along_segments
from coverageplan.region.model import Region
from coverageplan.scenario import FibreEngineering


@dataclass(frozen=True)
class FibreReach:
    """Per village: fibre tree position and the trench to its parent.

    ``parent`` (n,) int, −1 where the edge joins the existing network;
    ``edge_length_m`` (n,) route length of that edge; ``edge_terrain_factor``
    (n,) cost multiplier ≥ 1 from slope; ``attach_xy`` (n, 2) where the edge
    ends (for maps); ``reachable`` (n,) bool, edge within the longest spur.
    """

    parent: np.ndarray
    edge_length_m: np.ndarray
    edge_terrain_factor: np.ndarray
    attach_xy: np.ndarray
    reachable: np.ndarray


def access_points_xy(region: Region) -> np.ndarray:
    """Where new fibre can splice in: the access-point layer, else the backbone's vertices."""
    if len(region.fibre_nodes):
        return shapely.get_coordinates(region.fibre_nodes.geometry.to_numpy())
    return shapely.get_coordinates(region.fibre.geometry.to_numpy())


def slope_factor_grid(slope_deg: np.ndarray, settings: FibreEngineering) -> np.ndarray:
    """Trench cost multiplier per DEM cell from its slope class."""
    classes = np.digitize(slope_deg, settings.slope_breaks_deg)
    return np.asarray(settings.slope_factors, dtype=np.float32)[classes]


def spur_reach(
    region: Region, village_xy: np.ndarray, slope_deg: np.ndarray, settings: FibreEngineering
) -> FibreReach:
    """Each village's own spur to its nearest access point."""
    n = len(village_xy)
    parent = np.full(n, -1, dtype=np.int64)
    points = access_points_xy(region)
    if len(points) == 0:
        return FibreReach(
            parent=parent,
            edge_length_m=np.full(n, np.inf),
            edge_terrain_factor=np.ones(n),
            attach_xy=village_xy.copy(),
            reachable=np.zeros(n, dtype=bool),
        )
    distance_m, nearest = cKDTree(points).query(village_xy)
    attach_xy = points[nearest]
    factor = mean_along_segments(
        region.terrain,
        slope_factor_grid(slope_deg, settings),
        village_xy,
        attach_xy,
        spacing_m=settings.sample_spacing_m,
    )
    length_m = distance_m * settings.route_factor
    return FibreReach(
        parent=parent,
        edge_length_m=length_m,
        edge_terrain_factor=factor,
        attach_xy=attach_xy,
        reachable=length_m <= settings.max_spur_m,
    )
