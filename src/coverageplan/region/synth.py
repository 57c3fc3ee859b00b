"""Synthetic regions: plausible rural terrain, villages and networks, deterministic for a seed.

The generator scales to a country (700,000 villages) because every step works
on whole arrays:

* **terrain**: spectral (FFT) fractal noise with a power-law amplitude
  spectrum, plus ridged noise for mountain crests, raised to a power so that
  valley floors and plains flatten out; a regional tilt lifts the west;
* **villages**: drawn cell by cell with probability ∝ flatness × lowness ×
  a clustering field, so they gather in valleys and plains; populations are
  lognormal;
* **towns**: the most habitable spots, thinned on a coarse grid; the **fibre
  backbone** is the minimum spanning tree joining them, with access points
  every ``ACCESS_POINT_SPACING_M`` along it;
* **towers**: around towns, newer technology nearer the town;
* **area classes**: from remoteness (distance to a town), terrain and the
  western frontier (see :func:`classify_villages`).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from affine import Affine
from pyproj import CRS
from scipy import sparse
from scipy.sparse import csgraph
from scipy.spatial import Delaunay, cKDTree

from coverageplan.region.model import Region, Terrain, empty_layer
from coverageplan.spatial import thin_on_grid

VILLAGE_DENSITY_PER_KM2 = 0.5
"""Villages per km² of region (rural China averages ~0.06-0.6 by province)."""
TARGET_CELL_M = 100.0
"""DEM resolution aimed at (SRTM3 is ~90 m); coarsened so the grid stays ≤ MAX_GRID."""
MAX_GRID = 4096
MIN_GRID = 128
RELIEF_M = 2_400.0
"""Elevation range of the generated terrain, in metres."""
ACCESS_POINT_SPACING_M = 10_000.0
VILLAGES_PER_TOWN = 350
VILLAGES_PER_TOWER = 20
SYNTH_CRS = CRS.from_epsg(32648)  # UTM 48N (south-west China); any metric CRS would do
ORIGIN_M = (300_000.0, 3_000_000.0)


def fractal_noise(
    rng: np.random.Generator, size: int, cell_m: float, *, exponent: float, cutoff_m: float
) -> np.ndarray:
    """Gaussian noise with amplitude ∝ f^-exponent above 1/cutoff_m, scaled to [0, 1]."""
    white = rng.standard_normal((size, size), dtype=np.float32)
    spectrum = np.fft.rfft2(white)
    fy = np.fft.fftfreq(size, d=cell_m)[:, None]
    fx = np.fft.rfftfreq(size, d=cell_m)[None, :]
    frequency = np.sqrt(fx**2 + fy**2, dtype=np.float64)
    np.maximum(frequency, 1.0 / cutoff_m, out=frequency)
    spectrum *= (frequency**-exponent).astype(np.float32)
    field = np.fft.irfft2(spectrum, s=(size, size)).astype(np.float32)
    field -= field.min()
    field /= max(float(field.max()), 1e-12)
    return field


def make_terrain(rng: np.random.Generator, side_m: float) -> Terrain:
    """Fractal terrain with ridges, flat valley floors and a west-to-east tilt."""
    size = int(np.clip(round(side_m / TARGET_CELL_M), MIN_GRID, MAX_GRID))
    cell_m = side_m / size
    base = fractal_noise(rng, size, cell_m, exponent=1.8, cutoff_m=150_000.0)
    ridges = 1.0 - np.abs(
        2.0 * fractal_noise(rng, size, cell_m, exponent=1.5, cutoff_m=40_000.0) - 1.0
    )
    tilt = np.linspace(1.0, 0.55, size, dtype=np.float32)[None, :]  # higher in the west
    height = (0.7 * base + 0.3 * ridges * base) * tilt
    height -= height.min()
    height /= max(float(height.max()), 1e-12)
    elevation = (RELIEF_M * height**1.7 + 200.0).astype(np.float32)
    transform = Affine(cell_m, 0.0, ORIGIN_M[0], 0.0, -cell_m, ORIGIN_M[1] + side_m)
    return Terrain(elevation_m=elevation, transform=transform, crs=SYNTH_CRS)


def habitability(terrain: Terrain, rng: np.random.Generator) -> np.ndarray:
    """Relative settlement intensity per DEM cell: flat, low and clustered."""
    slope = terrain.slope_deg()
    elevation = terrain.elevation_m
    lowness = 1.0 - (elevation - elevation.min()) / max(float(np.ptp(elevation)), 1e-9)
    cell_m = terrain.cell_size_m[0]
    clusters = fractal_noise(rng, elevation.shape[0], cell_m, exponent=1.2, cutoff_m=8_000.0)
    return np.exp(-slope / 5.0) * lowness**2 * np.exp(6.0 * clusters)


def sample_cells(
    rng: np.random.Generator, weight: np.ndarray, count: int, terrain: Terrain
) -> np.ndarray:
    """Draw ``count`` points, cells chosen ∝ ``weight``, jittered uniformly inside each cell."""
    flat = weight.ravel().astype(np.float64)
    cells = rng.choice(flat.size, size=count, p=flat / flat.sum())
    rows, cols = np.divmod(cells, weight.shape[1])
    jitter = rng.random((count, 2))
    x, y = terrain.transform @ (cols + jitter[:, 0], rows + jitter[:, 1])  # type: ignore[operator]
    return np.column_stack([x, y])


def spanning_tree_edges(xy: np.ndarray) -> np.ndarray:
    """(e, 2) index pairs of the Euclidean minimum spanning tree of points."""
    count = len(xy)
    if count < 2:
        return np.empty((0, 2), dtype=np.int64)
    if count < 4:
        pairs = np.array(np.triu_indices(count, 1)).T
    else:
        triangles = Delaunay(xy).simplices
        pairs = np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [0, 2]]])
        pairs = np.unique(np.sort(pairs, axis=1), axis=0)
    length = np.hypot(*(xy[pairs[:, 0]] - xy[pairs[:, 1]]).T)
    graph = sparse.coo_matrix((length, (pairs[:, 0], pairs[:, 1])), shape=(count, count))
    tree = csgraph.minimum_spanning_tree(graph.tocsr()).tocoo()
    return np.column_stack([tree.row, tree.col]).astype(np.int64)


def points_along(lines: np.ndarray, spacing_m: float) -> np.ndarray:
    """Points every ``spacing_m`` along each line (interior points only)."""
    if len(lines) == 0:
        return np.empty(0, dtype=object)
    counts = np.floor(shapely.length(lines) / spacing_m).astype(np.int64)
    counts = np.where(counts > 0, counts, 0)
    owner = np.repeat(np.arange(len(lines)), counts)
    rank = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts) + 0.5
    fraction = rank / np.repeat(counts, counts)
    return shapely.line_interpolate_point(lines[owner], fraction, normalized=True)


def classify_villages(
    x_m: np.ndarray,
    town_distance_m: np.ndarray,
    slope_deg: np.ndarray,
    elevation_m: np.ndarray,
    x_range_m: tuple[float, float],
) -> np.ndarray:
    """Area class per village from remoteness, terrain and the western frontier.

    In order of precedence: ``border`` (westmost 8 % of the region),
    ``developed`` (within 6 km of a town on gentle ground), ``pastoral``
    (high plateaus: top quarter of elevation, slope < 8°), ``remote`` (over
    18 km from a town, or slope ≥ 15°), then ``western``/``central`` by side.
    """
    x_min, x_max = x_range_m
    east = (x_m - x_min) / max(x_max - x_min, 1.0)
    high = elevation_m >= np.quantile(elevation_m, 0.75)
    conditions = [
        east < 0.08,
        (town_distance_m < 6_000) & (slope_deg < 10),
        high & (slope_deg < 8),
        (town_distance_m > 18_000) | (slope_deg >= 15),
        east < 0.5,
    ]
    choices = ["border", "developed", "pastoral", "remote", "western"]
    return np.select(conditions, choices, default="central")


def synthesize(n_villages: int, seed: int = 0) -> Region:
    """Generate a synthetic region of ``n_villages`` villages, deterministic for ``seed``."""
    if n_villages < 1:
        raise ValueError("n_villages must be at least 1")
    rng = np.random.default_rng(seed)
    side_m = float(np.sqrt(n_villages / VILLAGE_DENSITY_PER_KM2) * 1_000.0)
    side_m = max(side_m, 10_000.0)
    terrain = make_terrain(rng, side_m)
    weight = habitability(terrain, rng)

    # Towns: the most habitable cells, at most one per coarse grid square.
    n_towns = max(3, round(n_villages / VILLAGES_PER_TOWN))
    candidates = sample_cells(rng, weight**2, 30 * n_towns, terrain)
    score = terrain.sample(candidates[:, 0], candidates[:, 1], weight)
    kept = thin_on_grid(candidates, score, side_m / np.sqrt(n_towns) * 0.7)
    town_xy = candidates[kept[np.argsort(-score[kept])][:n_towns]]
    town_population = np.round(rng.lognormal(np.log(15_000), 0.7, len(town_xy))).astype(np.int64)

    # Backbone: the minimum spanning tree over towns; access points along it.
    edges = spanning_tree_edges(town_xy)
    backbone = shapely.linestrings(np.stack([town_xy[edges[:, 0]], town_xy[edges[:, 1]]], axis=1))
    access_points = points_along(backbone, ACCESS_POINT_SPACING_M)
    town_points = shapely.points(town_xy)
    nodes = np.concatenate([town_points, access_points])
    n_access = len(access_points)
    fibre_nodes = gpd.GeoDataFrame(
        {
            "node_id": [f"N{i:06d}" for i in range(len(nodes))],
            "kind": ["town"] * len(town_xy) + ["access_point"] * n_access,
            "population": np.concatenate([town_population, np.zeros(n_access, dtype=np.int64)]),
        },
        geometry=nodes,
        crs=SYNTH_CRS,
    )
    fibre = gpd.GeoDataFrame(
        {"route_id": [f"F{i:05d}" for i in range(len(backbone))], "kind": "backbone"},
        geometry=backbone,
        crs=SYNTH_CRS,
    )

    # Villages: clustered in valleys and plains, lognormal populations.
    village_xy = sample_cells(rng, weight, n_villages, terrain)
    population = np.maximum(20, np.round(rng.lognormal(np.log(450), 0.8, n_villages))).astype(
        np.int64
    )
    household_size = rng.uniform(3.0, 3.9, n_villages)
    households = np.maximum(1, np.round(population / household_size)).astype(np.int64)
    town_distance_m, _ = cKDTree(town_xy).query(village_xy)
    slope = terrain.sample(village_xy[:, 0], village_xy[:, 1], terrain.slope_deg())
    elevation = terrain.sample(village_xy[:, 0], village_xy[:, 1])
    xmin, _, xmax, _ = terrain.bounds
    region_class = classify_villages(
        village_xy[:, 0], town_distance_m, slope, elevation, (xmin, xmax)
    )
    income = rng.lognormal(np.log(260.0), 0.35, n_villages) * np.exp(-town_distance_m / 80_000.0)
    dispersion = np.clip(slope / 30.0 + rng.normal(0.0, 0.1, n_villages), 0.0, 1.0)
    priority = np.where(income <= np.quantile(income, 0.15), 2.0, 1.0)
    villages = gpd.GeoDataFrame(
        {
            "village_id": np.char.add("V", np.char.zfill(np.arange(n_villages).astype(str), 7)),
            "population": population,
            "households": households,
            "region_class": region_class,
            "income": np.round(income, 1),
            "dispersion": np.round(dispersion, 3),
            "priority": priority,
        },
        geometry=shapely.points(village_xy),
        crs=SYNTH_CRS,
    )

    # Towers: scattered around towns, 4G most likely close in.
    n_towers = max(3, round(n_villages / VILLAGES_PER_TOWER))
    home = rng.choice(len(town_xy), size=n_towers, p=town_population / town_population.sum())
    distance = rng.exponential(9_000.0, n_towers)
    angle = rng.uniform(0.0, 2.0 * np.pi, n_towers)
    offset = np.column_stack([np.cos(angle), np.sin(angle)]) * distance[:, None]
    xmin, ymin, xmax, ymax = terrain.bounds
    low, high = np.array([xmin, ymin]), np.array([xmax, ymax])
    tower_xy = town_xy[home] + offset
    outside = (tower_xy < low) | (tower_xy > high)
    tower_xy = np.where(outside, town_xy[home] - offset, tower_xy)  # mirror back inside
    tower_xy = np.clip(tower_xy, low, high)
    p_4g = 0.75 * np.exp(-distance / 7_000.0)
    draw = rng.random(n_towers)
    tech = np.where(draw < p_4g, "4g", np.where(draw < p_4g + 0.5 * (1 - p_4g), "3g", "2g"))
    towers = gpd.GeoDataFrame(
        {
            "tower_id": [f"T{i:06d}" for i in range(n_towers)],
            "tech": tech,
            "height_m": np.round(rng.uniform(20.0, 45.0, n_towers), 1),
        },
        geometry=shapely.points(tower_xy),
        crs=SYNTH_CRS,
    )
    return Region(
        villages=villages,
        terrain=terrain,
        fibre=fibre,
        fibre_nodes=fibre_nodes,
        towers=towers,
        roads=empty_layer("LineString", SYNTH_CRS),
    )
