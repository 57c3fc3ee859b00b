"""Irregular Terrain Model (ITM, Longley-Rice) in point-to-point mode, batched over profiles.

Written from the published algorithm: G. A. Hufford, "The ITS Irregular
Terrain Model, version 1.2.2: the Algorithm" (NTIA/ITS, 1995), and NTIA/ITS's
public description of ITM (github.com/NTIA/itm, README and
ERRORS_AND_WARNINGS). Every function works on arrays with a leading batch
axis; the model's branches (line of sight, diffraction, troposcatter; the
horizon search; the terrain fits) are masks, so one call evaluates any number
of paths. This module is the public API and input validation; terrain
analysis lives in :mod:`~coverageplan.engineering.itm_profile`, the reference
attenuation in :mod:`~coverageplan.engineering.itm_propagation` and the time /
location / situation quantiles in :mod:`~coverageplan.engineering.itm_variability`.

Profile layout (NTIA's pfl, padded). A batch of ``b`` terrain profiles, tx
first and rx last, is

- ``elevation_m`` (b, max_points): heights above sea level in metres; row ``i``
  holds ``intervals[i] + 1`` points, the rest of the row is padding (ignored);
- ``intervals`` (b,) int: number of points minus one (pfl[0]);
- ``spacing_m`` (b,): distance between points in metres (pfl[1]).

:func:`pack_pfls` turns a list of NTIA pfl lists into this layout. Path length
is ``intervals * spacing_m``.

Validation: inputs NTIA rejects with an error code (heights, frequency, N_0,
climate, polarization, ground constants, mdvar, percentages) and NaN in a
profile raise ``ValueError`` naming the parameter, the value and the range.
Conditions NTIA only warns about (distance under 1 km or over 1000 km, large
horizon angles, extreme quantiles, ...) are returned as its warning bit flags
in :class:`ItmResult`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np

from coverageplan.engineering.itm_profile import path_geometry
from coverageplan.engineering.itm_propagation import (
    MODE_DIFFRACTION,
    MODE_LINE_OF_SIGHT,
    MODE_TROPOSCATTER,
    PathParameters,
    reference_attenuation_db,
)
from coverageplan.engineering.itm_variability import WARN_EXTREME_VARIABILITIES, variability_db

__all__ = [
    "MODE_DIFFRACTION",
    "MODE_LINE_OF_SIGHT",
    "MODE_TROPOSCATTER",
    "WARN_DISTANCE_OVER_1000_KM",
    "WARN_DISTANCE_OVER_2000_KM",
    "WARN_DISTANCE_UNDER_1_KM",
    "WARN_DISTANCE_UNDER_MIN",
    "WARN_EXTREME_VARIABILITIES",
    "WARN_FREQUENCY",
    "WARN_HORIZON_ANGLE",
    "WARN_HORIZON_LONG",
    "WARN_HORIZON_SHORT",
    "WARN_RX_HEIGHT",
    "WARN_SURFACE_REFRACTIVITY",
    "WARN_TX_HEIGHT",
    "ItmResult",
    "itm_loss_db",
    "itm_loss_db_pfl",
    "itm_point_to_point",
    "pack_pfls",
]

# NTIA warning bit flags (ERRORS_AND_WARNINGS.md).
WARN_TX_HEIGHT, WARN_RX_HEIGHT, WARN_FREQUENCY = 0x0001, 0x0002, 0x0004
WARN_DISTANCE_OVER_1000_KM, WARN_DISTANCE_OVER_2000_KM = 0x0008, 0x0010
WARN_DISTANCE_UNDER_MIN, WARN_DISTANCE_UNDER_1_KM = 0x0020, 0x0040
WARN_HORIZON_ANGLE = (0x0080, 0x0100)
WARN_HORIZON_SHORT = (0x0200, 0x0400)
WARN_HORIZON_LONG = (0x0800, 0x1000)
WARN_SURFACE_REFRACTIVITY = 0x4000
VALID_MDVAR = tuple(base + flags for flags in (0, 10, 20, 30) for base in range(4))


@dataclass(frozen=True)
class ItmResult:
    """ITM outputs for a batch of paths; every field is an array over the batch.

    ``loss_db``: basic transmission loss (NTIA's A__db). ``mode``: 1 line of
    sight, 2 diffraction, 3 troposcatter, in ITM's sense: "line of sight" means
    shorter than the smooth-earth horizon distances of the effective heights,
    and its reference attenuation still includes the loss from terrain
    obstacles. ``warnings``: NTIA warning bit flags (``WARN_*``).
    ``free_space_db``, ``a_ref_db``: free-space loss and reference attenuation
    (dB); ``distance_m``; ``delta_h_m``: terrain irregularity; ``n_s``: surface
    refractivity (N-units); ``h_e_m``, ``d_hzn_m``, ``theta_hzn_rad``: (2, b)
    effective heights, horizon distances and horizon angles of tx and rx.
    """

    loss_db: np.ndarray
    mode: np.ndarray
    warnings: np.ndarray
    free_space_db: np.ndarray
    a_ref_db: np.ndarray
    distance_m: np.ndarray
    delta_h_m: np.ndarray
    n_s: np.ndarray
    h_e_m: np.ndarray
    d_hzn_m: np.ndarray
    theta_hzn_rad: np.ndarray


def pack_pfls(pfls: Sequence[Sequence[float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Padded ``(elevation_m, intervals, spacing_m)`` from NTIA pfl lists [n, spacing, z0..zn]."""
    intervals = np.array([int(pfl[0]) for pfl in pfls], dtype=np.int64)
    spacing_m = np.array([float(pfl[1]) for pfl in pfls])
    elevation_m = np.zeros((len(pfls), int(intervals.max(initial=0)) + 1))
    for row, pfl in enumerate(pfls):  # packing only; the model itself never loops
        points = np.asarray(pfl[2:], dtype=float)
        if len(points) != intervals[row] + 1:
            raise ValueError(
                f"pfl {row}: pfl[0] = {intervals[row]} intervals needs {intervals[row] + 1} "
                f"elevations, got {len(points)}"
            )
        elevation_m[row, : len(points)] = points
    return elevation_m, intervals, spacing_m


def _check_range(name: str, value: np.ndarray, low: float, high: float, unit: str = "") -> None:
    """Raise ``ValueError`` naming the first element of ``value`` outside [low, high]."""
    bad = ~((value >= low) & (value <= high))
    if bad.any():
        index = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{name}[{index}] = {value[index]} is outside the ITM range [{low}, {high}]{unit}"
        )


