"""ITM point-to-point: NTIA's reference cases, physics on synthetic profiles, bad input."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pytest

from coverageplan.engineering.itm import (
    MODE_DIFFRACTION,
    MODE_LINE_OF_SIGHT,
    MODE_TROPOSCATTER,
    WARN_DISTANCE_UNDER_1_KM,
    itm_loss_db,
    itm_loss_db_pfl,
    itm_point_to_point,
    pack_pfls,
)

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "ntia_itm"
TOLERANCE_DB = 0.05
MEDIAN = {"mdvar": 12, "time_pct": 50.0, "location_pct": 50.0, "situation_pct": 50.0}


@pytest.fixture(scope="module")
def ntia_cases() -> tuple[list[list[float]], dict[str, np.ndarray]]:
    """NTIA/ITS ITM v1.4 test vectors: p2p.csv inputs and expected A__db, pfls.csv profiles."""
    if not (REFERENCE / "p2p.csv").exists() or not (REFERENCE / "pfls.csv").exists():
        pytest.skip(f"NTIA ITM reference data not found at {REFERENCE}")
    with (REFERENCE / "p2p.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    columns = {key: np.array([float(row[key]) for row in rows]) for key in rows[0]}
    lines = (REFERENCE / "pfls.csv").read_text().splitlines()
    pfls = [[float(v) for v in line.split(",")] for line in lines if line.strip()]
    assert len(pfls) == len(rows)
    return pfls, columns


def _ntia_params(columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {
        "tx_height_m": columns["h_tx__meter"],
        "rx_height_m": columns["h_rx__meter"],
        "freq_mhz": columns["f__mhz"],
        "polarization": columns["pol"].astype(int),
        "climate": columns["climate"].astype(int),
        "n0_n_units": columns["N_0"],
        "epsilon": columns["epsilon"],
        "sigma_s_per_m": columns["sigma"],
        "mdvar": columns["mdvar"].astype(int),
        "time_pct": columns["time"],
        "location_pct": columns["location"],
        "situation_pct": columns["situation"],
    }


def test_ntia_p2p_cases_in_one_batch(ntia_cases):
    """NTIA/ITS ITM repository test data (github.com/NTIA/itm v1.4, p2p.csv and pfls.csv).

    All five point-to-point cases (line of sight, diffraction and troposcatter
    paths of 8 to 368 km) in a single batched call, each within 0.05 dB.
    """
    pfls, columns = ntia_cases
    result = itm_point_to_point(*pack_pfls(pfls), **_ntia_params(columns))
    error_db = np.abs(result.loss_db - columns["A__db"])
    assert error_db.max() < TOLERANCE_DB, error_db
    assert set(result.mode.tolist()) == {
        MODE_LINE_OF_SIGHT,
        MODE_DIFFRACTION,
        MODE_TROPOSCATTER,
    }


def test_ntia_p2p_cases_one_at_a_time(ntia_cases):
    """Same NTIA/ITS test data, each case alone through the single-pfl convenience."""
    pfls, columns = ntia_cases
    params = _ntia_params(columns)
    for case, pfl in enumerate(pfls):
        loss_db = itm_loss_db_pfl(pfl, **{key: value[case].item() for key, value in params.items()})
        assert abs(loss_db - columns["A__db"][case]) < TOLERANCE_DB, case


def _read_driver_output(path: Path) -> dict[str, float]:
    values = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^(\S.*?)\s{2,}(-?[\d.]+)\s", line + " ")
        if match:
            values[match.group(1)] = float(match.group(2))
    return values


def test_ntia_driver_example_intermediate_values():
    """NTIA/ITS ITM driver example (cmd_examples/i_p2ptls.txt, pfl.txt → o_p2ptls.txt).

    Checks each stage against the driver's intermediate values, not only the loss.
    """
    examples = REFERENCE / "cmd_examples"
    if not (examples / "o_p2ptls.txt").exists():
        pytest.skip(f"NTIA ITM driver examples not found at {examples}")
    inputs = dict(
        line.split(",") for line in (examples / "i_p2ptls.txt").read_text().split() if line
    )
    text = (examples / "pfl.txt").read_text().replace("\n", ",")
    pfl = [float(v) for v in text.split(",") if v.strip()]
    expected = _read_driver_output(examples / "o_p2ptls.txt")
    result = itm_point_to_point(
        *pack_pfls([pfl]),
        tx_height_m=float(inputs["h_tx__meter"]),
        rx_height_m=float(inputs["h_rx__meter"]),
        freq_mhz=float(inputs["f__mhz"]),
        polarization=int(inputs["pol"]),
        climate=int(inputs["climate"]),
        n0_n_units=float(inputs["N_0"]),
        epsilon=float(inputs["epsilon"]),
        sigma_s_per_m=float(inputs["sigma"]),
        mdvar=int(inputs["mdvar"]),
        time_pct=float(inputs["time"]),
        location_pct=float(inputs["location"]),
        situation_pct=float(inputs["situation"]),
    )
    assert result.loss_db[0] == pytest.approx(expected["Basic Transmission Loss"], abs=0.05)
    assert result.free_space_db[0] == pytest.approx(expected["Free Space"], abs=0.05)
    assert result.distance_m[0] / 1e3 == pytest.approx(expected["d__km"], abs=5e-4)
    assert result.theta_hzn_rad[0, 0] * 1e3 == pytest.approx(expected["theta_hzn_tx"], abs=5e-4)
    assert result.theta_hzn_rad[1, 0] * 1e3 == pytest.approx(expected["theta_hzn_rx"], abs=5e-4)
    assert result.d_hzn_m[0, 0] == pytest.approx(expected["d_hzn_tx__meter"], abs=0.5)
    assert result.d_hzn_m[1, 0] == pytest.approx(expected["d_hzn_rx__meter"], abs=0.5)
    assert result.h_e_m[:, 0] == pytest.approx(
        [expected["h_e_tx__meter"], expected["h_e_rx__meter"]], abs=0.05
    )
    assert result.n_s[0] == pytest.approx(expected["N_s"], abs=0.05)
    assert result.delta_h_m[0] == pytest.approx(expected["delta_h__meter"], abs=0.05)
    assert result.mode[0] == expected["Mode of Propagation"]
    assert result.warnings[0] == 0


def _profile(
    length_m: float, *, ridge_m: float = 0.0, spacing_m: float = 100.0, base_m: float = 100.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flat ground with an optional triangular ridge (600 m wide) halfway along."""
    intervals = round(length_m / spacing_m)
    x_m = np.arange(intervals + 1) * spacing_m
    ridge = ridge_m * np.maximum(0.0, 1.0 - np.abs(x_m - 0.5 * length_m) / 300.0)
    return (base_m + ridge)[None, :], np.array([intervals]), np.array([spacing_m])


