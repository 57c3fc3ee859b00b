"""Terrain sampling in batch: values of a DEM-aligned grid along many segments at once."""

from __future__ import annotations

import numpy as np

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
