"""Backhaul options per cellular site: a microwave hop with line of sight, fibre, or satellite.

Engineering decides what is feasible; :mod:`coverageplan.economics` prices
each option with the scenario's costs and picks the cheapest (so sweeps over
costs reuse one Reach).

- **Microwave**: a hop from the site to one of its ``HOP_TARGETS`` nearest
  fibre points or fibre-fed existing sites within ``microwave_max_hop_m``, when
  the DEM profile between the antenna tips keeps ``fresnel_clearance`` of the
  first Fresnel zone clear over an earth of effective radius ``k_factor`` ×
  6371 km: at distance d1 from one end and d2 from the other, terrain +
  bulge d1·d2/(2kR) + clearance·√(λ·d1·d2/(d1+d2)) must stay below the line
  of sight. The shortest clear hop is kept.
- **Fibre**: the straight distance to the nearest fibre point × the route
  factor, when within ``fibre_backhaul_max_m``.
- **Satellite**: always feasible, with ``satellite_backhaul_mbps`` capacity.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from coverageplan.engineering.terrain import bilinear, terrain_profiles
from coverageplan.region.model import Terrain
from coverageplan.scenario import RadioEngineering

EARTH_RADIUS_M = 6_371_000.0
SPEED_OF_LIGHT_M_PER_S = 299_792_458.0
HOP_TARGETS = 8
HOP_CHUNK = 20_000

BACKHAUL_MICROWAVE, BACKHAUL_FIBRE, BACKHAUL_SATELLITE = 0, 1, 2
BACKHAUL_NAMES = ("microwave", "fibre", "satellite")


def line_of_sight(
    terrain: Terrain,
    elevation_m: np.ndarray,
    a_xy: np.ndarray,
    a_height_m: np.ndarray,
    b_xy: np.ndarray,
    b_height_m: np.ndarray,
    *,
    freq_ghz: float,
    clearance: float,
    k_factor: float,
    spacing_m: float,
) -> np.ndarray:
    """Whether each hop a → b (k,) clears the terrain by ``clearance`` first Fresnel zones.

    Heights are antenna heights above ground; ground elevations come from the
    DEM. Vectorized over hops (one padded profile batch per call).
    """
    if len(a_xy) == 0:
        return np.zeros(0, dtype=bool)
    z, intervals, spacing = terrain_profiles(terrain, elevation_m, a_xy, b_xy, spacing_m=spacing_m)
    z = z.astype(float)
    total = (intervals * spacing)[:, None]
    d1 = np.arange(z.shape[1])[None, :] * spacing[:, None]
    d1 = np.minimum(d1, total)
    d2 = total - d1
    tip_a = bilinear(terrain, elevation_m, a_xy[:, 0], a_xy[:, 1]) + a_height_m
    tip_b = bilinear(terrain, elevation_m, b_xy[:, 0], b_xy[:, 1]) + b_height_m
    sight = tip_a[:, None] + (tip_b - tip_a)[:, None] * d1 / total
    bulge = d1 * d2 / (2.0 * k_factor * EARTH_RADIUS_M)
    wavelength = SPEED_OF_LIGHT_M_PER_S / (freq_ghz * 1e9)
    fresnel = np.sqrt(wavelength * d1 * d2 / total)
    interior = (d1 > 0) & (d2 > 0)
    blocked = interior & (z + bulge + clearance * fresnel > sight)
    return ~blocked.any(axis=1)


def backhaul_options(
    terrain: Terrain,
    elevation_m: np.ndarray,
    site_xy: np.ndarray,
    site_height_m: np.ndarray,
    fibre_xy: np.ndarray,
    fed_xy: np.ndarray,
    fed_height_m: np.ndarray,
    radio: RadioEngineering,
    *,
    route_factor: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Per site (m,): shortest clear microwave hop (m) and fibre route (m); inf where infeasible.

    Hop targets are the fibre points (antennas at ``fibre_point_mast_m``) and
    the fibre-fed existing sites ``fed_xy`` at their own heights.
    """
    m = len(site_xy)
    hop_m = np.full(m, np.inf)
    fibre_route_m = np.full(m, np.inf)
    if m == 0:
        return hop_m, fibre_route_m
    if len(fibre_xy):
        distance, _ = cKDTree(fibre_xy).query(site_xy)
        route = distance * route_factor
        fibre_route_m = np.where(route <= radio.fibre_backhaul_max_m, route, np.inf)
    target_xy = np.concatenate([fibre_xy, fed_xy]).reshape(-1, 2)
    target_h = np.concatenate([np.full(len(fibre_xy), radio.fibre_point_mast_m), fed_height_m])
    if len(target_xy) == 0:
        return hop_m, fibre_route_m
    k = min(HOP_TARGETS, len(target_xy))
    distance, index = cKDTree(target_xy).query(
        site_xy, k=k, distance_upper_bound=radio.microwave_max_hop_m
    )
    distance, index = distance.reshape(m, k), index.reshape(m, k)
    site, slot = np.nonzero(np.isfinite(distance))
    target = index[site, slot]
    length = distance[site, slot]
    spacing = max(30.0, min(terrain.cell_size_m))
    clear = np.zeros(len(site), dtype=bool)
    for start in range(0, len(site), HOP_CHUNK):  # chunks bound the profile memory
        part = slice(start, start + HOP_CHUNK)
        clear[part] = line_of_sight(
            terrain,
            elevation_m,
            site_xy[site[part]],
            site_height_m[site[part]],
            target_xy[target[part]],
            target_h[target[part]],
            freq_ghz=radio.microwave_freq_ghz,
            clearance=radio.fresnel_clearance,
            k_factor=radio.k_factor,
            spacing_m=spacing,
        )
    np.minimum.at(hop_m, site[clear], length[clear])
    return hop_m, fibre_route_m
