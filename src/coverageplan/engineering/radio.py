"""Cellular reach: a link budget with the Okumura-Hata path-loss model (terrain-blind).

Hata's empirical fit (Hata 1980, IEEE Trans. Veh. Technol. 29(3):317-325),
valid for 150-1500 MHz, base station 30-200 m, mobile 1-10 m, 1-20 km; used
outside that distance range as an extrapolation. A village is covered by a site
when the path loss to it is at most the link budget's maximum allowed loss.

Sites: existing 4G/5G towers give ``existing_cover``; existing 2G/3G towers are
upgrade sites; new candidates sit at the highest village still uncovered in each
square of ``candidate_spacing_m``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.spatial import cKDTree

from coverageplan.region.model import Region
from coverageplan.scenario import RadioEngineering
from coverageplan.spatial import thin_on_grid

SITE_UPGRADE, SITE_NEW = 0, 1
SITE_KIND_NAMES = ("upgrade", "new")
MIN_DISTANCE_M = 100.0


def hata_path_loss_db(
    distance_m: np.ndarray,
    freq_mhz: float,
    tx_height_m: np.ndarray | float,
    rx_height_m: float,
    environment: str = "open",
) -> np.ndarray:
    """Median basic transmission loss in dB (Okumura-Hata), vectorized over distance and height."""
    log_f = np.log10(freq_mhz)
    log_hb = np.log10(tx_height_m)
    distance_km = np.maximum(np.asarray(distance_m, dtype=float), MIN_DISTANCE_M) / 1_000.0
    mobile_correction = (1.1 * log_f - 0.7) * rx_height_m - (1.56 * log_f - 0.8)
    urban = (
        69.55
        + 26.16 * log_f
        - 13.82 * log_hb
        - mobile_correction
        + (44.9 - 6.55 * log_hb) * np.log10(distance_km)
    )
    if environment == "urban":
        return urban
    if environment == "suburban":
        return urban - 2.0 * np.log10(freq_mhz / 28.0) ** 2 - 5.4
    return urban - 4.78 * log_f**2 + 18.33 * log_f - 40.94


def hata_range_m(
    max_loss_db: float,
    freq_mhz: float,
    tx_height_m: np.ndarray,
    rx_height_m: float,
    environment: str,
) -> np.ndarray:
    """Distance at which the Hata loss reaches ``max_loss_db`` (the inverse in log distance)."""
    at_1km = hata_path_loss_db(
        np.full(np.shape(tx_height_m), 1_000.0), freq_mhz, tx_height_m, rx_height_m, environment
    )
    slope_db_per_decade = 44.9 - 6.55 * np.log10(tx_height_m)
    return 1_000.0 * 10.0 ** ((max_loss_db - at_1km) / slope_db_per_decade)


def max_allowed_loss_db(radio: RadioEngineering) -> float:
    """Largest path loss at which a handset still gets ``min_rsrp_dbm`` with the fade margin.

    RSRP is power per resource element: total power spread over
    12 subcarriers × ``resource_blocks``.
    """
    per_element_dbm = radio.tx_power_dbm - 10.0 * np.log10(12 * radio.resource_blocks)
    eirp_per_element = per_element_dbm + radio.tx_antenna_gain_dbi - radio.tx_losses_db
    return float(
        eirp_per_element
        + radio.rx_antenna_gain_dbi
        - radio.rx_losses_db
        - radio.fade_margin_db
        - radio.min_rsrp_dbm
    )


def coverage_matrix(
    village_xy: np.ndarray, site_xy: np.ndarray, site_height_m: np.ndarray, radio: RadioEngineering
) -> sparse.csr_matrix:
    """Sparse bool (n villages × m sites): True where the site's loss is within the budget."""
    n, m = len(village_xy), len(site_xy)
    if n == 0 or m == 0:
        return sparse.csr_matrix((n, m), dtype=bool)
    max_loss = max_allowed_loss_db(radio)
    reach_m = hata_range_m(
        max_loss, radio.freq_mhz, site_height_m, radio.rx_height_m, radio.environment
    )
    pairs = cKDTree(site_xy).sparse_distance_matrix(
        cKDTree(village_xy), float(reach_m.max()), output_type="ndarray"
    )
    site, village, distance = pairs["i"], pairs["j"], pairs["v"]
    loss = hata_path_loss_db(
        distance, radio.freq_mhz, site_height_m[site], radio.rx_height_m, radio.environment
    )
    keep = loss <= max_loss
    data = np.ones(int(keep.sum()), dtype=bool)
    return sparse.csr_matrix((data, (village[keep], site[keep])), shape=(n, m))


