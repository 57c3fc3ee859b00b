"""ITM reference attenuation: line of sight, diffraction and troposcatter for a path batch.

After G. A. Hufford, "The ITS Irregular Terrain Model, version 1.2.2: the
Algorithm" (NTIA/ITS, 1995). From a path's effective heights, horizons and
terrain irregularity (:mod:`~coverageplan.engineering.itm_profile`), the
attenuation relative to free space at the path length, with the three regimes
joined as the algorithm prescribes. Every function takes (b,) arrays, or
(2, b) for tx / rx pairs; regime choices are masks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from coverageplan.engineering.itm_profile import fortran_dim

MODE_LINE_OF_SIGHT, MODE_DIFFRACTION, MODE_TROPOSCATTER = 1, 2, 3


@dataclass(frozen=True)
class PathParameters:
    """Per-path quantities the reference attenuation needs; (2, b) arrays are tx, rx."""

    distance_m: np.ndarray
    h_g_m: np.ndarray
    h_e_m: np.ndarray
    d_hzn_m: np.ndarray
    theta_hzn_rad: np.ndarray
    delta_h_m: np.ndarray
    wave_number: np.ndarray  # f / 47.7 MHz, in 1/m
    gamma_e: np.ndarray  # effective earth curvature, 1/m
    n_s: np.ndarray
    z_g: np.ndarray  # complex ground impedance

    @property
    def d_smooth_m(self) -> np.ndarray:
        """Smooth-earth horizon distances (2, b)."""
        return np.sqrt(2.0 * self.h_e_m / self.gamma_e)

    @property
    def theta_e(self) -> np.ndarray:
        """Total horizon angle, not below the smooth-earth value."""
        return np.maximum(self.theta_hzn_rad.sum(axis=0), -self.d_hzn_m.sum(axis=0) * self.gamma_e)


def _knife_edge_db(v2: np.ndarray) -> np.ndarray:
    """Knife-edge diffraction loss for v²."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(
            v2 < 5.76, 6.02 + 9.11 * np.sqrt(v2) - 1.27 * v2, 12.953 + 4.343 * np.log(v2)
        )


