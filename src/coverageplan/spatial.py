"""Small vectorized helpers on coordinate arrays, shared by the stages."""

from __future__ import annotations

import numpy as np


def thin_on_grid(xy: np.ndarray, score: np.ndarray, spacing_m: float) -> np.ndarray:
    """Indices of the best-scoring point in each square of side ``spacing_m``.

    Keeps points at least roughly ``spacing_m`` apart without any pairwise
    search: points are binned on a grid and each bin keeps its maximum.
    """
    if len(xy) == 0:
        return np.empty(0, dtype=np.int64)
    keys = np.floor(np.asarray(xy) / spacing_m).astype(np.int64)
    order = np.lexsort((-np.asarray(score), keys[:, 1], keys[:, 0]))
    sorted_keys = keys[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = np.any(sorted_keys[1:] != sorted_keys[:-1], axis=1)
    return order[first]
