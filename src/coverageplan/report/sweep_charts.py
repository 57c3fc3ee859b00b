"""Sweep charts and robustness outputs, drawn from ``sweep.parquet`` beside it.

* ``frontier.png``: coverage over the budget, a line per combination of the
  other parameters (e.g. per subsidy mechanism).
* ``heatmap.png``: mean coverage over two swept parameters.
* Monte Carlo sweeps: ``percentiles.png`` (5-95 % and 25-75 % bands and the
  median of coverage across draws, over the budget); ``village_shares.parquet``
  (per combination of the other parameters and village: how often each
  option was chosen across draws, and the modal option's share, its
  *stability*); ``stability.gpkg`` and ``stability.png`` maps of the first
  combinations.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import geopandas as gpd
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import shapely
from matplotlib.axes import Axes
from matplotlib.ticker import FuncFormatter

from coverageplan.atomic import atomic_file
from coverageplan.pipeline import Engineered
from coverageplan.region.io import write_layers
from coverageplan.report.maps import OPTION_COLOURS
from coverageplan.report.tables import OPTION_LABELS
from coverageplan.scenario import Scenario

COVERAGE = "population_served_share"
MAX_LABELLED_LINES = 12  # more combinations are drawn as thin unlabelled lines
MAX_STABILITY_MAPS = 4
GRID_FILL = 0.25  # cells only when at least this share of the x × y cells holds points


def budget_axis(ax: Axes, x: str) -> None:
    """Label the budget axis: a share of the greedy full cost, or millions of USD."""
    if x == "budget_share":
        ax.set_xlabel("budget (share of the greedy full cost)")
        return
    ax.set_xlabel("budget (million USD)")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value / 1e6:g}"))


def _save(fig: plt.Figure, path: Path) -> Path:
    with atomic_file(path) as temporary:
        fig.savefig(temporary, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def budget_column(table: pd.DataFrame) -> str:
    """The budget axis: ``budget_share`` when budgets are relative, else ``budget_usd``."""
    return "budget_share" if "budget_share" in table else "budget_usd"


def short(key: str) -> str:
    """A key's last two parts, for labels (``policy.subsidy.mechanism``: ``subsidy.mechanism``)."""
    return ".".join(key.split(".")[-2:])


def combination_labels(table: pd.DataFrame, keys: list[str]) -> pd.Series:
    """A label per row naming its values of ``keys`` ('all' when there are none)."""
    if not keys:
        return pd.Series("all", index=table.index)
    parts = [
        table[key].map(
            lambda v, k=key: f"{short(k)}={v:.4g}" if isinstance(v, float) else f"{short(k)}={v}"
        )
        for key in keys
    ]
    label = parts[0]
    for part in parts[1:]:
        label = label + ", " + part
    return label


def varying(table: pd.DataFrame, keys: list[str]) -> list[str]:
    """The keys whose column takes more than one value."""
    return [key for key in keys if key in table and table[key].nunique(dropna=False) > 1]


def frontier_chart(table: pd.DataFrame, others: list[str], path: Path) -> Path:
    """Coverage over the budget, a line per combination of ``others``."""
    x = budget_column(table)
    labels = combination_labels(table, others)
    fig, ax = plt.subplots(figsize=(8, 5))
    groups = list(table.groupby(labels, sort=False))
    for label, group in groups:
        group = group.sort_values(x)
        many = len(groups) > MAX_LABELLED_LINES
        ax.plot(
            group[x],
            100 * group[COVERAGE],
            color="#6b7a8f" if many else None,
            linewidth=0.6 if many else 1.8,
            alpha=0.5 if many else 1.0,
            label=None if many else label,
        )
    budget_axis(ax, x)
    ax.set_ylabel("population served (%)")
    ax.set_title("Budget–coverage frontier")
    ax.grid(alpha=0.3)
    if len(groups) <= MAX_LABELLED_LINES and others:
        # Below the plot: with many or long labels a legend inside hides the lines.
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(0, -0.12), frameon=False)
    return _save(fig, path)


