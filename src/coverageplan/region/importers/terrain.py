"""Terrain importers: SRTM ``.hgt`` / ``.hgt.zip`` tiles and GeoTIFF DEMs, mosaicked.

An SRTM tile named ``N42E001`` covers lon 1–2 E, lat 42–43 N with 1201 × 1201
(3 arc-second) or 3601 × 3601 (1 arc-second) big-endian int16 samples,
pixel-centre registered (the first sample sits exactly on 43 N, 1 E), void −32768.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import numpy as np
from affine import Affine

from coverageplan.errors import InputError
from coverageplan.region.importers.crs import WGS84
from coverageplan.region.io import read_raster
from coverageplan.region.model import Terrain

HGT_VOID = -32768
_HGT_SIDES = {1201: "3 arc-second", 3601: "1 arc-second"}
_HGT_NAME = re.compile(r"([NS])(\d{2})([EW])(\d{3})", re.IGNORECASE)


def _hgt_bytes(path: Path) -> tuple[bytes, str]:
    """The raw samples of a tile and the tile's name (``N42E001``)."""
    if path.suffix.lower() != ".zip":
        return path.read_bytes(), path.name
    with zipfile.ZipFile(path) as archive:
        members = [name for name in archive.namelist() if name.lower().endswith(".hgt")]
        if not members:
            raise InputError(f"{path}: the zip holds no .hgt tile")
        return archive.read(members[0]), Path(members[0]).name


def read_hgt(path: Path) -> Terrain:
    """One SRTM tile in WGS84 (NaN at voids); its corner comes from the file name."""
    try:
        data, name = _hgt_bytes(path)
    except (OSError, zipfile.BadZipFile) as error:
        raise InputError(f"{path}: cannot read SRTM tile ({error})") from None
    match = _HGT_NAME.search(name) or _HGT_NAME.search(path.name)
    if match is None:
        raise InputError(f"{path}: an SRTM tile must be named like N42E001.hgt (its SW corner)")
    side = round(np.sqrt(len(data) / 2))
    if side not in _HGT_SIDES or side * side * 2 != len(data):
        raise InputError(
            f'{path}: {len(data)} bytes is neither a 1201² (3") nor a 3601² (1") SRTM tile'
        )
    elevation = np.frombuffer(data, dtype=">i2").reshape(side, side).astype(np.float32)
    elevation[elevation == HGT_VOID] = np.nan
    lat_sw = int(match[2]) * (1 if match[1].upper() == "N" else -1)
    lon_sw = int(match[4]) * (1 if match[3].upper() == "E" else -1)
    step_deg = 1.0 / (side - 1)
    # pixel-centre registration: cell (0, 0) is centred on the NW corner
    transform = Affine(step_deg, 0, lon_sw - step_deg / 2, 0, -step_deg, lat_sw + 1 + step_deg / 2)
    return Terrain(elevation_m=elevation, transform=transform, crs=WGS84)


def read_tile(path: Path) -> Terrain:
    """An SRTM tile (``.hgt``, ``.hgt.zip``) or any raster rasterio reads."""
    if not path.is_file():
        raise InputError(f"{path}: DEM file not found")
    name = path.name.lower()
    if name.endswith((".hgt", ".hgt.zip")):
        return read_hgt(path)
    return read_raster(path)


def mosaic(tiles: list[Terrain], sources: list[Path]) -> Terrain:
    """Tiles on one grid (same CRS and cell size) pasted into their bounding grid; NaN between."""
    first = tiles[0]
    step_x, step_y = first.transform.a, first.transform.e
    for tile, path in zip(tiles[1:], sources[1:], strict=True):
        same_step = np.isclose([tile.transform.a, tile.transform.e], [step_x, step_y]).all()
        if tile.crs != first.crs or not same_step:
            raise InputError(
                f"{path}: DEM tiles must share a CRS and cell size to be mosaicked "
                f"(first tile {sources[0]}); resample it first"
            )
    if len(tiles) == 1:
        return first
    left = min(t.transform.c for t in tiles)
    top = max(t.transform.f for t in tiles)
    offsets = [
        (round((top - t.transform.f) / -step_y), round((t.transform.c - left) / step_x))
        for t in tiles
    ]
    rows = max(r + t.elevation_m.shape[0] for (r, _), t in zip(offsets, tiles, strict=True))
    cols = max(c + t.elevation_m.shape[1] for (_, c), t in zip(offsets, tiles, strict=True))
    grid = np.full((rows, cols), np.nan, dtype=np.float32)
    for (row, col), tile in zip(offsets, tiles, strict=True):
        height, width = tile.elevation_m.shape
        window = grid[row : row + height, col : col + width]
        np.copyto(window, tile.elevation_m, where=~np.isnan(tile.elevation_m))
    transform = Affine(step_x, 0, left, 0, step_y, top)
    return Terrain(elevation_m=grid, transform=transform, crs=first.crs)


def read_dem(paths: list[Path]) -> Terrain:
    """All DEM files mosaicked, voids still NaN, in their own CRS."""
    if not paths:
        raise InputError("region.files.dem: list at least one DEM file (.hgt, .hgt.zip, .tif)")
    return mosaic([read_tile(path) for path in paths], paths)