def _height_gain_db(x: np.ndarray, pk: np.ndarray) -> np.ndarray:
    """Smooth-earth height-gain function F(x, K)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        w = -np.log(pk)
        tiny = (pk < 1e-5) | (x * w**3 > 5495.0)
        small_x = np.where(
            tiny,
            np.where(x > 1.0, 17.372 * np.log(x) - 117.0, -117.0),
            2.5e-5 * x**2 / pk - 8.686 * w - 15.0,
        )
        large_x = 0.05751 * x - 4.343 * np.log(x)
        blend = 0.0134 * x * np.exp(-0.005 * x)
        large_x = np.where(
            x < 2000.0, (1.0 - blend) * large_x + blend * (17.372 * np.log(x) - 117.0), large_x
        )
    return np.where(x < 200.0, small_x, large_x)


def _diffraction_db(distance_m: np.ndarray, p: PathParameters) -> np.ndarray:
    """Diffraction attenuation: knife edges and smooth earth, weighted by roughness."""
    k, gamma_e, h_g, h_e, d_hzn = p.wave_number, p.gamma_e, p.h_g_m, p.h_e_m, p.d_hzn_m
    d_ml = d_hzn.sum(axis=0)
    theta_e = p.theta_e
    # The "+10" m² applies in point-to-point mode only.
    wd1 = np.sqrt(1.0 + (h_e[0] * h_e[1] - h_g[0] * h_g[1]) / (h_g[0] * h_g[1] + 10.0))
    xd1 = d_ml + theta_e / gamma_e
    roughness = (1.0 - 0.8 * np.exp(-p.d_smooth_m.sum(axis=0) / 50e3)) * p.delta_h_m
    roughness = roughness * 0.78 * np.exp(-((roughness / 16.0) ** 0.25))
    clutter_db = np.minimum(15.0, 2.171 * np.log(1.0 + 4.77e-4 * h_g[0] * h_g[1] * k * roughness))
    inv_z = 1.0 / np.abs(p.z_g)
    a = 0.5 * d_hzn**2 / h_e
    wa = np.cbrt(a * k)
    pk = inv_z / wa
    x_terminals = (1.607 - pk) * 151.0 * wa * d_hzn / a
    gain_terminals = 20.0 + _height_gain_db(x_terminals, pk).sum(axis=0)

    theta = theta_e + distance_m * gamma_e
    beyond = distance_m - d_ml
    v = 0.0795775 * k * beyond * theta**2
    knife_db = _knife_edge_db(v * d_hzn[0] / (beyond + d_hzn[0])) + _knife_edge_db(
        v * d_hzn[1] / (beyond + d_hzn[1])
    )
    wa = np.cbrt(beyond / theta * k)
    x = (1.607 - inv_z / wa) * 151.0 * wa * theta + x_terminals.sum(axis=0)
    round_earth_db = 0.05751 * x - 4.343 * np.log(x) - gain_terminals
    q = (wd1 + xd1 / distance_m) * np.minimum(
        (1.0 - 0.8 * np.exp(-distance_m / 50e3)) * p.delta_h_m * k, 6283.2
    )
    weight = 25.1 / (25.1 + np.sqrt(q))
    return round_earth_db * weight + (1.0 - weight) * knife_db + clutter_db


def _line_of_sight_db(
    distance_m: np.ndarray, p: PathParameters, slope_d: np.ndarray, intercept_d: np.ndarray
) -> np.ndarray:
    """Two-ray line-of-sight attenuation blended with extended diffraction."""
    k, h_e = p.wave_number, p.h_e_m
    weight = 0.021 / (0.021 + k * p.delta_h_m / np.maximum(10e3, p.d_smooth_m.sum(axis=0)))
    roughness = (1.0 - 0.8 * np.exp(-distance_m / 50e3)) * p.delta_h_m
    sigma_h = 0.78 * roughness * np.exp(-((roughness / 16.0) ** 0.25))
    heights = h_e[0] + h_e[1]
    sin_psi = heights / np.sqrt(distance_m**2 + heights**2)
    reflection = (
        (sin_psi - p.z_g) / (sin_psi + p.z_g) * np.exp(-np.minimum(10.0, k * sigma_h * sin_psi))
    )
    power = np.abs(reflection) ** 2
    reflection = np.where(
        (power < 0.25) | (power < sin_psi), reflection * np.sqrt(sin_psi / power), reflection
    )
    phase = 2.0 * k * h_e[0] * h_e[1] / distance_m
    phase = np.where(phase > 1.57, 3.14 - 2.4649 / phase, phase)
    two_ray_db = -4.343 * np.log(np.abs(np.exp(-1j * phase) + reflection) ** 2)
    extended_db = slope_d * distance_m + intercept_d
    return (two_ray_db - extended_db) * weight + extended_db


def _h0_db(r: np.ndarray, eta_s: np.ndarray) -> np.ndarray:
    """Frequency-gain function H0 interpolated in integer eta_s."""
    a = np.array([25.0, 80.0, 177.0, 395.0, 705.0])
    b = np.array([24.0, 45.0, 68.0, 80.0, 105.0])
    whole = np.clip(np.trunc(eta_s), 1, 5).astype(np.int64)
    frac = np.where((eta_s >= 1.0) & (eta_s < 5.0), eta_s - np.trunc(eta_s), 0.0)
    x = (1.0 / r) ** 2
    low = 4.343 * np.log((a[whole - 1] * x + b[whole - 1]) * x + 1.0)
    upper = np.minimum(whole, 4)
    high = 4.343 * np.log((a[upper] * x + b[upper]) * x + 1.0)
    return np.where(frac != 0.0, (1.0 - frac) * low + frac * high, low)


def _scatter_db(
    distance_m: np.ndarray, p: PathParameters, previous_h0: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Troposcatter attenuation and its H0; 1001 where there is no scatter."""
    h_e, d_hzn = p.h_e_m, p.d_hzn_m
    asym = d_hzn[0] - d_hzn[1]
    ratio = np.where(asym < 0, h_e[0] / h_e[1], h_e[1] / h_e[0])
    asym = np.abs(asym)
    eta_q = (5.67e-6 * p.n_s - 2.32e-3) * p.n_s + 0.031
    theta = p.theta_hzn_rad.sum(axis=0) + distance_m * p.gamma_e
    r1 = 2.0 * p.wave_number * theta * h_e[0]
    r2 = 2.0 * p.wave_number * theta * h_e[1]
    no_scatter = (r1 < 0.2) & (r2 < 0.2) & (previous_h0 <= 15.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = (distance_m - asym) / (distance_m + asym)
        q = np.clip(ratio / s, 0.1, 10.0)
        s = np.maximum(0.1, s)
        z0 = (distance_m - asym) * (distance_m + asym) * theta * 0.25 / distance_m
        eta_s = (eta_q * np.exp(-(np.minimum(1.7, z0 / 8e3) ** 6)) + 1.0) * z0 / 1.7556e3
        eta_floor = np.maximum(eta_s, 1.0)
        h0 = 0.5 * (_h0_db(r1, eta_floor) + _h0_db(r2, eta_floor))
        h0 = h0 + np.minimum(h0, (1.38 - np.log(eta_floor)) * np.log(s) * np.log(q) * 0.49)
        h0 = fortran_dim(h0, 0.0)
        low_eta = eta_s * h0 + (1.0 - eta_s) * 4.343 * np.log(
            ((1.0 + 1.4142 / r1) * (1.0 + 1.4142 / r2)) ** 2 * (r1 + r2) / (r1 + r2 + 2.8284)
        )
        h0 = np.where(eta_s < 1.0, low_eta, h0)
        # A farther point's H0 is reused when it is large (the model's continuity rule).
        h0 = np.where((previous_h0 > 15.0) | ((h0 > 15.0) & (previous_h0 >= 0.0)), previous_h0, h0)
        theta_d = (p.theta_e + distance_m * p.gamma_e) * distance_m
        loss_db = (
            _scatter_distance_db(theta_d)
            + 4.343 * np.log(47.7 * p.wave_number * (p.theta_e + distance_m * p.gamma_e) ** 4)
            - 0.1 * (p.n_s - 301.0) * np.exp(-theta_d / 40e3)
            + h0
        )
    return np.where(no_scatter, 1001.0, loss_db), np.where(no_scatter, -15.0, h0)


def _scatter_distance_db(theta_d: np.ndarray) -> np.ndarray:
    """Attenuation function F(theta d) of troposcatter."""
    band = np.digitize(theta_d, [10e3, 70e3], right=True)
    a = np.array([133.4, 104.6, 71.8])[band]
    b = np.array([0.332e-3, 0.212e-3, 0.157e-3])[band]
    c = np.array([-4.343, -1.086, 2.171])[band]
    return a + b * theta_d + c * np.log(theta_d)


def reference_attenuation_db(p: PathParameters) -> tuple[np.ndarray, np.ndarray]:
    """Reference attenuation A_ref (dB, ≥ 0) and propagation mode at the path length."""
    d = p.distance_m
    d_ml = p.d_hzn_m.sum(axis=0)
    d_sml = p.d_smooth_m.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        # Diffraction: a straight line through two points past the horizons.
        x_ae = np.cbrt(1.0 / (p.wave_number * p.gamma_e**2))
        d3 = np.maximum(d_sml, 1.3787 * x_ae + d_ml)
        d4 = d3 + 2.7574 * x_ae
        a3, a4 = _diffraction_db(d3, p), _diffraction_db(d4, p)
        slope_d = (a4 - a3) / (d4 - d3)
        intercept_d = a3 - slope_d * d3

        # Line of sight: A = a + k1 d + k2 ln d fitted through three points.
        d2 = d_sml
        a2 = intercept_d + d2 * slope_d
        rising = intercept_d >= 0
        d0 = 1.908 * p.wave_number * p.h_e_m[0] * p.h_e_m[1]
        d0 = np.where(rising, np.minimum(d0, 0.5 * d_ml), d0)
        d1 = np.where(
            rising, d0 + 0.25 * (d_ml - d0), np.maximum(-intercept_d / slope_d, 0.25 * d_ml)
        )
        a1 = _line_of_sight_db(d1, p, slope_d, intercept_d)
        a0 = _line_of_sight_db(d0, p, slope_d, intercept_d)
        log_ratio = np.log(d2 / d0)
        k2 = np.maximum(
            0.0,
            ((d2 - d0) * (a1 - a0) - (d1 - d0) * (a2 - a0))
            / ((d2 - d0) * np.log(d1 / d0) - (d1 - d0) * log_ratio),
        )
        use_log = (d0 < d1) & (rising | (k2 > 0))
        k1 = (a2 - a0 - k2 * log_ratio) / (d2 - d0)
        negative = k1 < 0
        k2 = np.where(negative, fortran_dim(a2, a0) / log_ratio, k2)
        k1 = np.where(negative, np.where(k2 == 0, slope_d, 0.0), k1)
        k1_linear = fortran_dim(a2, a1) / (d2 - d1)
        k1 = np.where(use_log, k1, np.where(k1_linear == 0, slope_d, k1_linear))
        k2 = np.where(use_log, k2, 0.0)
        a_los = (a2 - k1 * d2 - k2 * np.log(d2)) + k1 * d + k2 * np.log(d)

        # Troposcatter: a line through two far points, joined to diffraction at d_x.
        d5 = d_ml + 200e3
        d6 = d5 + 200e3
        a6, h0_6 = _scatter_db(d6, p, np.full_like(d, -15.0))
        a5, _ = _scatter_db(d5, p, h0_6)
        has_scatter = a5 < 1000.0
        slope_s = (a6 - a5) / 200e3
        d_x = np.maximum(
            d_sml,
            np.maximum(
                d_ml + 0.3 * x_ae * np.log(47.7 * p.wave_number),
                (a5 - intercept_d - slope_s * d5) / (slope_d - slope_s),
            ),
        )
        intercept_s = (slope_d - slope_s) * d_x + intercept_d
        slope_s = np.where(has_scatter, slope_s, slope_d)
        intercept_s = np.where(has_scatter, intercept_s, intercept_d)
        d_x = np.where(has_scatter, d_x, 10e6)
    los = d < d_sml
    scatter = ~los & (d > d_x)
    a_ref = np.where(
        los, a_los, np.where(scatter, intercept_s + slope_s * d, intercept_d + slope_d * d)
    )
    mode = np.where(los, MODE_LINE_OF_SIGHT, np.where(scatter, MODE_TROPOSCATTER, MODE_DIFFRACTION))
    return np.maximum(a_ref, 0.0), mode.astype(np.int8)
