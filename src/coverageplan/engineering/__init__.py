"""Engineering: the physics of reach, computed once per region.

:func:`compute_reach` turns a Region into a :class:`Reach` of plain arrays:
the fibre tree, radio coverage and satellite beams. Economics and policy then
price it per scenario point without touching geodata again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

from coverageplan.engineering.fibre import FibreReach, access_points_xy, fibre_reach
from coverageplan.engineering.radio import RadioReach, radio_reach
from coverageplan.engineering.satellite import beam_of
from coverageplan.region.model import Region
from coverageplan.scenario import Engineering


@dataclass(frozen=True)
class Reach:
    """What each technology can reach, as arrays indexed by village position.

    ``village_xy`` (n, 2) metres; ``fibre`` and ``radio`` their structures;
    ``beam`` (n,) satellite beam per village and ``beam_count``.
    """

    village_xy: np.ndarray
    fibre: FibreReach
    radio: RadioReach
    beam: np.ndarray
    beam_count: int


def compute_reach(region: Region, engineering: Engineering) -> Reach:
    """Fibre spurs, radio coverage and satellite beams for every village of ``region``."""
    village_xy = shapely.get_coordinates(region.villages.geometry.to_numpy())
    slope_deg = region.terrain.slope_deg()
    elevation_m = region.terrain.sample(village_xy[:, 0], village_xy[:, 1])
    beam, beam_count = beam_of(village_xy, engineering.satellite.beam_size_m)
    return Reach(
        village_xy=village_xy,
        fibre=fibre_reach(region, village_xy, slope_deg, engineering.fibre),
        radio=radio_reach(
            region,
            village_xy,
            elevation_m,
            engineering.radio,
            fibre_points_xy=access_points_xy(region, engineering.fibre.access_spacing_m),
            route_factor=engineering.fibre.route_factor,
        ),
        beam=beam,
        beam_count=beam_count,
    )