def test_ridge_between_site_and_village_adds_diffraction_loss():
    heights = {"tx_height_m": 30.0, "rx_height_m": 5.0, "freq_mhz": 900.0, **MEDIAN}
    open_path = itm_point_to_point(*_profile(10e3), **heights)
    ridge_heights_m = np.array([50.0, 100.0, 200.0])
    ridged = [itm_point_to_point(*_profile(10e3, ridge_m=h), **heights) for h in ridge_heights_m]
    extra_db = np.array([r.loss_db[0] for r in ridged]) - open_path.loss_db[0]
    # The ridge is each terminal's horizon, and higher ridges cost more.
    assert all(r.d_hzn_m[:, 0] == pytest.approx([5e3, 5e3]) for r in ridged)
    assert np.all(np.diff(extra_db) > 0)
    # Consistent with knife-edge diffraction (ITU-R P.526 J(v)) over the ridge's
    # clearance: ITM blends knife edge with rounded-earth loss, so at most J(v).
    wavelength_m = 299.792458 / 900.0
    clearance_m = ridge_heights_m - 0.5 * (30.0 + 5.0)
    v = clearance_m * np.sqrt(2.0 / wavelength_m * (1 / 5e3 + 1 / 5e3))
    knife_edge_db = 6.9 + 20 * np.log10(np.sqrt((v - 0.1) ** 2 + 1) + v - 0.1)
    assert np.all(extra_db > 0.3 * knife_edge_db)
    assert np.all(extra_db < knife_edge_db + 3.0)


def test_loss_grows_with_distance_and_frequency():
    lengths_m = [2e3, 4e3, 8e3, 15e3, 30e3]
    by_distance = [
        itm_loss_db(*_profile(L), tx_height_m=30.0, rx_height_m=5.0, freq_mhz=900.0)[0]
        for L in lengths_m
    ]
    assert np.all(np.diff(by_distance) > 0)
    freqs_mhz = np.array([100.0, 400.0, 900.0, 2000.0, 5000.0])
    z, n, s = _profile(10e3, ridge_m=50.0)
    batch = np.repeat(z, len(freqs_mhz), axis=0)
    by_freq = itm_loss_db(
        batch,
        np.repeat(n, 5),
        np.repeat(s, 5),
        tx_height_m=30.0,
        rx_height_m=5.0,
        freq_mhz=freqs_mhz,
    )
    assert np.all(np.diff(by_freq) > 0)


