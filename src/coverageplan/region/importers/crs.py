"""Coordinate helpers: any input CRS to WGS84, and GCJ-02 (Chinese web maps) to WGS84.

GCJ-02 is WGS84 shifted by a published, deterministic offset (the "Mars
coordinates" of Chinese web maps): a polynomial-plus-sine formula on the
Krasovsky 1940 ellipsoid, defined only inside China's bounding box. The forward
formula is described e.g. in the Wikipedia article "Restrictions on geographic
data in China"; the inverse here is its fixed-point iteration, accurate to
about 1 mm after a few steps.
"""

from __future__ import annotations

import numpy as np
from pyproj import CRS, Transformer

from coverageplan.errors import InputError

WGS84 = CRS.from_epsg(4326)
_KRASOVSKY_A_M = 6_378_245.0
_KRASOVSKY_E2 = 0.00669342162296594323
_CHINA_BOUNDS = (72.004, 0.8293, 137.8347, 55.8271)  # lon_min, lat_min, lon_max, lat_max


def parse_crs(value: str, source: str) -> CRS:
    """A CRS from an EPSG code ("EPSG:2154", "2154") or WKT; InputError naming ``source``."""
    try:
        return CRS.from_user_input(int(value) if str(value).isdigit() else value)
    except Exception as error:
        raise InputError(f"{source}: crs {value!r} is not an EPSG code or WKT ({error})") from None


def to_wgs84(
    x: np.ndarray, y: np.ndarray, crs: CRS, *, gcj02: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Longitude and latitude (degrees, WGS84) of points given in ``crs``."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if crs != WGS84:
        x, y = Transformer.from_crs(crs, WGS84, always_xy=True).transform(x, y)
        x, y = np.asarray(x, float), np.asarray(y, float)
    if gcj02:
        x, y = gcj02_to_wgs84(x, y)
    return x, y


def _in_china(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    lon_min, lat_min, lon_max, lat_max = _CHINA_BOUNDS
    return (lon >= lon_min) & (lon <= lon_max) & (lat >= lat_min) & (lat <= lat_max)


def _offset_deg(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The GCJ-02 shift (degrees of lon, lat) at WGS84 points; zero outside China."""
    x, y = lon - 105.0, lat - 35.0
    root = np.sqrt(np.abs(x))
    ripple = 20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)
    d_lat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * root
    d_lat += ripple * 2.0 / 3.0
    d_lat += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    d_lat += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    d_lon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * root
    d_lon += ripple * 2.0 / 3.0
    d_lon += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    d_lon += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    rad_lat = np.radians(lat)
    w = 1.0 - _KRASOVSKY_E2 * np.sin(rad_lat) ** 2
    d_lat = d_lat * 180.0 / (_KRASOVSKY_A_M * (1.0 - _KRASOVSKY_E2) / (w * np.sqrt(w)) * np.pi)
    d_lon = d_lon * 180.0 / (_KRASOVSKY_A_M / np.sqrt(w) * np.cos(rad_lat) * np.pi)
    inside = _in_china(lon, lat)
    return np.where(inside, d_lon, 0.0), np.where(inside, d_lat, 0.0)


def wgs84_to_gcj02(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 longitude and latitude (degrees) of WGS84 points."""
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    d_lon, d_lat = _offset_deg(lon, lat)
    return lon + d_lon, lat + d_lat


def gcj02_to_wgs84(
    lon: np.ndarray, lat: np.ndarray, *, steps: int = 6
) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 longitude and latitude (degrees) of GCJ-02 points, by fixed-point iteration."""
    gcj_lon, gcj_lat = np.asarray(lon, float), np.asarray(lat, float)
    wgs_lon, wgs_lat = gcj_lon.copy(), gcj_lat.copy()
    for _ in range(steps):  # the shift varies slowly, so each step gains ~5 digits
        d_lon, d_lat = _offset_deg(wgs_lon, wgs_lat)
        wgs_lon, wgs_lat = gcj_lon - d_lon, gcj_lat - d_lat
    return wgs_lon, wgs_lat