def _check_open(name: str, value: np.ndarray, low: float, high: float) -> None:
    """Raise ``ValueError`` naming the first element of ``value`` outside (low, high)."""
    bad = ~((value > low) & (value < high))
    if bad.any():
        index = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name}[{index}] = {value[index]} must lie in ({low}, {high})")


def _path_warnings(p: PathParameters, freq_mhz: np.ndarray) -> np.ndarray:
    """NTIA warning bit flags that depend on the path (not the variability)."""
    d = p.distance_m
    flags = np.zeros(d.shape, dtype=np.int64)
    d_smooth = p.d_smooth_m
    for end, bit in enumerate((WARN_TX_HEIGHT, WARN_RX_HEIGHT)):
        flags |= np.where((p.h_g_m[end] < 1.0) | (p.h_g_m[end] > 1000.0), bit, 0)
        flags |= np.where(np.abs(p.theta_hzn_rad[end]) > 200e-3, WARN_HORIZON_ANGLE[end], 0)
        flags |= np.where(p.d_hzn_m[end] < 0.1 * d_smooth[end], WARN_HORIZON_SHORT[end], 0)
        flags |= np.where(p.d_hzn_m[end] > 3.0 * d_smooth[end], WARN_HORIZON_LONG[end], 0)
    flags |= np.where((freq_mhz < 40.0) | (freq_mhz > 10_000.0), WARN_FREQUENCY, 0)
    flags |= np.where(d > 1000e3, WARN_DISTANCE_OVER_1000_KM, 0)
    flags |= np.where(d > 2000e3, WARN_DISTANCE_OVER_2000_KM, 0)
    d_min = np.abs(p.h_e_m[0] - p.h_e_m[1]) / 200e-3
    flags |= np.where(d < d_min, WARN_DISTANCE_UNDER_MIN, 0)
    flags |= np.where(d < 1e3, WARN_DISTANCE_UNDER_1_KM, 0)
    flags |= np.where(p.n_s < 250.0, WARN_SURFACE_REFRACTIVITY, 0)
    return flags


