"""The coverage map: villages by chosen option over hillshaded terrain, with networks."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import shapely
from matplotlib.collections import LineCollection
from matplotlib.colors import LightSource, LinearSegmentedColormap
from matplotlib.lines import Line2D
from rasterio.transform import from_bounds

from coverageplan.engineering.radio import SITE_NEW, SITE_UPGRADE, signal_grid
from coverageplan.region.io import write_float_raster
from coverageplan.report.tables import PlanContext, option_names

OPTION_COLOURS = {
    "fibre": "#1f5fbf",
    "cellular": "#e08a00",
    "satellite": "#8a3fb5",
    "consolidate": "#0f9d8a",
    "none": "#9a9a9a",
}
EXISTING_4G_COLOUR = "#f6c67a"
RELIEF_COLOURS = LinearSegmentedColormap.from_list(
    "relief", ["#e9efd9", "#dfe3bf", "#d8c9a0", "#bfa583", "#a89a8e", "#f4f4f4"]
)
MAX_DEM_PIXELS = 1_500


def nice_length_m(span_m: float) -> float:
    """A round scale-bar length (1, 2 or 5 × 10^k m) near a fifth of ``span_m``."""
    target = span_m / 5.0
    power = 10.0 ** np.floor(np.log10(target))
    for step in (5.0, 2.0, 1.0):
        if step * power <= target:
            return step * power
    return power


def _scatter(ax: plt.Axes, xy: np.ndarray, **style: object) -> None:
    """Scatter (k, 2) points with a style."""
    ax.scatter(xy[:, 0], xy[:, 1], **style)  # type: ignore[arg-type]


def _line_segments(geometries: np.ndarray) -> list[np.ndarray]:
    """Vertex arrays of (multi)line geometries, for a LineCollection."""
    if len(geometries) == 0:
        return []
    parts = shapely.get_parts(geometries)
    coordinates, index = shapely.get_coordinates(parts, return_index=True)
    breaks = np.flatnonzero(np.diff(index)) + 1
    return np.split(coordinates, breaks)


def coverage_signal(
    context: PlanContext,
) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """Best RSRP (dBm) on a grid from existing 4G/5G towers and the plan's built sites."""
    radio, settings = context.reach.radio, context.scenario.engineering.radio
    built = context.plan.sites_built
    xy = np.concatenate([radio.existing_xy, radio.site_xy[built]]).reshape(-1, 2)
    height = np.concatenate([radio.existing_height_m, radio.site_height_m[built]])
    return signal_grid(
        context.region.terrain, xy, height, settings, cell_m=settings.coverage_raster_cell_m
    )


def write_coverage_raster(
    grid: np.ndarray, bounds: tuple[float, float, float, float], crs: object, path: Path
) -> None:
    """Write the best-signal grid (dBm; NaN = no signal) as a GeoTIFF, atomically."""
    rows, cols = grid.shape
    write_float_raster(
        grid,
        crs,
        from_bounds(*bounds, cols, rows),
        path,
        tags={"units": "dBm", "quantity": "best RSRP from existing and built sites"},
    )


