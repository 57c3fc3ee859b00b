"""Satellite reach: square beam cells tiling the region, one beam per village."""

from __future__ import annotations

import numpy as np


def beam_of(village_xy: np.ndarray, beam_size_m: float) -> tuple[np.ndarray, int]:
    """Beam index per village (0..b-1, only beams holding villages) and the beam count."""
    if len(village_xy) == 0:
        return np.empty(0, dtype=np.int64), 0
    cells = np.floor(village_xy / beam_size_m).astype(np.int64)
    _, beam = np.unique(cells, axis=0, return_inverse=True)
    beam = beam.ravel().astype(np.int64)
    return beam, int(beam.max()) + 1
