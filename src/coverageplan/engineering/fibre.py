"""Fibre reach: a terrain-costed extension tree from the villages to the existing network.

1. **Cost surface** — a multiplier per DEM cell: the slope class's factor
   (from the DEM), times ``road_factor`` (or ``aerial_factor`` where aerial
   cable is allowed) within ``road_width_m`` of a road.
2. **Extension graph** — nodes are villages and access points (the given
   ``fibre_nodes`` plus points every ``access_spacing_m`` along the fibre
   lines). Candidate edges join each node to its ``neighbours`` nearest nodes,
   plus each village to its nearest access point (so every village can reach
   the network). Each edge's factor is the mean of the cost surface sampled
   along it, in one batch.
3. **Tree** — all access points are contracted into one root and the minimum
   spanning tree (``scipy.sparse.csgraph``) is oriented away from it. Each
   village gets ``parent`` (−1 when its edge joins the network) and the length
   and factor of its edge; villages on one branch share the trench.

With ``topology: spur`` each village instead pays its own straight spur to the
nearest access point (the walking-skeleton model, kept for comparison).
Edge weights are length × factor; money is applied in ``economics``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import shapely
from rasterio import features
from scipy import sparse
from scipy.sparse import csgraph
from scipy.spatial import cKDTree

from coverageplan.engineering.terrain import mean_along_segments
from coverageplan.region.model import Region, Terrain
from coverageplan.scenario import FibreEngineering

log = logging.getLogger(__name__)
MIN_EDGE_WEIGHT = 1e-6
"""Floor on edge weights: csgraph treats an explicit zero as 'no edge'."""


@dataclass(frozen=True)
class FibreReach:
    """Per village: fibre tree position and the trench to its parent.

    ``parent`` (n,) int, −1 where the edge joins the existing network;
    ``edge_length_m`` (n,) route length of that edge; ``edge_terrain_factor``
    (n,) mean cost multiplier along it; ``attach_xy`` (n, 2) the edge's other
    end (parent village or access point), for maps; ``reachable`` (n,) bool,
    the village has a path to the network.
    """

    parent: np.ndarray
    edge_length_m: np.ndarray
    edge_terrain_factor: np.ndarray
    attach_xy: np.ndarray
    reachable: np.ndarray


def access_points_xy(region: Region, spacing_m: float) -> np.ndarray:
    """Where new fibre can splice in: given access points and points along the fibre lines."""
    given = shapely.get_coordinates(region.fibre_nodes.geometry.to_numpy())
    lines = region.fibre.geometry.to_numpy()
    along = (
        shapely.get_coordinates(shapely.segmentize(lines, spacing_m)) if len(lines) else given[:0]
    )
    points = np.concatenate([given, along])
    return np.unique(points, axis=0) if len(points) else points.reshape(0, 2)


def slope_factor_grid(slope_deg: np.ndarray, settings: FibreEngineering) -> np.ndarray:
    """Trench cost multiplier per DEM cell from its slope class."""
    classes = np.digitize(slope_deg, settings.slope_breaks_deg)
    return np.asarray(settings.slope_factors, dtype=np.float32)[classes]


def cost_surface(region: Region, slope_deg: np.ndarray, settings: FibreEngineering) -> np.ndarray:
    """Cost multiplier per DEM cell: slope class × road (or aerial) factor along roads."""
    surface = slope_factor_grid(slope_deg, settings)
    roads = region.roads.geometry.to_numpy()
    roads = roads[~(shapely.is_missing(roads) | shapely.is_empty(roads))] if len(roads) else roads
    if len(roads):
        corridor = features.rasterize(
            shapely.buffer(roads, settings.road_width_m),
            out_shape=surface.shape,
            transform=region.terrain.transform,
            fill=0,
            default_value=1,
            dtype="uint8",
        ).astype(bool)
        along_road = settings.aerial_factor if settings.aerial_allowed else settings.road_factor
        surface[corridor] *= np.float32(along_road)
    return surface


def unreachable(n: int, village_xy: np.ndarray) -> FibreReach:
    """Fibre reaches no village (there is no existing network)."""
    return FibreReach(
        parent=np.full(n, -1, dtype=np.int64),
        edge_length_m=np.zeros(n),
        edge_terrain_factor=np.ones(n),
        attach_xy=village_xy.copy(),
        reachable=np.zeros(n, dtype=bool),
    )


def spur_reach(
    terrain: Terrain,
    surface: np.ndarray,
    village_xy: np.ndarray,
    access_xy: np.ndarray,
    settings: FibreEngineering,
) -> FibreReach:
    """Each village's own spur to its nearest access point."""
    distance_m, nearest = cKDTree(access_xy).query(village_xy)
    attach_xy = access_xy[nearest]
    factor = mean_along_segments(
        terrain, surface, village_xy, attach_xy, spacing_m=settings.sample_spacing_m
    )
    length_m = distance_m * settings.route_factor
    return FibreReach(
        parent=np.full(len(village_xy), -1, dtype=np.int64),
        edge_length_m=length_m,
        edge_terrain_factor=factor,
        attach_xy=attach_xy,
        reachable=length_m <= settings.max_edge_m,
    )