@dataclass(frozen=True)
class RadioReach:
    """Cellular structure: candidate sites and which villages each covers.

    ``site_xy`` (m, 2); ``site_kind`` (m,) int (SITE_UPGRADE / SITE_NEW);
    ``site_tower`` (m,) index into the towers layer, −1 for new sites;
    ``site_height_m`` (m,); ``cover`` sparse bool (n, m); ``existing_cover``
    (n,) bool, covered by an existing 4G/5G tower; ``existing_sites_cover``
    sparse bool (n, e) which existing 4G/5G towers cover each village.
    """

    site_xy: np.ndarray
    site_kind: np.ndarray
    site_tower: np.ndarray
    site_height_m: np.ndarray
    cover: sparse.csr_matrix
    existing_cover: np.ndarray
    existing_sites_cover: sparse.csr_matrix


def radio_reach(
    region: Region, village_xy: np.ndarray, village_elevation_m: np.ndarray, radio: RadioEngineering
) -> RadioReach:
    """Existing coverage, upgrade sites and new candidate sites with their coverage."""
    towers = region.towers
    tower_xy = np.asarray(towers.geometry.get_coordinates().to_numpy(), dtype=float).reshape(-1, 2)
    tech = towers["tech"].to_numpy().astype(str) if len(towers) else np.empty(0, dtype=str)
    height_m = towers["height_m"].to_numpy(dtype=float) if len(towers) else np.empty(0)
    modern = np.isin(tech, ("4g", "5g"))
    existing = coverage_matrix(village_xy, tower_xy[modern], height_m[modern], radio)
    existing_cover = np.asarray(existing.sum(axis=1)).ravel() > 0

    upgrade = np.flatnonzero(~modern)
    upgrade_cover = coverage_matrix(village_xy, tower_xy[upgrade], height_m[upgrade], radio)
    still_uncovered = ~existing_cover & ~(np.asarray(upgrade_cover.sum(axis=1)).ravel() > 0)
    uncovered = np.flatnonzero(~existing_cover)
    chosen = uncovered[
        thin_on_grid(
            village_xy[uncovered], village_elevation_m[uncovered], radio.candidate_spacing_m
        )
    ]
    # Squares holding villages no upgrade reaches first, then the highest.
    order = np.lexsort((-village_elevation_m[chosen], ~still_uncovered[chosen]))
    chosen = chosen[order][: radio.max_candidates]
    new_xy = village_xy[chosen]
    new_height = np.full(len(chosen), radio.new_site_height_m)
    new_cover = coverage_matrix(village_xy, new_xy, new_height, radio)
    return RadioReach(
        site_xy=np.concatenate([tower_xy[upgrade], new_xy]),
        site_kind=np.concatenate(
            [np.full(len(upgrade), SITE_UPGRADE), np.full(len(chosen), SITE_NEW)]
        ).astype(np.int8),
        site_tower=np.concatenate([upgrade, np.full(len(chosen), -1)]).astype(np.int64),
        site_height_m=np.concatenate([height_m[upgrade], new_height]),
        cover=sparse.hstack([upgrade_cover, new_cover], format="csr").astype(bool),
        existing_cover=existing_cover,
        existing_sites_cover=existing,
    )
