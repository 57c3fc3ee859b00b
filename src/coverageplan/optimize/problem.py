"""The optimizer contract: ``Problem`` in, ``Plan`` out — plain arrays, no geodata.

Field names and meanings follow DESIGN.md. Everything beyond ``cost``,
``benefit`` and ``budget`` is optional, so a plain multiple-choice knapsack is
a valid Problem; option semantics switch on with the fields that carry them:
``parent``/``edge_cost`` make option 0 fibre, ``cover``/``existing_cover`` make
option 1 cellular, ``beam``/``beam_capacity``/``sat_demand`` make option 2
satellite, ``host`` makes option 3 consolidation (the village's households
move to a host village, which must then be served by one of options 0-2).
``site_capacity``/``cell_demand`` limit what a site carries: every cellular
village that relies on a new site is assigned to one built site covering it,
and a site's assigned busy-hour demand must fit its capacity. Villages with
``existing_cover`` need no assignment (existing towers' load is not modelled).
Coverage targets (``target_weight``/``target_required``) add rows
Σ_ij w_tij x_ij ≥ r_t; :func:`~coverageplan.optimize.solve` either maximises
benefit within the budget or minimises cost meeting the targets.

``cost`` may be negative: a net revenue (e.g. under gap funding a profitable
village's surplus pays for shared sites and trenches).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

FIBRE, CELLULAR, SATELLITE, CONSOLIDATE = 0, 1, 2, 3
UNSERVED = -1


def _array(value: object, dtype: type, name: str, shape: tuple[int, ...]) -> np.ndarray:
    array: np.ndarray = np.asarray(value, dtype=dtype)
    if array.shape != shape:
        raise ValueError(f"Problem.{name}: expected shape {shape}, got {array.shape}")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise ValueError(f"Problem.{name}: values must be finite")
    return array


def tree_depth_ok(parent: np.ndarray) -> bool:
    """True when following ``parent`` from every node reaches −1 (no cycles).

    Pointer doubling: after ⌈log2 n⌉ + 1 squarings every chain of an acyclic
    forest has ended, so any node still pointing somewhere is on a cycle.
    """
    ancestor = parent.copy()
    for _ in range(int(np.ceil(np.log2(max(len(parent), 2)))) + 1):
        ancestor = np.where(ancestor >= 0, ancestor[np.maximum(ancestor, 0)], -1)
    return bool((ancestor < 0).all())


@dataclass(frozen=True, kw_only=True)
class Problem:
    """What to decide: one option (or none) per village, sites to build, fibre to lay.

    Shapes: n villages, k options, m sites, b satellite beams. Money in one
    currency throughout (the optimizer rescales internally).

    cost : (n, k) village-specific public cost of option j (excludes shared sites and trenches)
    benefit : (n, k) value of serving village i with option j
    budget : public money available
    feasible : (n, k) bool, option allowed (default: all)
    site_cost : (m,) cost of building or upgrading site s
    cover : sparse bool (n, m), site s covers village i
    existing_cover : (n,) bool, cellular needs no new site
    parent : (n,) int, fibre tree parent, −1 = joins the existing network
    edge_cost : (n,) cost of the trench from village i to its parent
    beam : (n,) int satellite beam of each village
    beam_capacity : (b,) capacity of each beam
    sat_demand : (n,) capacity village i uses on satellite
    host : (n,) int consolidation host of village i, −1 none
    site_capacity : (m,) busy-hour throughput site s carries (Mbps); needs ``cell_demand``
    cell_demand : (n,) busy-hour demand of village i when served by cellular (Mbps)
    target_weight : (t, n, k) contribution of x_ij to coverage target t
    target_required : (t,) least total weight target t needs
    target_names : (t,) names of the targets, for messages
    """

    cost: np.ndarray
    benefit: np.ndarray
    budget: float
    feasible: np.ndarray = None  # type: ignore[assignment]  # None: default, filled in
    site_cost: np.ndarray = None  # type: ignore[assignment]  # None: default, filled in
    cover: sparse.csr_matrix = None  # None: no sites
    existing_cover: np.ndarray = None  # type: ignore[assignment]  # None: default, filled in
    parent: np.ndarray = None  # type: ignore[assignment]  # None: default, filled in
    edge_cost: np.ndarray = None  # type: ignore[assignment]  # None: default, filled in
    beam: np.ndarray = None  # type: ignore[assignment]  # None: default, filled in
    beam_capacity: np.ndarray = None  # type: ignore[assignment]  # None: default, filled in
    sat_demand: np.ndarray = None  # type: ignore[assignment]  # None: default, filled in
    host: np.ndarray = None  # type: ignore[assignment]  # None: no consolidation
    site_capacity: np.ndarray = None  # type: ignore[assignment]  # None: unlimited
    cell_demand: np.ndarray = None  # type: ignore[assignment]  # None: default, filled in
    target_weight: np.ndarray = None  # type: ignore[assignment]  # None: no targets
    target_required: np.ndarray = None  # type: ignore[assignment]
    target_names: tuple[str, ...] = ()
    has_cellular: bool = field(init=False)
    has_fibre_tree: bool = field(init=False)
    has_beams: bool = field(init=False)
    has_hosts: bool = field(init=False)
    has_site_capacity: bool = field(init=False)

    def __post_init__(self) -> None:
        cost = np.atleast_2d(np.asarray(self.cost, dtype=float))
        n, k = cost.shape
        set_ = object.__setattr__
        set_(self, "cost", _array(cost, float, "cost", (n, k)))
        set_(self, "benefit", _array(self.benefit, float, "benefit", (n, k)))
        if np.isnan(self.budget) or self.budget < 0:
            raise ValueError(
                f"Problem.budget: expected a number ≥ 0 (inf: none), got {self.budget}"
            )
        set_(self, "budget", float(self.budget))
        feasible = np.ones((n, k), bool) if self.feasible is None else self.feasible
        set_(self, "feasible", _array(feasible, bool, "feasible", (n, k)))

        has_cellular = self.cover is not None or self.existing_cover is not None
        if has_cellular and k <= CELLULAR:
            raise ValueError(
                "Problem: cellular sites given but fewer than 2 options (index 1 is cellular)"
            )
        cover = (
            sparse.csr_matrix((n, 0), dtype=bool)
            if self.cover is None
            else sparse.csr_matrix(self.cover)
        )
        if cover.shape[0] != n:
            raise ValueError(f"Problem.cover: expected {n} rows, got {cover.shape[0]}")
        m = cover.shape[1]
        set_(self, "cover", cover.astype(bool))
        site_cost = np.zeros(m) if self.site_cost is None else self.site_cost
        set_(self, "site_cost", _array(site_cost, float, "site_cost", (m,)))
        existing = np.zeros(n, bool) if self.existing_cover is None else self.existing_cover
        set_(self, "existing_cover", _array(existing, bool, "existing_cover", (n,)))

        has_tree = self.parent is not None or self.edge_cost is not None
        parent = np.full(n, -1) if self.parent is None else self.parent
        set_(self, "parent", _array(parent, np.int64, "parent", (n,)))
        edge_cost = np.zeros(n) if self.edge_cost is None else self.edge_cost
        set_(self, "edge_cost", _array(edge_cost, float, "edge_cost", (n,)))
        if ((self.parent < -1) | (self.parent >= n) | (self.parent == np.arange(n))).any():
            raise ValueError("Problem.parent: entries must be −1 or another village's index")
        if has_tree and not tree_depth_ok(self.parent):
            raise ValueError("Problem.parent: the fibre tree has a cycle")

        has_beams = self.beam is not None
        if has_beams and k <= SATELLITE:
            raise ValueError(
                "Problem: satellite beams given but fewer than 3 options (index 2 is satellite)"
            )
        beam = np.zeros(n, np.int64) if self.beam is None else self.beam
        set_(self, "beam", _array(beam, np.int64, "beam", (n,)))
        b = int(self.beam.max()) + 1 if n else 0
        capacity = np.full(b, np.inf) if self.beam_capacity is None else self.beam_capacity
        capacity = np.asarray(capacity, float)
        if capacity.shape != (b,) and has_beams:
            raise ValueError(f"Problem.beam_capacity: expected shape ({b},), got {capacity.shape}")
        set_(self, "beam_capacity", capacity)
        demand = np.zeros(n) if self.sat_demand is None else self.sat_demand
        set_(self, "sat_demand", _array(demand, float, "sat_demand", (n,)))
        has_hosts = self.host is not None
        if has_hosts and k <= CONSOLIDATE:
            raise ValueError(
                "Problem: hosts given but fewer than 4 options (index 3 is consolidation)"
            )
        host = np.full(n, -1) if self.host is None else self.host
        set_(self, "host", _array(host, np.int64, "host", (n,)))
        if ((self.host < -1) | (self.host >= n) | (self.host == np.arange(n))).any():
            raise ValueError("Problem.host: entries must be −1 or another village's index")
        weight = np.zeros((0, n, k)) if self.target_weight is None else self.target_weight
        weight = np.asarray(weight, dtype=float)
        t = weight.shape[0] if weight.ndim == 3 else -1
        set_(self, "target_weight", _array(weight, float, "target_weight", (max(t, 0), n, k)))
        required = np.zeros(t) if self.target_required is None else self.target_required
        set_(self, "target_required", _array(required, float, "target_required", (t,)))
        names = self.target_names or tuple(f"target {i}" for i in range(t))
        if len(names) != t:
            raise ValueError(f"Problem.target_names: expected {t} names, got {len(names)}")
        set_(self, "target_names", tuple(names))
        has_site_capacity = self.site_capacity is not None or self.cell_demand is not None
        if has_site_capacity and (self.site_capacity is None or self.cell_demand is None):
            raise ValueError("Problem: site_capacity and cell_demand go together")
        if has_site_capacity and not has_cellular:
            raise ValueError("Problem: site_capacity given without cellular sites (cover)")
        capacity = (
            np.full(m, np.inf)
            if self.site_capacity is None
            else _array(self.site_capacity, float, "site_capacity", (m,))
        )
        set_(self, "site_capacity", capacity)
        cell_demand = np.zeros(n) if self.cell_demand is None else self.cell_demand
        set_(self, "cell_demand", _array(cell_demand, float, "cell_demand", (n,)))
        for name in ("site_cost", "edge_cost", "sat_demand", "site_capacity", "cell_demand"):
            if (getattr(self, name) < 0).any():
                raise ValueError(f"Problem.{name}: values must be ≥ 0")
        set_(self, "has_cellular", has_cellular)
        set_(self, "has_fibre_tree", has_tree)
        set_(self, "has_beams", has_beams)
        set_(self, "has_hosts", has_hosts)
        set_(self, "has_site_capacity", has_site_capacity)

    def at_budget(self, budget: float) -> Problem:
        """The same problem with another budget (arrays shared, not re-validated)."""
        if np.isnan(budget) or budget < 0:
            raise ValueError(f"Problem.budget: expected a number ≥ 0 (inf: none), got {budget}")
        other = copy.copy(self)
        object.__setattr__(other, "budget", float(budget))
        return other

    @property
    def n_villages(self) -> int:
        """Number of villages n."""
        return int(self.cost.shape[0])

    @property
    def n_options(self) -> int:
        """Number of options k."""
        return int(self.cost.shape[1])

    @property
    def n_sites(self) -> int:
        """Number of candidate sites m."""
        return int(self.site_cost.shape[0])


@dataclass(frozen=True)
class Plan:
    """A solution: what each village gets and what is built.

    choice : (n,) int option per village, −1 unserved
    sites_built : (m,) bool
    edges_built : (n,) bool, trench from village i to its parent laid
    site_assignment : (n,) int built site serving each cellular village, −1 for
        villages not on cellular or under existing cover
    total_cost : money spent, recomputed from the decisions
    objective : what ``goal`` optimised, recomputed: benefit (max_benefit) or
        total cost (min_cost)
    bound : proven bound on the objective: upper for max_benefit, lower for
        min_cost (±inf when the solver proved none)
    gap : |bound − objective| / |objective|, 0 when both are 0
    status : 'optimal' (proved within the gap), 'time_limit' or 'feasible' (a plan,
        optimality not proved), 'infeasible', 'no_solution'
    solver : which solver produced it
    solve_time_s : wall-clock seconds in the solver
    goal : 'max_benefit' or 'min_cost'
    benefit : benefit of ``choice``, whatever the goal
    """

    choice: np.ndarray
    sites_built: np.ndarray
    edges_built: np.ndarray
    site_assignment: np.ndarray
    total_cost: float
    objective: float
    bound: float
    gap: float
    status: str
    solver: str
    solve_time_s: float
    goal: str = "max_benefit"
    benefit: float = 0.0

    def site_load(self, problem: Problem) -> np.ndarray:
        """(m,) busy-hour demand (Mbps) the plan assigns to each site."""
        return site_load(problem, self.site_assignment)

    @property
    def is_optimal(self) -> bool:
        """True only when the solver proved optimality within its gap."""
        return self.status == "optimal"


def plan_cost(
    problem: Problem, choice: np.ndarray, sites_built: np.ndarray, edges_built: np.ndarray
) -> float:
    """Money a set of decisions spends: options, sites and trenches."""
    served = choice >= 0
    # Exactly rounded sums: the same total whatever the memory layout (sweeps compare runs).
    return math.fsum(
        np.concatenate(
            [
                problem.cost[np.flatnonzero(served), choice[served]],
                problem.site_cost[sites_built],
                problem.edge_cost[edges_built],
            ]
        )
    )


def site_load(problem: Problem, assignment: np.ndarray) -> np.ndarray:
    """(m,) busy-hour demand (Mbps) of the villages assigned to each site."""
    assigned = assignment >= 0
    return np.bincount(
        assignment[assigned], weights=problem.cell_demand[assigned], minlength=problem.n_sites
    )


def plan_benefit(problem: Problem, choice: np.ndarray) -> float:
    """Benefit of a choice vector."""
    served = choice >= 0
    return float(problem.benefit[np.flatnonzero(served), choice[served]].sum())


def assignment_violations(
    problem: Problem,
    choice: np.ndarray,
    sites_built: np.ndarray,
    site_assignment: np.ndarray | None,
) -> list[str]:
    """What breaks site capacity: each relying village on one built covering site, loads fit."""
    if site_assignment is None:
        return ["site capacity needs a site assignment"]
    relying = (choice == CELLULAR) & ~problem.existing_cover
    assigned = site_assignment >= 0
    if (assigned != relying).any():
        return ["a village relying on a new site has no site assigned, or one not relying has"]
    villages, sites = np.flatnonzero(assigned), site_assignment[assigned]
    out: list[str] = []
    if (sites >= problem.n_sites).any():
        return ["a site assignment names no site"]
    if not sites_built[sites].all():
        out.append("a village is assigned to a site that is not built")
    if len(villages) and not np.asarray(problem.cover[villages, sites]).ravel().all():
        out.append("a village is assigned to a site that does not cover it")
    load = site_load(problem, site_assignment)
    if (load > problem.site_capacity * (1 + 1e-9) + 1e-9).any():
        out.append("a cellular site is over capacity")
    return out


def plan_violations(
    problem: Problem,
    choice: np.ndarray,
    sites_built: np.ndarray,
    edges_built: np.ndarray,
    site_assignment: np.ndarray | None = None,
) -> list[str]:
    """Constraints a set of decisions breaks (empty when it is a valid plan).

    ``site_assignment`` (n,) is the built site serving each cellular village
    (−1 none); a problem with site capacity needs it, others may omit it.
    """
    problems: list[str] = []
    served = np.flatnonzero(choice >= 0)
    if not problem.feasible[served, choice[served]].all():
        problems.append("an infeasible option was chosen")
    if problem.has_cellular:
        cellular = choice == CELLULAR
        reached = problem.existing_cover | (problem.cover @ sites_built.astype(np.int64) > 0)
        if (cellular & ~reached).any():
            problems.append("cellular chosen where no built site covers the village")
    if problem.has_site_capacity:
        problems += assignment_violations(problem, choice, sites_built, site_assignment)
    if problem.has_fibre_tree:
        fibre = choice == FIBRE
        if (fibre & ~edges_built).any():
            problems.append("fibre chosen without the trench to the village")
        has_parent = problem.parent >= 0
        if (edges_built & has_parent & ~edges_built[np.maximum(problem.parent, 0)]).any():
            problems.append("a trench was laid whose parent trench was not")
    if problem.has_beams:
        load = np.bincount(
            problem.beam,
            weights=problem.sat_demand * (choice == SATELLITE),
            minlength=len(problem.beam_capacity),
        )
        if (load > problem.beam_capacity * (1 + 1e-9) + 1e-9).any():
            problems.append("a satellite beam is over capacity")
    if problem.has_hosts:
        moved = choice == CONSOLIDATE
        host = problem.host[moved]
        if (host < 0).any() or not np.isin(
            choice[np.maximum(host, 0)], (FIBRE, CELLULAR, SATELLITE)
        ).all():
            problems.append("a village was consolidated into a host that is not served")
    for name, weight, required in zip(
        problem.target_names, problem.target_weight, problem.target_required, strict=True
    ):
        reached = weight[served, choice[served]].sum()
        if reached < required * (1 - 1e-9) - 1e-9:
            problems.append(f"target {name!r} not met ({reached:.6g} of {required:.6g})")
    if plan_cost(problem, choice, sites_built, edges_built) > problem.budget:
        problems.append("the budget is exceeded")
    return problems