def candidate_edges(
    village_xy: np.ndarray, access_xy: np.ndarray, neighbours: int
) -> tuple[np.ndarray, np.ndarray]:
    """Undirected candidate edges (e, 2) over nodes [villages, access points], each once.

    Each node to its ``neighbours`` nearest nodes, and each village to its
    nearest access point.
    """
    n = len(village_xy)
    nodes_xy = np.concatenate([village_xy, access_xy])
    k = min(neighbours + 1, len(nodes_xy))
    _, nearest = cKDTree(nodes_xy).query(nodes_xy, k=k)
    nearest = nearest.reshape(len(nodes_xy), k)
    knn = np.column_stack([np.repeat(np.arange(len(nodes_xy)), k - 1), nearest[:, 1:].ravel()])
    _, nearest_access = cKDTree(access_xy).query(village_xy)
    spurs = np.column_stack([np.arange(n), n + nearest_access])
    edges = np.sort(np.concatenate([knn, spurs]), axis=1)
    edges = np.unique(edges, axis=0)
    both_access = (edges[:, 0] >= n) & (edges[:, 1] >= n)
    return edges[(edges[:, 0] != edges[:, 1]) & ~both_access], nodes_xy


def tree_reach(
    terrain: Terrain,
    surface: np.ndarray,
    village_xy: np.ndarray,
    access_xy: np.ndarray,
    settings: FibreEngineering,
) -> FibreReach:
    """Minimum spanning tree over villages with all access points contracted into one root."""
    n = len(village_xy)
    edges, nodes_xy = candidate_edges(village_xy, access_xy, settings.neighbours)
    start_xy, end_xy = nodes_xy[edges[:, 0]], nodes_xy[edges[:, 1]]
    length_m = np.hypot(*(end_xy - start_xy).T) * settings.route_factor
    keep = length_m <= settings.max_edge_m
    edges, length_m = edges[keep], length_m[keep]
    factor = mean_along_segments(
        terrain,
        surface,
        nodes_xy[edges[:, 0]],
        nodes_xy[edges[:, 1]],
        spacing_m=settings.sample_spacing_m,
    )
    weight = np.maximum(length_m * factor, MIN_EDGE_WEIGHT)

    # Contract the access points into root n; keep only the cheapest edge per pair.
    root = n
    u, v = edges[:, 0], np.minimum(edges[:, 1], root)
    order = np.lexsort((weight, v, u))
    u, v, weight, source = u[order], v[order], weight[order], order
    first = np.ones(len(u), dtype=bool)
    first[1:] = (u[1:] != u[:-1]) | (v[1:] != v[:-1])
    u, v, weight, source = u[first], v[first], weight[first], source[first]
    graph = sparse.csr_matrix((weight, (u, v)), shape=(n + 1, n + 1))
    tree = csgraph.minimum_spanning_tree(graph)
    reached, predecessor = csgraph.breadth_first_order(
        tree, root, directed=False, return_predecessors=True
    )

    reachable = np.zeros(n + 1, dtype=bool)
    reachable[reached] = True
    reachable = reachable[:n]
    parent_node = predecessor[:n]
    parent = np.where(parent_node == root, -1, parent_node).astype(np.int64)
    parent[~reachable] = -1

    # Each village's edge to its parent: look up the kept candidate edge (u < v).
    low = np.minimum(np.arange(n), parent_node)
    high = np.maximum(np.arange(n), parent_node)
    pair_key = u.astype(np.int64) * (n + 1) + v
    village_key = low.astype(np.int64) * (n + 1) + high
    sorter = np.argsort(pair_key)
    position = sorter[np.searchsorted(pair_key, village_key, sorter=sorter).clip(0, len(u) - 1)]
    edge = source[position]  # index into the (kept) candidate edges
    edge_length = np.where(reachable, length_m[edge], 0.0)
    edge_factor = np.where(reachable, factor[edge], 1.0)
    other_end = np.where(edges[edge, 0] == np.arange(n), edges[edge, 1], edges[edge, 0])
    attach_xy = np.where(reachable[:, None], nodes_xy[other_end], village_xy)
    return FibreReach(
        parent=parent,
        edge_length_m=edge_length,
        edge_terrain_factor=edge_factor,
        attach_xy=attach_xy,
        reachable=reachable,
    )


def fibre_reach(
    region: Region, village_xy: np.ndarray, slope_deg: np.ndarray, settings: FibreEngineering
) -> FibreReach:
    """Fibre structure for every village, by the scenario's topology."""
    access_xy = access_points_xy(region, settings.access_spacing_m)
    if len(access_xy) == 0:
        log.warning(
            "the region has no fibre lines or access points: fibre is infeasible everywhere"
        )
        return unreachable(len(village_xy), village_xy)
    surface = cost_surface(region, slope_deg, settings)
    build = tree_reach if settings.topology == "tree" else spur_reach
    return build(region.terrain, surface, village_xy, access_xy, settings)