def _validate(
    z: np.ndarray, intervals: np.ndarray, spacing_m: np.ndarray, params: dict[str, np.ndarray]
) -> None:
    """Raise ``ValueError`` for inputs outside the ranges where NTIA's ITM returns an error."""
    if z.ndim != 2 or intervals.shape != (len(z),) or spacing_m.shape != (len(z),):
        raise ValueError(
            f"elevation_m must be (batch, max_points) with intervals and spacing_m (batch,); "
            f"got {z.shape}, {intervals.shape}, {spacing_m.shape}"
        )
    short_or_long = (intervals < 2) | (intervals > z.shape[1] - 1)
    if short_or_long.any():
        row = int(np.flatnonzero(short_or_long)[0])
        raise ValueError(
            f"intervals[{row}] = {intervals[row]}: a profile needs 2 to {z.shape[1] - 1} "
            f"intervals (points − 1) to fit its row of elevation_m"
        )
    _check_open("spacing_m", spacing_m, 0.0, np.inf)
    in_profile = np.arange(z.shape[1])[None, :] <= intervals[:, None]
    voids = np.isnan(z) & in_profile
    if voids.any():
        row, point = (int(i[0]) for i in np.nonzero(voids))
        raise ValueError(
            f"elevation_m[{row}, {point}] is NaN (a DEM void); fill voids before calling ITM"
        )
    _check_range("tx_height_m", params["tx_height_m"], 0.5, 3000.0, " m")
    _check_range("rx_height_m", params["rx_height_m"], 0.5, 3000.0, " m")
    _check_range("freq_mhz", params["freq_mhz"], 20.0, 20_000.0, " MHz")
    _check_range("n0_n_units", params["n0_n_units"], 250.0, 400.0, " N-units")
    _check_open("epsilon", params["epsilon"], 1.0, np.inf)
    _check_open("sigma_s_per_m", params["sigma_s_per_m"], 0.0, np.inf)
    for name in ("time_pct", "location_pct", "situation_pct"):
        _check_open(name, params[name], 0.0, 100.0)
    for name, allowed in (
        ("polarization", (0, 1)),
        ("climate", tuple(range(1, 8))),
        ("mdvar", VALID_MDVAR),
    ):
        bad = ~np.isin(params[name], allowed)
        if bad.any():
            index = int(np.flatnonzero(bad)[0])
            raise ValueError(f"{name}[{index}] = {params[name][index]} is not one of {allowed}")


