"""OpenStreetMap extracts (``.osm.pbf``, ``.osm`` XML, ...) read with pyosmium.

Places are nodes tagged ``place=town|village|hamlet|isolated_dwelling`` (their
``population`` tag when present); roads are ways tagged ``highway`` of the
classes in :data:`ROAD_CLASSES`, kept as WGS84 line strings.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import osmium
import pandas as pd
import shapely

from coverageplan.errors import InputError

PLACE_TYPES = ("town", "village", "hamlet", "isolated_dwelling")
ROAD_CLASSES = frozenset(
    "motorway trunk primary secondary tertiary unclassified residential service track "
    "motorway_link trunk_link primary_link secondary_link tertiary_link living_street road".split()
)
"""Highway classes a fibre trench can follow (footpaths, steps and the like excluded)."""


def _check(path: Path) -> None:
    if not path.is_file():
        raise InputError(f"{path}: OSM file not found")


def read_places(path: Path) -> pd.DataFrame:
    """Settlement nodes: ``village_id`` (``osm:node/ID``), name, place, population, lon, lat."""
    _check(path)
    rows = []
    try:
        nodes = osmium.FileProcessor(str(path), osmium.osm.NODE).with_filter(
            osmium.filter.TagFilter(*(("place", kind) for kind in PLACE_TYPES))
        )
        for node in nodes:  # the reader streams objects; each is valid only inside the loop
            assert isinstance(node, osmium.osm.Node)
            tags = node.tags
            rows.append(
                (
                    node.id,
                    tags.get("name"),
                    tags.get("place"),
                    tags.get("population"),
                    node.location.lon,
                    node.location.lat,
                )
            )
    except RuntimeError as error:
        raise InputError(f"{path}: cannot read OSM extract ({error})") from None
    if not rows:
        raise InputError(
            f"{path}: no place={'|'.join(PLACE_TYPES)} nodes in this OSM extract; "
            "check it covers the planning area (or give the villages as a table)"
        )
    frame = pd.DataFrame(rows, columns=["osm_id", "name", "place", "population", "lon", "lat"])
    population = pd.to_numeric(
        frame["population"].str.replace(r"[ ,.]", "", regex=True), errors="coerce"
    )
    return frame.assign(
        village_id="osm:node/" + frame["osm_id"].astype(str), population=population
    ).drop(columns="osm_id")


def read_roads(path: Path) -> tuple[np.ndarray, pd.DataFrame]:
    """Road ways as WGS84 line strings and a table of their ``highway`` class and OSM id."""
    _check(path)
    coords: list[list[tuple[float, float]]] = []
    rows = []
    try:
        ways = (
            osmium.FileProcessor(str(path))
            .with_locations()
            .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
            .with_filter(osmium.filter.KeyFilter("highway"))
        )
        for way in ways:
            assert isinstance(way, osmium.osm.Way)
            kind = way.tags.get("highway")
            if kind in ROAD_CLASSES and len(way.nodes) >= 2:
                coords.append([(node.lon, node.lat) for node in way.nodes])
                rows.append((way.id, kind))
    except (RuntimeError, osmium.InvalidLocationError) as error:
        raise InputError(f"{path}: cannot read OSM roads ({error})") from None
    if not rows:
        raise InputError(f"{path}: no highway ways in this OSM extract; drop 'roads' or fix it")
    lines = shapely.linestrings(
        np.concatenate(coords), indices=np.repeat(np.arange(len(coords)), [len(c) for c in coords])
    )
    return lines, pd.DataFrame(rows, columns=["osm_id", "highway"])
