"""ITM terrain analysis of a profile batch: horizons, delta_h, effective heights.

After G. A. Hufford, "The ITS Irregular Terrain Model, version 1.2.2:
the Algorithm" (NTIA/ITS, 1995), on profiles in the padded pfl layout of
:mod:`coverageplan.engineering.itm`: ``z`` (b, max_points) with ``intervals``
(b,) and ``spacing`` (b,) in metres. Every search and fit is a mask over the
points, so the batch is processed without a loop.
"""

from __future__ import annotations

import numpy as np


def fortran_dim(x: np.ndarray, y: np.ndarray | float) -> np.ndarray:
    """max(x − y, 0)."""
    return np.maximum(x - y, 0.0)


def _prefix_sums(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Running sums of z and of j·z along each row, with a leading 0 column."""
    j = np.arange(z.shape[1])
    zeros = np.zeros((len(z), 1))
    return (
        np.concatenate([zeros, np.cumsum(z, axis=1)], axis=1),
        np.concatenate([zeros, np.cumsum(z * j, axis=1)], axis=1),
    )


def _least_squares_fit(
    z: np.ndarray,
    sums: tuple[np.ndarray, np.ndarray],
    intervals: np.ndarray,
    spacing: np.ndarray,
    x1: np.ndarray,
    x2: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Line fitted to the points between x1 and x2 (m); its heights at the two path ends.

    ``sums`` are :func:`_prefix_sums` of ``z``. End points count half (trapezoid).
    """
    n = intervals.astype(float)
    ja = np.trunc(fortran_dim(x1 / spacing, 0.0))
    jb = n - np.trunc(fortran_dim(n, x2 / spacing))
    narrow = jb <= ja
    ja, jb = (
        np.where(narrow, fortran_dim(ja, 1.0), ja),
        np.where(narrow, n - fortran_dim(n, jb + 1.0), jb),
    )
    rows = np.arange(len(z))
    first, last = ja.astype(np.int64), jb.astype(np.int64)
    sum_z = sums[0][rows, last + 1] - sums[0][rows, first]
    sum_jz = sums[1][rows, last + 1] - sums[1][rows, first]
    return _line_from_sums(z[rows, first], z[rows, last], sum_z, sum_jz, ja, jb, n)


def _line_from_sums(
    z_first: np.ndarray,
    z_last: np.ndarray,
    sum_z: np.ndarray,
    sum_jz: np.ndarray,
    ja: np.ndarray,
    jb: np.ndarray,
    n: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares line over points ja..jb (ends weighted ½) from Σz and Σj·z; z at 0 and n."""
    sum_z = sum_z - 0.5 * (z_first + z_last)
    sum_jz = sum_jz - 0.5 * (ja * z_first + jb * z_last)
    count = jb - ja
    centre = 0.5 * (ja + jb)
    mean = sum_z / count
    slope = (sum_jz - centre * sum_z) * 12.0 / ((count**2 + 2.0) * count)
    return mean - slope * centre, mean + slope * (n - centre)


def _terrain_irregularity_m(
    z: np.ndarray, intervals: np.ndarray, spacing: np.ndarray, x1: np.ndarray, x2: np.ndarray
) -> np.ndarray:
    """delta_h: interdecile range of heights about a straight fit between x1 and x2 (m)."""
    rows = np.arange(len(z))[:, None]
    start, stop = x1 / spacing, x2 / spacing
    ka = np.clip(np.trunc(0.1 * (stop - start + 8.0)), 4, 25).astype(np.int64)
    samples = 10 * ka - 5
    step = (stop - start) / (samples - 1)
    j = np.arange(samples.max(initial=1))[None, :]
    position = start[:, None] + j * step[:, None]
    k = np.minimum(
        np.maximum(np.ceil(position), np.trunc(start)[:, None] + 1.0), intervals[:, None]
    ).astype(np.int64)
    used = j < samples[:, None]
    z_k = z[rows, k]
    # Linear interpolation between points k − 1 and k; samples past the last one are 0.
    height = (z_k + (z_k - z[rows, k - 1]) * (position - k)) * used
    last = (samples - 1).astype(float)
    fit_start, fit_end = _line_from_sums(
        height[:, 0],
        height[rows[:, 0], samples - 1],
        height.sum(axis=1),
        height @ j[0].astype(float),
        np.zeros(len(z)),
        last,
        last,
    )
    trend = fit_start[:, None] + (fit_end - fit_start)[:, None] * j / (samples - 1)[:, None]
    residual = np.sort(np.where(used, height - trend, np.inf), axis=1)
    spread = residual[rows[:, 0], samples - ka] - residual[rows[:, 0], ka - 1]
    delta_h = spread / (1.0 - 0.8 * np.exp(-(x2 - x1) / 50e3))
    return np.where(stop - start < 2.0, 0.0, delta_h)


def _horizons(
    z: np.ndarray,
    intervals: np.ndarray,
    spacing: np.ndarray,
    h_g_m: np.ndarray,
    gamma_e: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Horizon angles (rad) and distances (m) of tx and rx over the profile, each (2, b)."""
    rows = np.arange(len(z))
    d = intervals * spacing
    z_tx = z[:, 0] + h_g_m[0]
    z_rx = z[rows, intervals] + h_g_m[1]
    half_curvature = 0.5 * gamma_e[:, None]
    end_angle = (z_rx - z_tx) / d
    theta_tx0 = end_angle - 0.5 * gamma_e * d
    theta_rx0 = -end_angle - 0.5 * gamma_e * d
    j = np.arange(z.shape[1])[None, :]
    interior = (j >= 1) & (j < intervals[:, None])
    s_tx = j * spacing[:, None]
    s_rx = d[:, None] - s_tx
    with np.errstate(divide="ignore", invalid="ignore"):
        angle_tx = np.where(interior, (z - z_tx[:, None]) / s_tx - half_curvature * s_tx, -np.inf)
        blocks_tx = angle_tx > theta_tx0[:, None]
        tx_blocked = blocks_tx.any(axis=1)
        # The rx horizon is searched from the first point that blocks the tx's view onward.
        first_block = np.argmax(blocks_tx, axis=1)
        seen_from_rx = interior & (j >= first_block[:, None]) & tx_blocked[:, None]
        angle_rx = np.where(
            seen_from_rx, (z - z_rx[:, None]) / s_rx - half_curvature * s_rx, -np.inf
        )
    peak_tx = np.argmax(angle_tx, axis=1)
    peak_rx = np.argmax(angle_rx, axis=1)
    rx_blocked = angle_rx[rows, peak_rx] > theta_rx0
    theta = np.stack(
        [
            np.where(tx_blocked, angle_tx[rows, peak_tx], theta_tx0),
            np.where(rx_blocked, angle_rx[rows, peak_rx], theta_rx0),
        ]
    )
    d_hzn = np.stack(
        [np.where(tx_blocked, peak_tx * spacing, d), np.where(rx_blocked, d - peak_rx * spacing, d)]
    )
    return theta, d_hzn


def path_geometry(
    z: np.ndarray,
    intervals: np.ndarray,
    spacing: np.ndarray,
    h_g_m: np.ndarray,
    gamma_e: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Effective heights, horizon distances and angles (2, b), and delta_h."""
    rows = np.arange(len(z))
    d = intervals * spacing
    theta, d_hzn = _horizons(z, intervals, spacing, h_g_m, gamma_e)
    x_tx = np.minimum(15.0 * h_g_m[0], 0.1 * d_hzn[0])
    x_rx = d - np.minimum(15.0 * h_g_m[1], 0.1 * d_hzn[1])
    delta_h = _terrain_irregularity_m(z, intervals, spacing, x_tx, x_rx)
    ground = np.stack([z[:, 0], z[rows, intervals]])

    # Near line of sight: fit the whole inner path; transhorizon: each foreground.
    near_los = d_hzn.sum(axis=0) > 1.5 * d
    sums = _prefix_sums(z)
    los_tx, los_rx = _least_squares_fit(z, sums, intervals, spacing, x_tx, x_rx)
    far_tx, _ = _least_squares_fit(z, sums, intervals, spacing, x_tx, 0.9 * d_hzn[0])
    _, far_rx = _least_squares_fit(z, sums, intervals, spacing, d - 0.9 * d_hzn[1], x_rx)
    fit = np.stack([np.where(near_los, los_tx, far_tx), np.where(near_los, los_rx, far_rx)])
    h_e = h_g_m + fortran_dim(ground, fit)

    def rough_horizon_m(height_m: np.ndarray) -> np.ndarray:
        smooth = np.sqrt(2.0 * height_m / gamma_e)
        return smooth * np.exp(-0.07 * np.sqrt(delta_h / np.maximum(height_m, 5.0)))

    # Near line of sight, horizons come from the effective heights instead of the profile.
    d_rough = rough_horizon_m(h_e)
    total = d_rough.sum(axis=0)
    h_e_los = h_e * np.where(total <= d, (d / total) ** 2, 1.0)
    d_los = rough_horizon_m(h_e_los)
    smooth = np.sqrt(2.0 * h_e_los / gamma_e)
    theta_los = (0.65 * delta_h * (smooth / d_los - 1.0) - 2.0 * h_e_los) / smooth
    return (
        np.where(near_los, h_e_los, h_e),
        np.where(near_los, d_los, d_hzn),
        np.where(near_los, theta_los, theta),
        delta_h,
    )