def heatmap_chart(table: pd.DataFrame, x: str, y: str, path: Path) -> Path:
    """Mean coverage over two parameters: cells on a grid, else coloured points (samples)."""
    fig, ax = plt.subplots(figsize=(7, 5.5))
    cells_given = len(table[[x, y]].drop_duplicates())
    grid = cells_given >= GRID_FILL * table[x].nunique() * table[y].nunique()
    numeric = all(pd.api.types.is_numeric_dtype(table[c]) for c in (x, y))
    if grid or not numeric:
        cells = table.pivot_table(index=y, columns=x, values=COVERAGE, aggfunc="mean")
        image: matplotlib.cm.ScalarMappable = ax.imshow(
            100 * cells.to_numpy(dtype=float), origin="lower", aspect="auto", cmap="viridis"
        )
        for axis, values in ((ax.xaxis, cells.columns), (ax.yaxis, cells.index)):
            step = max(len(values) // 10, 1)
            axis.set_ticks(range(0, len(values), step))
            axis.set_ticklabels(
                [f"{v:.3g}" if isinstance(v, float) else str(v) for v in values[::step]]
            )
        ax.tick_params(axis="x", labelrotation=30)
    else:
        image = ax.scatter(table[x], table[y], c=100 * table[COVERAGE], cmap="viridis", s=18)
    fig.colorbar(image, ax=ax, label="population served (%), mean")
    ax.set_xlabel(short(x) if x != "budget" else "budget")
    ax.set_ylabel(short(y))
    ax.set_title("Coverage over two swept parameters")
    return _save(fig, path)


def percentile_chart(table: pd.DataFrame, others: list[str], path: Path) -> Path:
    """Coverage percentiles across Monte Carlo draws: bands over the budget, else a histogram."""
    x = budget_column(table)
    labels = combination_labels(table, others)
    fig, ax = plt.subplots(figsize=(8, 5))
    over_budget = table[x].nunique() > 1
    for (label, group), colour in zip(
        list(table.groupby(labels, sort=False))[:MAX_LABELLED_LINES],
        plt.rcParams["axes.prop_cycle"].by_key()["color"] * 2,
        strict=False,
    ):
        if over_budget:
            q = group.groupby(x)[COVERAGE].quantile([0.05, 0.25, 0.5, 0.75, 0.95]).unstack() * 100
            ax.fill_between(q.index, q[0.05], q[0.95], color=colour, alpha=0.15)
            ax.fill_between(q.index, q[0.25], q[0.75], color=colour, alpha=0.3)
            ax.plot(q.index, q[0.5], color=colour, label=f"{label} (median, 25-75 %, 5-95 %)")
        else:
            ax.hist(100 * group[COVERAGE], bins=20, color=colour, alpha=0.5, label=label)
            for p in (5, 50, 95):
                ax.axvline(np.percentile(100 * group[COVERAGE], p), color=colour, linestyle=":")
    if over_budget:
        budget_axis(ax, x)
        ax.set_ylabel("population served (%)")
    else:
        ax.set_xlabel("population served (%) — dotted: 5th, 50th, 95th percentiles")
        ax.set_ylabel("draws")
    ax.set_title(f"Coverage across {int(table['draw'].max()) + 1} Monte Carlo draws")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def village_shares(
    table: pd.DataFrame, others: list[str], engineered: Engineered, choices: dict[str, np.ndarray]
) -> pd.DataFrame:
    """Per combination of ``others`` and village: the share of draws choosing each option."""
    labels = combination_labels(table, others)
    frames = []
    for label, group in table.groupby(labels, sort=False):
        stack = np.stack([choices[i] for i in group["point_id"]]).astype(np.int64)
        shares = {
            f"share_{name}": (stack == (j if name != "none" else -1)).mean(axis=0)
            for j, name in enumerate(OPTION_LABELS)
        }
        matrix = np.column_stack(list(shares.values()))
        frames.append(
            pd.DataFrame(
                {
                    "combination": label,
                    "village_id": engineered.village_id,
                    **shares,
                    "modal_option": np.asarray(OPTION_LABELS)[matrix.argmax(axis=1)],
                    "stability": matrix.max(axis=1),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def stability_map(shares: pd.DataFrame, xy: np.ndarray, title: str, path: Path) -> Path:
    """Two panels: each village's modal option, and how often it gets it across draws."""
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(13, 6), sharex=True, sharey=True, layout="constrained"
    )
    colours = shares["modal_option"].map(OPTION_COLOURS).to_numpy()
    left.scatter(xy[:, 0], xy[:, 1], c=colours, s=6, linewidths=0)
    for name in OPTION_LABELS:
        left.scatter([], [], c=OPTION_COLOURS[name], s=20, label=name)
    left.legend(fontsize=8, loc="lower left", title="modal option")
    image = right.scatter(
        xy[:, 0], xy[:, 1], c=shares["stability"], cmap="magma_r", vmin=0, vmax=1, s=6, linewidths=0
    )
    fig.colorbar(image, ax=right, shrink=0.8, label="share of draws giving the modal option")
    for ax in (left, right):
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"Stability across draws — {title}")
    return _save(fig, path)


def draw_charts(
    scenario: Scenario,
    table: pd.DataFrame,
    directory: Path,
    stability: tuple[Engineered, dict[str, np.ndarray]] | None,
) -> list[Path]:
    """Every chart the sweep's table supports, written atomically into ``directory``."""
    sweep = scenario.sweep
    assert sweep is not None
    solved = table[table[COVERAGE].notna()] if COVERAGE in table else table.iloc[:0]
    if solved.empty:
        return []
    x = budget_column(solved)
    mc_keys = list(sweep.monte_carlo.distributions) if sweep.monte_carlo else []
    keys = [k for k in sweep.keys if k != "policy.budget_usd"]
    written = []
    others = varying(solved, [k for k in keys if k not in mc_keys])
    if solved[x].nunique() > 1:
        frontier_chart(solved, varying(solved, keys), directory / "frontier.png")
        written.append(directory / "frontier.png")
    frame = solved.assign(budget=solved[x])
    axes = list(sweep.heatmap or varying(frame, [*keys, "budget"])[:2])
    if len(axes) == 2:
        written.append(heatmap_chart(frame, axes[0], axes[1], directory / "heatmap.png"))
    if stability is not None and sweep.monte_carlo:
        written.append(percentile_chart(solved, others, directory / "percentiles.png"))
        engineered, choices = stability
        non_mc = varying(solved, [k for k in [*keys, x] if k not in mc_keys])
        shares = village_shares(solved, non_mc, engineered, choices)
        write_parquet(directory / "village_shares.parquet", shares)
        written.append(directory / "village_shares.parquet")
        written += _stability_layers(shares, engineered, directory)
    return written


def write_parquet(path: Path, frame: pd.DataFrame) -> None:
    """Write a table as Parquet, atomically."""
    with atomic_file(path) as temporary:
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), temporary)


def _stability_layers(shares: pd.DataFrame, engineered: Engineered, directory: Path) -> list[Path]:
    """``stability.gpkg`` (a layer per combination) and a map per combination, the first few."""
    xy = engineered.reach.village_xy
    combinations = list(shares["combination"].unique())
    chosen = combinations[:: max(len(combinations) // MAX_STABILITY_MAPS, 1)][:MAX_STABILITY_MAPS]
    layers: dict[str, gpd.GeoDataFrame] = {}
    written = []
    for i, label in enumerate(chosen):
        part = shares[shares["combination"] == label].reset_index(drop=True)
        layer = gpd.GeoDataFrame(part, geometry=shapely.points(xy), crs=engineered.crs)
        layer.attrs["geometry_type"] = "Point"
        layers[f"stability_{i}"] = layer
        name = "stability.png" if len(chosen) == 1 else f"stability_{i}.png"
        written.append(stability_map(part, xy, str(label), directory / name))
    write_layers(layers, directory / "stability.gpkg")
    return [directory / "stability.gpkg", *written]
