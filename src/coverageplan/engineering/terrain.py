"""Terrain sampling in batch: values of a DEM-aligned grid along many segments at once.

:func:`terrain_profiles` samples DEM profiles for many paths in one call, in
NTIA's padded pfl layout for :mod:`~coverageplan.engineering.itm`. DEM voids
are NaN in a :class:`~coverageplan.region.model.Terrain`; :func:`void_filled`
replaces them by the nearest valid cell before any profile is sampled.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from coverageplan.errors import InputError
from coverageplan.region.model import Terrain


def segment_samples(
    start_xy: np.ndarray, end_xy: np.ndarray, spacing_m: float
) -> tuple[np.ndarray, np.ndarray]:
    """Sample points along every segment at most ``spacing_m`` apart, ends included.

    Returns ``(xy, owner)``: the (s, 2) sample coordinates and, for each, the
    index of its segment. Segments are ragged (longer ones get more samples);
    no loop over segments.
    """
    start_xy = np.asarray(start_xy, dtype=float)
    end_xy = np.asarray(end_xy, dtype=float)
    length = np.hypot(*(end_xy - start_xy).T)
    counts = np.maximum(2, np.ceil(length / spacing_m).astype(np.int64) + 1)
    owner = np.repeat(np.arange(len(length)), counts)
    rank = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    fraction = rank / (counts[owner] - 1)
    xy = start_xy[owner] + fraction[:, None] * (end_xy - start_xy)[owner]
    return xy, owner


def mean_along_segments(
    terrain: Terrain,
    grid: np.ndarray,
    start_xy: np.ndarray,
    end_xy: np.ndarray,
    *,
    spacing_m: float,
    chunk_segments: int = 250_000,
) -> np.ndarray:
    """Mean of ``grid`` (aligned with ``terrain``) along each segment, bilinear samples.

    Segments are processed ``chunk_segments`` at a time so memory stays bounded.
    """
    means = np.empty(len(start_xy))
    for first in range(0, len(start_xy), chunk_segments):
        part = slice(first, first + chunk_segments)
        xy, owner = segment_samples(start_xy[part], end_xy[part], spacing_m)
        values = terrain.sample(xy[:, 0], xy[:, 1], grid)
        count = len(means[part])
        means[part] = np.bincount(owner, weights=values, minlength=count) / np.bincount(
            owner, minlength=count
        )
    return means


def void_filled(terrain: Terrain) -> np.ndarray:
    """The elevation grid with NaN (void) cells replaced by their nearest valid cell, float32.

    DEM readers already fill voids on load (``region.io.fill_voids``), but
    reprojection leaves NaN outside the source grid; profiles never see NaN.
    """
    elevation = np.asarray(terrain.elevation_m, dtype=np.float32)
    voids = np.isnan(elevation)
    if not voids.any():
        return elevation
    if voids.all():
        raise InputError("the DEM holds no valid elevation: cannot sample terrain profiles")
    nearest = ndimage.distance_transform_edt(voids, return_distances=False, return_indices=True)
    return elevation[tuple(nearest)]


def outside_dem(terrain: Terrain, xy: np.ndarray) -> np.ndarray:
    """Which points (k, 2) lie outside the DEM's outer edges."""
    xmin, ymin, xmax, ymax = terrain.bounds
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    return (xy[:, 0] < xmin) | (xy[:, 0] > xmax) | (xy[:, 1] < ymin) | (xy[:, 1] > ymax)


def terrain_profiles(
    terrain: Terrain,
    elevation_m: np.ndarray,
    start_xy: np.ndarray,
    end_xy: np.ndarray,
    *,
    spacing_m: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """DEM profiles from ``start_xy`` to ``end_xy`` (b, 2) in NTIA's padded pfl layout.

    ``elevation_m`` is the grid to sample (aligned with ``terrain``, no NaN:
    see :func:`void_filled`). Each path gets ``intervals = ceil(length /
    spacing_m)`` (at least 2) equal steps, so both ends are sampled exactly.
    Returns ``(z_m (b, max_points) float32, intervals (b,) int, spacing_m (b,))``;
    row ``i`` holds ``intervals[i] + 1`` bilinear samples, the rest repeats its
    last point. One vectorized call; chunk the pairs to bound memory (``b ×
    max_points`` samples). Raises ``InputError`` when an end lies outside the DEM.
    """
    start_xy = np.asarray(start_xy, dtype=float).reshape(-1, 2)
    end_xy = np.asarray(end_xy, dtype=float).reshape(-1, 2)
    for name, points in (("start", start_xy), ("end", end_xy)):
        outside = outside_dem(terrain, points)
        if outside.any():
            row = int(np.flatnonzero(outside)[0])
            raise InputError(
                f"terrain profile {row}: its {name} ({points[row, 0]:.0f}, {points[row, 1]:.0f}) "
                f"lies outside the DEM {tuple(round(b) for b in terrain.bounds)}; extend the DEM"
            )
    delta = end_xy - start_xy
    length_m = np.hypot(delta[:, 0], delta[:, 1])
    intervals = np.maximum(2, np.ceil(length_m / spacing_m).astype(np.int64))
    width = int(intervals.max(initial=2)) + 1
    fraction = np.minimum(np.arange(width)[None, :] / intervals[:, None], 1.0)
    x = start_xy[:, 0:1] + fraction * delta[:, 0:1]
    y = start_xy[:, 1:2] + fraction * delta[:, 1:2]
    z = bilinear(terrain, elevation_m, x, y)
    return z, intervals, np.maximum(length_m, 1e-3) / intervals


def bilinear(terrain: Terrain, grid: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinear float32 values of ``grid`` at points (any shape); edge values beyond the edges."""
    row, col = terrain.fractional_index(x, y)
    rows, cols = grid.shape
    row = np.clip(row, 0.0, rows - 1.0)
    col = np.clip(col, 0.0, cols - 1.0)
    r0 = np.minimum(row.astype(np.int64), rows - 2) if rows > 1 else np.zeros(row.shape, np.int64)
    c0 = np.minimum(col.astype(np.int64), cols - 2) if cols > 1 else np.zeros(col.shape, np.int64)
    fr = (row - r0).astype(np.float32)
    fc = (col - c0).astype(np.float32)
    flat = np.asarray(grid, dtype=np.float32).ravel()
    base = r0 * cols + c0
    down = cols if rows > 1 else 0
    right = 1 if cols > 1 else 0
    top = flat[base] * (1 - fc) + flat[base + right] * fc
    bottom = flat[base + down] * (1 - fc) + flat[base + down + right] * fc
    return top * (1 - fr) + bottom * fr