def draw_map(
    context: PlanContext,
    path: Path,
    signal: tuple[np.ndarray, tuple[float, float, float, float]] | None = None,
) -> None:
    """Write ``map.png``: hillshade, best signal, backbone, new fibre, sites, villages by option."""
    terrain = context.region.terrain
    stride = max(1, int(np.ceil(max(terrain.elevation_m.shape) / MAX_DEM_PIXELS)))
    elevation = terrain.elevation_m[::stride, ::stride]
    dx, dy = (size * stride for size in terrain.cell_size_m)
    xmin, ymin, xmax, ymax = terrain.bounds
    light = LightSource(azdeg=315, altdeg=40)
    relief = light.shade(
        elevation,
        cmap=RELIEF_COLOURS,
        blend_mode="soft",
        vert_exag=2.0,
        dx=dx,
        dy=dy,
        vmin=float(elevation.min()),
        vmax=float(elevation.max()),
    )

    fig, ax = plt.subplots(figsize=(13, 10), dpi=130)
    ax.imshow(relief, extent=(xmin, xmax, ymin, ymax), origin="upper", interpolation="bilinear")
    if signal is not None:
        grid, (sx0, sy0, sx1, sy1) = signal
        floor = context.scenario.engineering.radio.min_rsrp_dbm
        shown = np.ma.masked_where(~(grid >= floor), grid)
        image = ax.imshow(
            shown,
            extent=(sx0, sx1, sy0, sy1),
            origin="upper",
            cmap="YlOrRd",
            vmin=floor,
            vmax=floor + 40.0,
            alpha=0.45,
            interpolation="nearest",
            zorder=2,
        )
        colour_bar = fig.colorbar(image, ax=ax, shrink=0.35, pad=0.01, location="left")
        colour_bar.set_label("best RSRP, dBm (existing + built sites)", fontsize=8)

    backbone = _line_segments(context.region.fibre.geometry.to_numpy())
    ax.add_collection(LineCollection(backbone, colors="#202020", linewidths=2.0, zorder=3))
    built = np.flatnonzero(context.plan.edges_built & (context.reach.fibre.edge_length_m > 0))
    reach = context.reach
    spurs = np.stack([reach.village_xy[built], reach.fibre.attach_xy[built]], axis=1)
    ax.add_collection(
        LineCollection(list(spurs), colors=OPTION_COLOURS["fibre"], linewidths=0.9, zorder=3)
    )

    towers = context.region.towers
    if len(towers):
        tower_xy = shapely.get_coordinates(towers.geometry.to_numpy())
        modern = towers["tech"].isin(["4g", "5g"]).to_numpy()
        _scatter(ax, tower_xy[modern], marker="^", s=28, c="#111111", zorder=5, linewidths=0)
        _scatter(
            ax,
            tower_xy[~modern],
            marker="^",
            s=28,
            facecolors="white",
            edgecolors="#111111",
            linewidths=0.8,
            zorder=5,
        )
    kind, sites_built = reach.radio.site_kind, context.plan.sites_built
    site_xy = reach.radio.site_xy
    _scatter(
        ax,
        site_xy[sites_built & (kind == SITE_UPGRADE)],
        marker="^",
        s=60,
        c="#d62728",
        edgecolors="#111111",
        linewidths=0.8,
        zorder=6,
    )
    _scatter(
        ax,
        site_xy[sites_built & (kind == SITE_NEW)],
        marker="*",
        s=120,
        c="#d62728",
        edgecolors="#111111",
        linewidths=0.6,
        zorder=6,
    )

    names = option_names(context.plan.choice)
    existing = (names == "cellular") & reach.radio.existing_cover
    population = context.region.villages["population"].to_numpy(dtype=float)
    size = np.clip(np.sqrt(population) / 2.5, 2.0, 40.0) * (2_000 / max(len(names), 2_000)) ** 0.5
    layers = [
        ("none", names == "none", OPTION_COLOURS["none"]),
        ("cellular, existing 4G", existing, EXISTING_4G_COLOUR),
        (
            "cellular, new or upgraded site",
            (names == "cellular") & ~existing,
            OPTION_COLOURS["cellular"],
        ),
        ("satellite", names == "satellite", OPTION_COLOURS["satellite"]),
        ("consolidated into a host", names == "consolidate", OPTION_COLOURS["consolidate"]),
        ("fibre", names == "fibre", OPTION_COLOURS["fibre"]),
    ]
    for _, mask, colour in layers:
        _scatter(
            ax,
            reach.village_xy[mask],
            s=size[mask],
            c=colour,
            edgecolors="#333333",
            linewidths=0.2,
            zorder=4,
            rasterized=True,
        )

    handles = [
        Line2D(
            [],
            [],
            marker="o",
            ls="",
            color=colour,
            mec="#333333",
            mew=0.3,
            label=f"{label} ({int(mask.sum()):,} villages)",
        )
        for label, mask, colour in reversed(layers)
    ] + [
        Line2D([], [], color="#202020", lw=2.0, label="existing fibre backbone"),
        Line2D([], [], color=OPTION_COLOURS["fibre"], lw=0.9, label="new fibre"),
        Line2D([], [], marker="^", ls="", color="#111111", label="existing 4G/5G tower"),
        Line2D([], [], marker="^", ls="", mfc="white", mec="#111111", label="existing 2G/3G tower"),
        Line2D([], [], marker="^", ls="", mfc="#d62728", mec="#111111", label="upgraded to 4G"),
        Line2D([], [], marker="*", ls="", ms=11, mfc="#d62728", mec="#111111", label="new 4G site"),
        Line2D([], [], ls="", label="marker size ∝ √population"),
    ]
    ax.legend(
        handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False
    )

    # Scale bar and north arrow, lower left.
    span = xmax - xmin
    bar = nice_length_m(span)
    x0, y0 = xmin + 0.04 * span, ymin + 0.04 * (ymax - ymin)
    ax.plot([x0, x0 + bar], [y0, y0], color="black", lw=4, solid_capstyle="butt", zorder=7)
    ax.plot(
        [x0, x0 + bar],
        [y0, y0],
        color="white",
        lw=2,
        solid_capstyle="butt",
        zorder=7,
        dashes=(bar / span * 100, bar / span * 100),
    )
    label = f"{bar / 1_000:g} km" if bar >= 1_000 else f"{bar:g} m"
    ax.text(
        x0 + bar / 2,
        y0 + 0.012 * (ymax - ymin),
        label,
        ha="center",
        va="bottom",
        fontsize=9,
        zorder=7,
    )
    ax.annotate(
        "N",
        xy=(x0, y0 + 0.13 * (ymax - ymin)),
        xytext=(x0, y0 + 0.06 * (ymax - ymin)),
        ha="center",
        fontsize=10,
        fontweight="bold",
        arrowprops={"arrowstyle": "-|>", "color": "black"},
        zorder=7,
    )

    plan, problem = context.plan, context.problem
    served = plan.choice >= 0
    served_share = population[served].sum() / max(population.sum(), 1)
    public = max(plan.total_cost, 0.0)
    budget = f" of {problem.budget / 1e6:,.2f}" if np.isfinite(problem.budget) else ""
    mechanism = context.scenario.policy.subsidy.mechanism.replace("_", " ")
    ax.set_title(
        f"{context.scenario.name}: {served_share:.1%} of {int(population.sum()):,} people served — "
        f"public money {public / 1e6:,.2f}{budget} M USD ({mechanism}), "
        f"{public / max(population[served].sum(), 1):,.1f} USD per person connected; "
        f"status {plan.status}",
        fontsize=10,
    )
    ax.set_xlim(xmin, xmax)
    ax.set_ylim(ymin, ymax)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.text(
        0.995,
        0.003,
        f"{context.region.crs.name}",
        transform=ax.transAxes,
        ha="right",
        va="bottom",
        fontsize=7,
        color="#333333",
    )
    fig.tight_layout()
    fig.savefig(path, format="png", bbox_inches="tight")
    plt.close(fig)