def itm_point_to_point(
    elevation_m: np.ndarray,
    intervals: np.ndarray,
    spacing_m: np.ndarray | float,
    *,
    tx_height_m: np.ndarray | float,
    rx_height_m: np.ndarray | float,
    freq_mhz: np.ndarray | float,
    polarization: np.ndarray | int = 1,
    climate: np.ndarray | int = 5,
    n0_n_units: np.ndarray | float = 301.0,
    epsilon: np.ndarray | float = 15.0,
    sigma_s_per_m: np.ndarray | float = 0.005,
    mdvar: np.ndarray | int = 12,
    time_pct: np.ndarray | float = 50.0,
    location_pct: np.ndarray | float = 50.0,
    situation_pct: np.ndarray | float = 50.0,
    chunk_profiles: int = 1024,
) -> ItmResult:
    """ITM point-to-point prediction for a batch of profiles (NTIA's ITM_P2P_TLS).

    Parameters
    ----------
    elevation_m, intervals, spacing_m
        Profiles in the padded pfl layout described in the module docstring
        (a 1-D ``elevation_m`` is a batch of one).
    tx_height_m, rx_height_m
        Structural antenna heights above ground, 0.5-3000 m.
    freq_mhz
        Frequency, 20-20,000 MHz.
    polarization
        0 horizontal, 1 vertical.
    climate
        Radio climate 1-7 (1 equatorial ... 5 continental temperate ... 7 maritime
        temperate over sea).
    n0_n_units
        Minimum monthly mean surface refractivity at sea level, 250-400 N-units.
    epsilon, sigma_s_per_m
        Ground relative permittivity (> 1) and conductivity (> 0, S/m).
    mdvar
        Mode of variability: 0 single message, 1 accidental, 2 mobile,
        3 broadcast; +10 drops location and +20 situation variability.
    time_pct, location_pct, situation_pct
        Quantiles in (0, 100) %: the loss is not exceeded for this share.
    chunk_profiles
        Profiles evaluated together internally; bounds memory; results agree to rounding (1e-12 dB).

    Every parameter is a scalar or a (batch,) array. Returns an
    :class:`ItmResult`; ``loss_db`` is basic transmission loss in dB.
    """
    z = np.asarray(elevation_m, dtype=float)
    z = z[None, :] if z.ndim == 1 else z
    batch = (len(z),)
    n = np.broadcast_to(np.asarray(intervals), batch).astype(np.int64)
    spacing = np.broadcast_to(np.asarray(spacing_m, dtype=float), batch)
    given = {
        "tx_height_m": tx_height_m,
        "rx_height_m": rx_height_m,
        "freq_mhz": freq_mhz,
        "polarization": polarization,
        "climate": climate,
        "n0_n_units": n0_n_units,
        "epsilon": epsilon,
        "sigma_s_per_m": sigma_s_per_m,
        "mdvar": mdvar,
        "time_pct": time_pct,
        "location_pct": location_pct,
        "situation_pct": situation_pct,
    }
    params = {name: np.broadcast_to(np.asarray(value), batch) for name, value in given.items()}
    _validate(z, n, spacing, params)
    in_profile = np.arange(z.shape[1])[None, :] <= n[:, None]
    z = np.where(in_profile, z, 0.0)
    n_s = _surface_refractivity(z, n, params["n0_n_units"].astype(float))
    # Blocks of profiles keep the temporaries small (and in cache).
    parts = []
    for start in range(0, len(z), chunk_profiles):
        block = slice(start, start + chunk_profiles)
        width = int(n[block].max()) + 1
        block_params = {name: value[block] for name, value in params.items()}
        parts.append(_predict(z[block, :width], n[block], spacing[block], n_s[block], block_params))
    if not parts:
        return _empty_result()
    return ItmResult(
        **{
            field.name: np.concatenate([getattr(part, field.name) for part in parts], axis=-1)
            for field in fields(ItmResult)
        }
    )


def _empty_result() -> ItmResult:
    """The result for a batch of no profiles."""
    per_path, per_terminal = np.empty(0), np.empty((2, 0))
    return ItmResult(
        loss_db=per_path,
        mode=np.empty(0, dtype=np.int8),
        warnings=np.empty(0, dtype=np.int64),
        free_space_db=per_path,
        a_ref_db=per_path,
        distance_m=per_path,
        delta_h_m=per_path,
        n_s=per_path,
        h_e_m=per_terminal,
        d_hzn_m=per_terminal,
        theta_hzn_rad=per_terminal,
    )


