"""Outputs: plan.gpkg, summary.json, coverage.tif and map.png, written atomically as one folder."""

from __future__ import annotations

import json
from pathlib import Path

from coverageplan.atomic import atomic_directory
from coverageplan.region.io import write_layers
from coverageplan.report.maps import coverage_signal, draw_map, write_coverage_raster
from coverageplan.report.tables import (
    PlanContext,
    fibre_route_layer,
    site_layer,
    summary,
    village_layer,
)

__all__ = ["PlanContext", "write_outputs"]


def write_outputs(context: PlanContext, directory: Path, timings_s: dict[str, float]) -> Path:
    """Write every output into ``directory``; on failure nothing of this run is left."""
    with atomic_directory(directory) as staging:
        write_layers(
            {
                "villages": village_layer(context),
                "sites": site_layer(context),
                "fibre_routes": fibre_route_layer(context),
                "fibre": context.region.fibre,
                "towers": context.region.towers,
            },
            staging / "plan.gpkg",
        )
        (staging / "summary.json").write_text(
            json.dumps(summary(context, timings_s), indent=2, ensure_ascii=False) + "\n",
            encoding="utf-8",
        )
        signal = coverage_signal(context)
        write_coverage_raster(*signal, context.region.crs, staging / "coverage.tif")
        if context.scenario.outputs.map:
            draw_map(context, staging / "map.png", signal)
    return directory