def test_smooth_earth_line_of_sight_is_close_to_free_space():
    for length_m in (2e3, 5e3, 10e3):
        result = itm_point_to_point(
            *_profile(length_m), tx_height_m=60.0, rx_height_m=10.0, freq_mhz=900.0, **MEDIAN
        )
        assert result.mode[0] == MODE_LINE_OF_SIGHT
        assert abs(result.loss_db[0] - result.free_space_db[0]) < 3.0


def test_batch_equals_one_at_a_time():
    rng = np.random.default_rng(4)
    intervals = rng.integers(20, 150, size=12)
    spacing_m = rng.uniform(80.0, 120.0, size=12)
    walk = np.cumsum(rng.normal(0.0, 8.0, size=(12, 151)), axis=1) + 400.0
    params = {
        "tx_height_m": rng.uniform(10.0, 60.0, size=12),
        "rx_height_m": rng.uniform(1.5, 10.0, size=12),
        "freq_mhz": rng.uniform(100.0, 3500.0, size=12),
        "polarization": rng.integers(0, 2, size=12),
        "climate": rng.integers(1, 8, size=12),
        "mdvar": rng.choice([1, 2, 3, 12, 23], size=12),
        "time_pct": rng.uniform(10.0, 90.0, size=12),
        "location_pct": rng.uniform(10.0, 90.0, size=12),
        "situation_pct": rng.uniform(10.0, 90.0, size=12),
    }
    padded = np.where(np.arange(151) <= intervals[:, None], walk, np.nan)  # padding ignored
    batch = itm_point_to_point(padded, intervals, spacing_m, **params)
    for i in range(12):
        pfl = [intervals[i], spacing_m[i], *walk[i, : intervals[i] + 1]]
        alone = itm_loss_db_pfl(pfl, **{key: value[i].item() for key, value in params.items()})
        assert batch.loss_db[i] == pytest.approx(alone, abs=1e-9)


def test_blocks_do_not_change_results():
    rng = np.random.default_rng(5)
    walk = np.cumsum(rng.normal(0.0, 10.0, size=(40, 121)), axis=1) + 800.0
    intervals = rng.integers(10, 121, size=40)
    link = {"tx_height_m": 25.0, "rx_height_m": 3.0, "freq_mhz": 700.0}
    whole = itm_loss_db(walk, intervals, 90.0, **link)
    in_blocks = itm_loss_db(walk, intervals, 90.0, chunk_profiles=7, **link)
    np.testing.assert_allclose(whole, in_blocks, rtol=0, atol=1e-9)


def test_finite_over_the_whole_parameter_range():
    rng = np.random.default_rng(6)
    count = 600
    intervals = rng.integers(2, 400, size=count)
    roughness_m = 10 ** rng.uniform(-1, 1.5, size=(count, 1))
    walk = np.cumsum(rng.normal(0.0, 1.0, size=(count, 401)), axis=1) * roughness_m
    elevation_m = np.where(rng.random((count, 1)) < 0.1, 0.0, walk - walk.min() + 50.0)
    result = itm_point_to_point(
        elevation_m,
        intervals,
        10 ** rng.uniform(1, 3, size=count),
        tx_height_m=10 ** rng.uniform(np.log10(0.5), np.log10(3000), size=count),
        rx_height_m=10 ** rng.uniform(np.log10(0.5), np.log10(3000), size=count),
        freq_mhz=10 ** rng.uniform(np.log10(20), np.log10(20_000), size=count),
        polarization=rng.integers(0, 2, size=count),
        climate=rng.integers(1, 8, size=count),
        mdvar=rng.choice([0, 1, 2, 3, 13, 22, 33], size=count),
        time_pct=rng.uniform(1, 99, size=count),
        location_pct=rng.uniform(1, 99, size=count),
        situation_pct=rng.uniform(1, 99, size=count),
    )
    assert np.all(np.isfinite(result.loss_db))
    assert set(np.unique(result.mode)) == {1, 2, 3}