def _surface_refractivity(z: np.ndarray, intervals: np.ndarray, n0: np.ndarray) -> np.ndarray:
    """N_s from N_0 and the mean height of the middle 80 % of each path."""
    j = np.arange(z.shape[1])[None, :]
    tenth = np.trunc(0.1 * intervals)[:, None]
    middle = (j >= tenth) & (j <= intervals[:, None] - tenth)
    h_sys_m = (z * middle).sum(axis=1) / middle.sum(axis=1)
    n_s = np.where(h_sys_m == 0.0, n0, n0 * np.exp(-h_sys_m / 9460.0))
    if (n_s < 150.0).any() or (n_s > 400.0).any():
        index = int(np.flatnonzero((n_s < 150.0) | (n_s > 400.0))[0])
        raise ValueError(
            f"surface refractivity N_s[{index}] = {n_s[index]:.1f} (from n0_n_units and the "
            f"profile's mean height {h_sys_m[index]:.0f} m) is outside [150, 400] N-units"
        )
    return n_s


def _predict(
    z: np.ndarray,
    n: np.ndarray,
    spacing: np.ndarray,
    n_s: np.ndarray,
    params: dict[str, np.ndarray],
) -> ItmResult:
    """ITM for one block of validated profiles."""
    gamma_e = 157e-9 * (1.0 - 0.04665 * np.exp(n_s / 179.3))
    freq = params["freq_mhz"].astype(float)
    permittivity = params["epsilon"] + 1j * 18_000.0 * params["sigma_s_per_m"] / freq
    z_g = np.sqrt(permittivity - 1.0)
    z_g = np.where(params["polarization"] == 1, z_g / permittivity, z_g)

    h_g = np.stack([params["tx_height_m"], params["rx_height_m"]]).astype(float)
    h_e, d_hzn, theta_hzn, delta_h = path_geometry(z, n, spacing, h_g, gamma_e)
    path = PathParameters(
        distance_m=n * spacing,
        h_g_m=h_g,
        h_e_m=h_e,
        d_hzn_m=d_hzn,
        theta_hzn_rad=theta_hzn,
        delta_h_m=delta_h,
        wave_number=freq / 47.7,
        gamma_e=gamma_e,
        n_s=n_s,
        z_g=z_g,
    )
    a_ref_db, mode = reference_attenuation_db(path)
    free_space_db = 32.45 + 20.0 * np.log10(freq) + 20.0 * np.log10(path.distance_m / 1e3)
    variability, variability_flags = variability_db(
        a_ref_db,
        time_pct=params["time_pct"],
        location_pct=params["location_pct"],
        situation_pct=params["situation_pct"],
        h_e_m=h_e,
        delta_h_m=delta_h,
        freq_mhz=freq,
        distance_m=path.distance_m,
        climate=params["climate"],
        mdvar=params["mdvar"],
    )
    return ItmResult(
        loss_db=free_space_db + variability,
        mode=mode,
        warnings=_path_warnings(path, freq) | variability_flags,
        free_space_db=free_space_db,
        a_ref_db=a_ref_db,
        distance_m=path.distance_m,
        delta_h_m=delta_h,
        n_s=n_s,
        h_e_m=h_e,
        d_hzn_m=d_hzn,
        theta_hzn_rad=theta_hzn,
    )


def itm_loss_db(
    elevation_m: np.ndarray,
    intervals: np.ndarray,
    spacing_m: np.ndarray | float,
    **params: float | int | np.ndarray,
) -> np.ndarray:
    """Basic transmission loss (dB) per profile; the arguments of :func:`itm_point_to_point`."""
    return itm_point_to_point(elevation_m, intervals, spacing_m, **params).loss_db  # type: ignore[arg-type]


def itm_loss_db_pfl(pfl: Sequence[float], **params: float | int) -> float:
    """Basic transmission loss (dB) of one path given as an NTIA pfl list [n, spacing, z0..zn]."""
    elevation_m, intervals, spacing_m = pack_pfls([pfl])
    return float(itm_loss_db(elevation_m, intervals, spacing_m, **params)[0])
