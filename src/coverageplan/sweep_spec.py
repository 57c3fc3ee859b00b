"""The scenario's ``sweep`` section: the schema of parameter sweeps and dotted keys.

A sweep key is a dotted path into the scenario (``policy.subsidy.mechanism``,
``policy.targets.0.share``): :func:`sweep_key_problem` checks one against the
schema, :func:`with_values` sets values in a scenario mapping. The values
themselves are checked against their fields by the Scenario (see
``Scenario._sweep_fits``).
"""

from __future__ import annotations

import copy
import types
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, Field, model_validator

from coverageplan.section import NonNegative, Section

SweepValue = bool | int | float | str
NonEmptyValues = Annotated[list[SweepValue], Field(min_length=1)]


class Linspace(Section):
    """Evenly spaced values from ``start`` to ``stop``, both included."""

    start: float = Field(ge=0, description="First value.")
    stop: float = Field(ge=0, description="Last value.")
    count: int = Field(ge=1, description="Number of values.")

    def values(self) -> list[float]:
        """The values, ascending if stop ≥ start."""
        if self.count == 1:
            return [self.start]
        step = (self.stop - self.start) / (self.count - 1)
        return [self.start + i * step for i in range(self.count)]


class Budgets(Section):
    """The budget axis of a sweep: USD, or shares of each point's greedy full cost."""

    usd: list[NonNegative] | Linspace | None = Field(
        None, description="Budgets in USD (a list, or {start, stop, count})."
    )
    share_of_full_cost: list[NonNegative] | Linspace | None = Field(
        None,
        description="Budgets as shares of the money the greedy upgrades spend serving every "
        "village they can at that point (optimize.frontier.greedy_full_cost, 0 if negative); "
        "1 ≈ everyone.",
    )

    @model_validator(mode="after")
    def _one_axis(self) -> Budgets:
        given = [axis for axis in (self.usd, self.share_of_full_cost) if axis is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of 'usd' or 'share_of_full_cost'")
        if isinstance(given[0], list) and not given[0]:
            raise ValueError("the budget list is empty: give at least one budget")
        if len(set(self.values())) != len(self.values()):
            raise ValueError("budgets must be distinct")
        return self

    def values(self) -> list[float]:
        """The budgets (USD or shares, see ``relative``)."""
        axis = self.usd if self.usd is not None else self.share_of_full_cost
        return axis.values() if isinstance(axis, Linspace) else list(axis or [])

    @property
    def relative(self) -> bool:
        """True when the budgets are shares of the greedy full cost."""
        return self.share_of_full_cost is not None


class LatinHypercube(Section):
    """A seeded Latin-hypercube sample: each key's range cut into ``samples`` equal strata."""

    ranges: dict[str, tuple[float, float]] = Field(
        min_length=1, description="Scenario key -> [low, high] (uniform within)."
    )
    samples: int = Field(ge=1, description="Number of sample points.")
    seed: int = Field(0, ge=0, description="Random seed; the sample is deterministic for a seed.")

    @model_validator(mode="after")
    def _ranges(self) -> LatinHypercube:
        for key, (low, high) in self.ranges.items():
            if not low < high:
                raise ValueError(f"range of {key!r} must have low < high (got [{low}, {high}])")
        return self


class Normal(Section):
    """Normal draws, optionally clipped to [low, high]."""

    distribution: Literal["normal"]
    mean: float = Field(description="Mean.")
    sd: float = Field(gt=0, description="Standard deviation.")
    clip: tuple[float, float] | None = Field(None, description="Clip draws to [low, high].")


class Lognormal(Section):
    """Log-normal draws: median × exp(sigma × z), optionally clipped (cost uncertainty)."""

    distribution: Literal["lognormal"]
    median: float = Field(gt=0, description="Median (exp of the log's mean).")
    sigma: float = Field(gt=0, description="Standard deviation of the log.")
    clip: tuple[float, float] | None = Field(None, description="Clip draws to [low, high].")


class Uniform(Section):
    """Uniform draws on [low, high]."""

    distribution: Literal["uniform"]
    low: float = Field(description="Lowest value.")
    high: float = Field(description="Highest value.")


class Triangular(Section):
    """Triangular draws on [low, high] peaking at ``mode``."""

    distribution: Literal["triangular"]
    low: float = Field(description="Lowest value.")
    mode: float = Field(description="Most likely value.")
    high: float = Field(description="Highest value.")


Distribution = Annotated[
    Normal | Lognormal | Uniform | Triangular, Field(discriminator="distribution")
]


def _support(spec: Normal | Lognormal | Uniform | Triangular) -> list[float]:
    """Representative values a distribution can draw (checked against the target field)."""
    if isinstance(spec, Uniform | Triangular):
        if not spec.low < spec.high or (
            isinstance(spec, Triangular) and not spec.low <= spec.mode <= spec.high
        ):
            raise ValueError("needs low < high (and low ≤ mode ≤ high for triangular)")
        return [spec.low, spec.high]
    centre = spec.mean if isinstance(spec, Normal) else spec.median
    if spec.clip is not None and not spec.clip[0] < spec.clip[1]:
        raise ValueError(f"clip must have low < high (got {list(spec.clip)})")
    return [centre, *(spec.clip or ())]


class MonteCarlo(Section):
    """Seeded random draws of uncertain inputs, one distribution per key (independent)."""

    distributions: dict[str, Distribution] = Field(
        min_length=1,
        description="Scenario key -> {distribution: normal|lognormal|uniform|triangular, ...}.",
    )
    samples: int = Field(ge=1, description="Number of draws.")
    seed: int = Field(0, ge=0, description="Random seed; the draws are deterministic for a seed.")


class Sweep(Section):
    """A parameter sweep: the cartesian product of the parts given.

    Parts: a grid, zipped lists, a Latin hypercube, Monte Carlo draws and a
    budget axis. Keys are dotted scenario paths (``policy.subsidy.capex_share.remote``,
    ``costs.discount_rate``, ``policy.targets.0.share``).
    """

    method: Literal["frontier", "milp"] = Field(
        "frontier",
        description="'frontier': one frontier call per economic point for all its budgets; "
        "'milp': an exact MILP per point (also for min_cost). Time limit and gap: optimizer.",
    )
    budgets: Budgets | None = Field(
        None, description="Budget axis; none: each point's policy.budget_usd (may be swept)."
    )
    grid: dict[str, NonEmptyValues] = Field(
        default_factory=dict, description="Key -> values; every combination is a point."
    )
    zip: dict[str, NonEmptyValues] = Field(
        default_factory=dict,
        description="Key -> values of one length; the i-th of each go together.",
    )
    latin_hypercube: LatinHypercube | None = Field(None, description="Latin-hypercube sample.")
    monte_carlo: MonteCarlo | None = Field(None, description="Random draws of uncertain inputs.")
    heatmap: tuple[str, str] | None = Field(
        None,
        description="Two swept keys (or 'budget') for the coverage heatmap; default: the first "
        "two that vary.",
    )
    directory: Path | None = Field(
        None,
        description="Output folder; relative to the scenario file; default: outputs.directory "
        "with '-sweep' appended.",
    )
    cache_dir: Path = Field(
        Path(".engineering-cache"),
        description="Where engineering (Reach) is cached; relative to the scenario file.",
    )

    @model_validator(mode="after")
    def _keys(self) -> Sweep:
        parts = {
            "grid": list(self.grid),
            "zip": list(self.zip),
            "latin_hypercube": list(self.latin_hypercube.ranges) if self.latin_hypercube else [],
            "monte_carlo": list(self.monte_carlo.distributions) if self.monte_carlo else [],
        }
        if not any(parts.values()) and self.budgets is None:
            raise ValueError(
                "sweep: nothing to sweep; give budgets, grid, zip, latin_hypercube or monte_carlo"
            )
        seen: dict[str, str] = {}
        for part, keys in parts.items():
            for key in keys:
                problem = sweep_key_problem(key)
                if problem:
                    raise ValueError(f"sweep.{part}: key {key!r}: {problem}")
                if key in seen:
                    raise ValueError(f"sweep: key {key!r} is in both {seen[key]} and {part}")
                if key == "policy.budget_usd" and self.budgets is not None:
                    raise ValueError(
                        f"sweep.{part}: 'policy.budget_usd' and sweep.budgets both set the budget"
                    )
                seen[key] = part
        for key, values in self.grid.items():
            if len(set(map(repr, values))) != len(values):
                raise ValueError(f"sweep.grid: key {key!r} lists a value twice")
        lengths = {key: len(values) for key, values in self.zip.items()}
        if len(set(lengths.values())) > 1:
            shown = ", ".join(f"{key}: {length}" for key, length in lengths.items())
            raise ValueError(f"sweep.zip: lists must have one length (got {shown})")
        for key in self.heatmap or ():
            if key != "budget" and key not in seen:
                raise ValueError(f"sweep.heatmap: {key!r} is not a swept key (nor 'budget')")
        return self

    @property
    def keys(self) -> list[str]:
        """Every swept scenario key, in the order of the spec (budget axis excluded)."""
        lhs = list(self.latin_hypercube.ranges) if self.latin_hypercube else []
        mc = list(self.monte_carlo.distributions) if self.monte_carlo else []
        return [*self.grid, *self.zip, *lhs, *mc]

    def spot_values(self) -> list[tuple[str, str, list[Any]]]:
        """(where in the spec, key, values to check against the key's own field)."""
        checks: list[tuple[str, str, list[Any]]] = []
        checks += [(f"sweep.grid.{key}", key, values) for key, values in self.grid.items()]
        checks += [(f"sweep.zip.{key}", key, values) for key, values in self.zip.items()]
        if self.latin_hypercube:
            for key, bounds in self.latin_hypercube.ranges.items():
                checks.append((f"sweep.latin_hypercube.ranges.{key}", key, list(bounds)))
        if self.monte_carlo:
            for key, spec in self.monte_carlo.distributions.items():
                where = f"sweep.monte_carlo.distributions.{key}"
                try:
                    checks.append((where, key, _support(spec)))
                except ValueError as error:
                    raise ValueError(f"{where}: {error}") from None
        return checks


def _unwrap(annotation: Any) -> Any:
    """The one non-None type of an optional annotation (``X | None`` -> X)."""
    if get_origin(annotation) in (Union, types.UnionType):
        arms = [arm for arm in get_args(annotation) if arm is not type(None)]
        models = [arm for arm in arms if isinstance(arm, type) and issubclass(arm, BaseModel)]
        return models[0] if len(models) == 1 else annotation
    return annotation


def sweep_key_problem(key: str) -> str | None:
    """What is wrong with a dotted sweep key against the schema, or None when it names a value."""
    parts = key.split(".")
    if parts[0] in ("sweep", "overrides", "outputs"):
        return f"section {parts[0]!r} cannot be swept"
    from coverageplan.scenario import Scenario  # the schema the keys walk

    node: Any = Scenario
    for depth, part in enumerate(parts):
        where = ".".join(parts[:depth]) or "the top level"
        if isinstance(node, type) and issubclass(node, BaseModel):
            if part not in node.model_fields:
                known = ", ".join(node.model_fields)
                return f"unknown key {part!r} under {where} (known: {known})"
            node = _unwrap(node.model_fields[part].annotation)
        elif get_origin(node) is dict:
            node = _unwrap(get_args(node)[1])  # the entry's value; the key is checked on use
        elif get_origin(node) is list:
            if not part.isdigit():
                return f"{where} is a list: expected an index (0, 1, ...), got {part!r}"
            node = _unwrap(get_args(node)[0])
        else:
            return f"{where} is a value: it has no key {part!r}"
    if isinstance(node, type) and issubclass(node, BaseModel):
        return f"{key!r} is a section: name one of its keys ({', '.join(node.model_fields)})"
    if get_origin(node) in (dict, list):
        return f"{key!r} holds a {get_origin(node).__name__}: name one of its entries"
    return None


def value_at(data: dict[str, Any], key: str) -> Any:
    """The value at a dotted key of a scenario mapping (list entries by index)."""
    node: Any = data
    for part in key.split("."):
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def with_values(base: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """A copy of the scenario mapping ``base`` with each dotted key set to its value.

    Keys must have passed :func:`sweep_key_problem`; a list index beyond the
    base's list raises ValueError.
    """
    data = copy.deepcopy(base)
    for key, value in values.items():
        node: Any = data
        parts = key.split(".")
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            if isinstance(node, list):
                index = int(part)
                if index >= len(node):
                    where = ".".join(parts[:depth])
                    raise ValueError(f"{key!r}: {where} has {len(node)} entries, no index {index}")
                if last:
                    node[index] = value
                else:
                    node = node[index]
            elif last:
                node[part] = value
            else:
                if node.get(part) is None:
                    node[part] = {}
                node = node[part]
    return data