def test_empty_batch_gives_empty_result():
    result = itm_point_to_point(
        np.empty((0, 5)),
        np.empty(0, dtype=int),
        np.empty(0),
        tx_height_m=30.0,
        rx_height_m=5.0,
        freq_mhz=900.0,
    )
    assert result.loss_db.shape == (0,)
    assert result.h_e_m.shape == (2, 0)


def test_short_path_is_flagged_not_rejected():
    result = itm_point_to_point(*_profile(500.0), tx_height_m=30.0, rx_height_m=5.0, freq_mhz=900)
    assert np.isfinite(result.loss_db[0])
    assert result.warnings[0] & WARN_DISTANCE_UNDER_1_KM


def test_pack_pfls_rejects_inconsistent_point_count():
    with pytest.raises(ValueError, match="pfl 0"):
        pack_pfls([[3, 100.0, 1.0, 2.0]])


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("freq_mhz", 10.0, r"freq_mhz\[0\] = 10.0 is outside the ITM range \[20.0, 20000.0\] MHz"),
        ("freq_mhz", 25_000.0, r"freq_mhz\[0\] = 25000.0 is outside"),
        ("tx_height_m", 0.2, r"tx_height_m\[0\] = 0.2 is outside the ITM range \[0.5, 3000.0\]"),
        ("tx_height_m", 3500.0, r"tx_height_m\[0\] = 3500.0"),
        ("rx_height_m", 0.1, r"rx_height_m\[0\] = 0.1"),
        ("n0_n_units", 200.0, r"n0_n_units\[0\] = 200.0 is outside the ITM range \[250.0, 400.0\]"),
        ("n0_n_units", 450.0, r"n0_n_units\[0\] = 450.0"),
        ("time_pct", 0.0, r"time_pct\[0\] = 0.0 must lie in \(0.0, 100.0\)"),
        ("location_pct", 100.0, r"location_pct\[0\] = 100.0 must lie in"),
        ("situation_pct", -5.0, r"situation_pct\[0\] = -5.0 must lie in"),
        ("climate", 8, r"climate\[0\] = 8 is not one of"),
        ("polarization", 2, r"polarization\[0\] = 2 is not one of"),
        ("mdvar", 4, r"mdvar\[0\] = 4 is not one of"),
        ("epsilon", 0.5, r"epsilon\[0\] = 0.5 must lie in"),
        ("sigma_s_per_m", 0.0, r"sigma_s_per_m\[0\] = 0.0 must lie in"),
    ],
)
def test_bad_parameter_is_a_clear_error(name, value, message):
    params = {"tx_height_m": 30.0, "rx_height_m": 5.0, "freq_mhz": 900.0, name: value}
    with pytest.raises(ValueError, match=message):
        itm_point_to_point(*_profile(5e3), **params)


def test_bad_value_is_located_in_the_batch():
    z, n, s = _profile(5e3)
    heights_m = np.array([30.0, 30.0, 5000.0])
    with pytest.raises(ValueError, match=r"tx_height_m\[2\] = 5000.0"):
        itm_loss_db(
            np.repeat(z, 3, axis=0),
            np.repeat(n, 3),
            np.repeat(s, 3),
            tx_height_m=heights_m,
            rx_height_m=5.0,
            freq_mhz=900.0,
        )


def test_dem_void_in_profile_is_a_clear_error():
    z, n, s = _profile(5e3)
    z[0, 17] = np.nan
    with pytest.raises(ValueError, match=r"elevation_m\[0, 17\] is NaN \(a DEM void\)"):
        itm_loss_db(z, n, s, tx_height_m=30.0, rx_height_m=5.0, freq_mhz=900.0)


def test_terrain_too_high_for_the_refractivity_model_is_a_clear_error():
    z, n, s = _profile(5e3, base_m=9_000.0)
    with pytest.raises(
        ValueError, match=r"surface refractivity N_s\[0\] = .* outside \[150, 400\]"
    ):
        itm_loss_db(z, n, s, tx_height_m=30.0, rx_height_m=5.0, freq_mhz=900.0)


def test_profile_layout_is_checked():
    z, n, s = _profile(5e3)
    with pytest.raises(ValueError, match=r"intervals\[0\] = 60: a profile needs 2 to 50 intervals"):
        itm_loss_db(z, n + 10, s, tx_height_m=30.0, rx_height_m=5.0, freq_mhz=900.0)
    with pytest.raises(ValueError, match=r"spacing_m\[0\] = 0.0 must lie in"):
        itm_loss_db(z, n, s * 0.0, tx_height_m=30.0, rx_height_m=5.0, freq_mhz=900.0)
