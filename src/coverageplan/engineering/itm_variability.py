"""ITM variability: from the reference attenuation to a loss quantile (time, location, situation).

After G. A. Hufford, "The ITS Irregular Terrain Model, version 1.2.2:
the Algorithm" (NTIA/ITS, 1995): the climate curves for the median and the
time spread, the location spread from the terrain irregularity, the situation
spread, and how the mode of variability (``mdvar``) combines them. All inputs
are arrays over a batch of paths.
"""

from __future__ import annotations

import numpy as np

WARN_EXTREME_VARIABILITIES = 0x2000

# Climate curve parameters (Hufford 1995), one column per radio climate 1..7:
# equatorial, continental subtropical, maritime subtropical, desert,
# continental temperate, maritime temperate over land, maritime temperate over sea.
_MEDIAN = np.array(
    [
        [-9.67, -0.62, 1.26, -9.21, -0.62, -0.39, 3.15],
        [12.7, 9.19, 15.5, 9.05, 9.19, 2.86, 857.9],
        [144.9e3, 228.9e3, 262.6e3, 84.1e3, 228.9e3, 141.7e3, 2222.0e3],
        [190.3e3, 205.2e3, 185.2e3, 101.1e3, 205.2e3, 315.9e3, 164.8e3],
        [133.8e3, 143.6e3, 99.8e3, 98.6e3, 143.6e3, 167.4e3, 116.3e3],
    ]
)
_SIGMA_MINUS = np.array(
    [
        [2.13, 2.66, 6.11, 1.98, 2.68, 6.86, 8.51],
        [159.5, 7.67, 6.65, 13.11, 7.16, 10.38, 169.8],
        [762.2e3, 100.4e3, 138.2e3, 139.1e3, 93.7e3, 187.8e3, 609.8e3],
        [123.6e3, 172.5e3, 242.2e3, 132.7e3, 186.8e3, 169.6e3, 119.9e3],
        [94.5e3, 136.4e3, 178.6e3, 193.5e3, 133.5e3, 108.9e3, 106.6e3],
    ]
)
_SIGMA_PLUS = np.array(
    [
        [2.11, 6.87, 10.08, 3.68, 4.75, 8.58, 8.43],
        [102.3, 15.53, 9.60, 159.3, 8.12, 13.97, 8.19],
        [636.9e3, 138.7e3, 165.3e3, 464.4e3, 93.2e3, 216.0e3, 136.2e3],
        [134.8e3, 143.7e3, 225.7e3, 93.1e3, 135.9e3, 152.0e3, 188.5e3],
        [95.6e3, 98.6e3, 129.7e3, 94.2e3, 113.4e3, 122.7e3, 122.9e3],
    ]
)
_DUCTING_RATIO = np.array([1.224, 0.801, 1.380, 1.000, 1.224, 1.518, 1.518])
_DUCTING_Z = np.array([1.282, 2.161, 1.282, 20.0, 1.282, 1.282, 1.282])
# Frequency factors g(f) for sigma_T- and sigma_T+ (three coefficients each).
_FREQ_MINUS = np.array(
    [[1, 1, 1, 1, 0.92, 1, 1], [0, 0, 0, 0, 0.25, 0, 0], [0, 0, 0, 0, 1.77, 0, 0]]
)
_FREQ_PLUS = np.array(
    [[1, 0.93, 1, 0.93, 0.93, 1, 1], [0, 0.31, 0, 0.19, 0.31, 0, 0], [0, 2.00, 0, 1.79, 2.00, 0, 0]]
)
_SITUATION_RT, _SITUATION_RL = 7.8, 24.0


def standard_normal_quantile(fraction: np.ndarray) -> np.ndarray:
    """Deviate z with upper-tail probability Q(z) = ``fraction`` (Abramowitz-Stegun 26.2.23)."""
    x = 0.5 - np.asarray(fraction, dtype=float)
    t = np.sqrt(-2.0 * np.log(np.maximum(0.5 - np.abs(x), 1e-6)))
    z = t - ((0.010328 * t + 0.802853) * t + 2.515516698) / (
        ((0.001308 * t + 0.189269) * t + 1.432788) * t + 1.0
    )
    return np.where(x < 0, -z, z)


def _climate_curve(table: np.ndarray, column: np.ndarray, de_m: np.ndarray) -> np.ndarray:
    """Algorithm eq. (5.5)-(5.7): one climate curve evaluated at effective distance ``de_m``."""
    c1, c2, x1, x2, x3 = table[:, column]
    ratio = (de_m / x1) ** 2
    return (c1 + c2 / (1.0 + ((de_m - x2) / x3) ** 2)) * ratio / (1.0 + ratio)


def variability_db(
    a_ref_db: np.ndarray,
    *,
    time_pct: np.ndarray,
    location_pct: np.ndarray,
    situation_pct: np.ndarray,
    h_e_m: np.ndarray,
    delta_h_m: np.ndarray,
    freq_mhz: np.ndarray,
    distance_m: np.ndarray,
    climate: np.ndarray,
    mdvar: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Attenuation relative to free space at the requested quantiles, and warning flags.

    ``h_e_m`` is (2, batch): effective heights of tx and rx. ``mdvar`` is 0-3
    (single message, accidental, mobile, broadcast) plus 10 to drop location
    and 20 to drop situation variability.
    """
    column = np.asarray(climate, dtype=np.int64) - 1
    mode = np.asarray(mdvar, dtype=np.int64)
    no_situation = mode >= 20
    mode = np.where(no_situation, mode - 20, mode)
    no_location = mode >= 10
    mode = np.where(no_location, mode - 10, mode)
    wave_number = freq_mhz / 47.7

    log_k = np.log(0.133 * wave_number)
    g_minus = _FREQ_MINUS[0, column] + _FREQ_MINUS[1, column] / (
        (_FREQ_MINUS[2, column] * log_k) ** 2 + 1.0
    )
    g_plus = _FREQ_PLUS[0, column] + _FREQ_PLUS[1, column] / (
        (_FREQ_PLUS[2, column] * log_k) ** 2 + 1.0
    )
    # Effective distance.
    d_ex_m = (
        np.sqrt(18e6 * h_e_m[0]) + np.sqrt(18e6 * h_e_m[1]) + (575.7e12 / wave_number) ** (1 / 3)
    )
    de_m = np.where(distance_m < d_ex_m, 130e3 * distance_m / d_ex_m, 130e3 + distance_m - d_ex_m)

    median_db = _climate_curve(_MEDIAN, column, de_m)
    sigma_t_minus = _climate_curve(_SIGMA_MINUS, column, de_m) * g_minus
    sigma_t_plus = _climate_curve(_SIGMA_PLUS, column, de_m) * g_plus
    sigma_t_duct = sigma_t_plus * _DUCTING_RATIO[column]
    z_duct = _DUCTING_Z[column]
    tail_duct = (sigma_t_plus - sigma_t_duct) * z_duct
    roughness = (1.0 - 0.8 * np.exp(-distance_m / 50e3)) * delta_h_m * wave_number
    sigma_l = np.where(no_location, 0.0, 10.0 * roughness / (roughness + 13.0))
    situation_base = np.where(no_situation, 0.0, (5.0 + 3.0 * np.exp(-de_m / 100e3)) ** 2)

    z_t = standard_normal_quantile(np.asarray(time_pct) / 100.0)
    z_l = standard_normal_quantile(np.asarray(location_pct) / 100.0)
    z_c = standard_normal_quantile(np.asarray(situation_pct) / 100.0)
    # Single message: all three are the situation deviate; accidental: location = situation;
    # mobile: location = time.
    z_t = np.where(mode == 0, z_c, z_t)
    z_l = np.where((mode == 0) | (mode == 1), z_c, np.where(mode == 2, z_t, z_l))
    extreme = (np.abs(z_t) > 3.1) | (np.abs(z_l) > 3.1) | (np.abs(z_c) > 3.1)

    with np.errstate(divide="ignore", invalid="ignore"):
        sigma_t = np.where(
            z_t < 0,
            sigma_t_minus,
            np.where(z_t <= z_duct, sigma_t_plus, sigma_t_duct + tail_duct / z_t),
        )
    variance_s = (
        situation_base
        + (sigma_t * z_t) ** 2 / (_SITUATION_RT + z_c**2)
        + (sigma_l * z_l) ** 2 / (_SITUATION_RL + z_c**2)
    )
    y_r = np.select(
        [mode == 0, mode == 1, mode == 2],
        [0.0, sigma_t * z_t, np.sqrt(sigma_t**2 + sigma_l**2) * z_t],
        sigma_t * z_t + sigma_l * z_l,
    )
    sigma_c = np.select(
        [mode == 0, mode == 1],
        [np.sqrt(sigma_t**2 + sigma_l**2 + variance_s), np.sqrt(sigma_l**2 + variance_s)],
        np.sqrt(variance_s),
    )
    attenuation_db = a_ref_db - median_db - y_r - sigma_c * z_c
    # Soft floor for strong negative values.
    attenuation_db = np.where(
        attenuation_db < 0,
        attenuation_db * (29.0 - attenuation_db) / (29.0 - 10.0 * attenuation_db),
        attenuation_db,
    )
    warnings = np.where(extreme, WARN_EXTREME_VARIABILITIES, 0)
    return attenuation_db, warnings
