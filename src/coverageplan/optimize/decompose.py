"""Lagrangian decomposition: blocks that share only the budget, solved apart under a price on money.

Villages, sites and trenches fall into *blocks*: connected components of
the formulation's constraint graph once the budget row is left out (every
other row — a site serving villages, a trench under a subtree, a satellite
beam, a host, a target — joins the columns it touches). For a price λ ≥ 0
on money, the relaxed problem

    L(λ) = max  benefit·v − λ (money·v − B)   over the other constraints

falls apart into one MILP per block, solved in parallel on local processes.
Every λ gives a proven upper bound L(λ) (each block's MILP *dual bound* is
used, so an early stop stays valid); every λ whose plan spends at most B
gives a feasible plan. λ is bisected until the spending meets the budget,
blocks on which the prices either side of the budget agree keep that
plan while the others share the money left in one MILP with the budget
row, the rest is filled with greedy upgrades (as in
:mod:`coverageplan.optimize.frontier`), and the report gives the
plan, the least bound and their gap (Fisher 1981, "The Lagrangian
relaxation method for solving integer programming problems", Management
Science 27(1)).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

from coverageplan.optimize.milp import (
    Formulation,
    build_formulation,
    solve_fixed,
    solve_highs,
)
from coverageplan.optimize.problem import Plan, Problem, plan_benefit, plan_cost
from coverageplan.optimize.solve import SolverResult, checked_plan, decisions, within_gap
from coverageplan.processes import clean_process_context

log = logging.getLogger(__name__)

PRICE_STEPS = 30  # bisection steps on λ at most
BLOCK_GAP_SHARE = 0.1  # each block's MILP gap, as a share of the requested gap


def column_blocks(formulation: Formulation) -> tuple[int, np.ndarray]:
    """(number of blocks, block of each column): components of the rows other than the budget."""
    matrix = formulation.a_matrix.tocsr()
    keep = np.ones(matrix.shape[0], dtype=bool)
    if formulation.budget_row >= 0:
        keep[formulation.budget_row] = False
    coupling = matrix[keep]
    n_rows, n_cols = coupling.shape
    incidence = sparse.csr_matrix(
        (np.ones(coupling.nnz, dtype=np.int8), coupling.nonzero()), shape=(n_rows, n_cols)
    )
    graph = sparse.bmat([[None, incidence], [incidence.T, None]], format="csr")
    _, label = csgraph.connected_components(graph, directed=False)
    column_label = label[n_rows:]
    _, column_block = np.unique(column_label, return_inverse=True)
    return int(column_block.max()) + 1 if n_cols else 0, column_block


def groups_of(column_block: np.ndarray, n_blocks: int, n_groups: int) -> list[np.ndarray]:
    """Columns in ``n_groups`` groups of whole blocks, balanced by column count (largest first)."""
    size = np.bincount(column_block, minlength=n_blocks)
    load = np.zeros(n_groups)
    group_of_block = np.empty(n_blocks, dtype=np.int64)
    for block in np.argsort(-size, kind="stable"):  # a loop over blocks, few next to villages
        target = int(np.argmin(load))
        group_of_block[block] = target
        load[target] += size[block]
    group = group_of_block[column_block]
    return [np.flatnonzero(group == g) for g in range(n_groups) if (group == g).any()]


def block_formulation(formulation: Formulation, columns: np.ndarray) -> Formulation:
    """The formulation over ``columns`` and the rows they touch, the budget row dropped."""
    matrix = formulation.a_matrix.tocsc()[:, columns].tocsr()
    rows = np.flatnonzero(np.diff(matrix.indptr) > 0)
    rows = rows[rows != formulation.budget_row]
    x_columns = columns[columns < formulation.n_x]
    in_y = (columns >= formulation.n_x) & (columns < formulation.n_x + formulation.n_y)
    z0 = formulation.n_x + formulation.n_y + formulation.n_g
    z_columns = columns[columns >= z0] - z0
    return replace(
        formulation,
        objective=formulation.objective[columns],
        a_matrix=matrix[rows].tocsc(),
        row_lower=formulation.row_lower[rows],
        row_upper=formulation.row_upper[rows],
        x_village=formulation.x_village[x_columns],
        x_option=formulation.x_option[x_columns],
        budget_row=-1,
        n_x=len(x_columns),
        n_y=int(in_y.sum()),
        n_g=int(((columns >= formulation.n_x + formulation.n_y) & (columns < z0)).sum()),
        z_village=formulation.z_village[z_columns],
        z_site=formulation.z_site[z_columns],
        money=formulation.money[columns],
    )


_WORKER_GROUPS: list[tuple[Formulation, np.ndarray]] = []


def _init_worker(groups: list[tuple[Formulation, np.ndarray]]) -> None:
    _WORKER_GROUPS[:] = groups


def _solve_group(task: tuple[int, float, float, float]) -> SolverResult:
    """One group's MILP at price λ: maximise benefit − λ·money (scaled units)."""
    index, price, time_limit_s, mip_gap = task
    formulation, money = _WORKER_GROUPS[index]
    priced = replace(formulation, objective=formulation.objective - price * money)
    return solve_highs(priced, time_limit_s=time_limit_s, mip_gap=mip_gap)


@dataclass(frozen=True)
class Evaluation:
    """The relaxed problem at one price: values of every column, money spent, its bound."""

    price: float
    values: np.ndarray
    spend: float  # scaled money
    bound: float  # L(λ): scaled benefit


class _Evaluator:
    """Solves every group at a price, on a pool of local processes (or in this one)."""

    def __init__(
        self, formulation: Formulation, money: np.ndarray, workers: int, mip_gap: float
    ) -> None:
        n_blocks, column_block = column_blocks(formulation)
        self.n_blocks, self.column_block = n_blocks, column_block
        self.columns = groups_of(column_block, n_blocks, max(workers, 1))
        self.groups = [(block_formulation(formulation, c), money[c]) for c in self.columns]
        self.n_vars = formulation.objective.size
        self.money = money
        self.benefit = formulation.objective
        self.mip_gap = mip_gap
        self.pool = (
            ProcessPoolExecutor(
                workers,
                mp_context=clean_process_context(),
                initializer=_init_worker,
                initargs=(self.groups,),
            )
            if workers > 1 and len(self.groups) > 1
            else None
        )
        if self.pool is None:
            _init_worker(self.groups)

    def __call__(self, price: float, budget: float, time_limit_s: float) -> Evaluation | None:
        tasks = [(g, price, time_limit_s, self.mip_gap) for g in range(len(self.groups))]
        results: Iterator[SolverResult] = (
            self.pool.map(_solve_group, tasks) if self.pool else map(_solve_group, tasks)
        )
        values = np.zeros(self.n_vars)
        bound = price * budget
        for columns, result in zip(self.columns, results, strict=True):
            if result.values is None or not np.isfinite(result.bound):
                return None
            values[columns] = np.round(result.values)
            bound += result.bound
        return Evaluation(price, values, float(self.money @ values), float(bound))

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)


def _settle_undecided(
    formulation: Formulation,
    column_block: np.ndarray,
    fitting: np.ndarray,
    overspending: np.ndarray,
    *,
    time_limit_s: float,
    mip_gap: float,
) -> np.ndarray | None:
    """Column values: the ``fitting`` plan on blocks where it equals ``overspending``.

    The blocks where the two prices either side of the budget disagree share
    the money left in one MILP with the budget row. None: no plan found.
    """
    differ = np.unique(column_block[fitting != overspending])
    free = np.isin(column_block, differ)
    lower = np.where(free, 0.0, fitting)
    upper = np.where(free, 1.0, fitting)
    return solve_fixed(formulation, lower, upper, time_limit_s=time_limit_s, mip_gap=mip_gap)


def solve_decomposed(
    problem: Problem,
    *,
    time_limit_s: float = 600.0,
    mip_gap: float = 1e-2,
    workers: int | None = None,
) -> Plan:
    """Max-benefit plan by Lagrangian decomposition over blocks; bound and gap proven.

    ``workers`` local processes solve the blocks (default: the CPU count). The
    status is 'optimal' only when the plan is within ``mip_gap`` of the least
    bound found, else 'time_limit' or 'feasible'.
    """
    from coverageplan.optimize.frontier import upgrades, usable_options

    started = time.perf_counter()
    formulation = build_formulation(problem)
    if formulation.budget_row < 0:
        raise ValueError("decomposition prices the budget: the problem needs a finite budget")
    money = formulation.money
    budget = float(formulation.row_upper[formulation.budget_row])
    evaluator = _Evaluator(
        formulation, money, workers or os.cpu_count() or 1, mip_gap * BLOCK_GAP_SHARE
    )

    def time_left() -> float:
        return time_limit_s - (time.perf_counter() - started)

    best_bound, best_values, best_value = np.inf, None, -np.inf
    # λ = 0 first (does the budget bind?), then benefit per money on average, ×4 until the
    # plan fits the budget, then bisection.
    average_price = float(formulation.objective.sum() / max(money.sum(), 1e-300))
    low, high = 0.0, np.inf
    over_values = None  # the plan at the highest price that still overspends
    try:
        for step in range(PRICE_STEPS):
            if time_left() <= 0:
                break
            if step == 0:
                price = 0.0
            elif not np.isfinite(high):
                price = max(average_price, 4 * low)
            else:
                price = (low + high) / 2
            evaluation = evaluator(price, budget, time_left())
            if evaluation is None:
                break
            best_bound = min(best_bound, evaluation.bound)
            if evaluation.spend <= budget * (1 + 1e-12):
                high = price
                value = float(formulation.objective @ evaluation.values)
                if value > best_value:
                    best_values, best_value = evaluation.values, value
                if step == 0:
                    break  # the budget does not bind: L(0) is the optimum
            else:
                low, over_values = price, evaluation.values
            log.debug(
                "decompose: λ %.6g spend %.6g of %.6g, bound %.6g, best %.6g",
                price,
                evaluation.spend,
                budget,
                best_bound,
                best_value,
            )
            if within_gap(best_value, best_bound, mip_gap):
                break
        if best_values is not None and over_values is not None and time_left() > 0:
            if not within_gap(best_value, best_bound, mip_gap):
                values = _settle_undecided(
                    formulation,
                    evaluator.column_block,
                    best_values,
                    over_values,
                    time_limit_s=time_left(),
                    mip_gap=mip_gap * BLOCK_GAP_SHARE,
                )
                if values is not None and formulation.objective @ values > best_value:
                    best_values, best_value = values, float(formulation.objective @ values)
    finally:
        evaluator.close()
    elapsed = time.perf_counter() - started
    result = SolverResult(best_values, best_bound, "feasible", "highs", elapsed)
    decided = decisions(problem, formulation, result)
    if best_values is not None:  # fill the money left with greedy upgrades
        usable = usable_options(problem, formulation)
        filled = upgrades(problem, usable, decided).plan(problem, problem.budget)
        if plan_benefit(problem, filled[0]) > plan_benefit(problem, decided[0]):
            if plan_cost(problem, *filled[:3]) <= problem.budget:
                decided = filled
    value = plan_benefit(problem, decided[0]) / formulation.benefit_scale
    proven = within_gap(value, best_bound, mip_gap)
    log.info(
        "decompose: %d blocks in %d groups, %.1f s, gap %.3g",
        evaluator.n_blocks,
        len(evaluator.groups),
        elapsed,
        (best_bound - value) / max(abs(value), 1e-300),
    )
    return checked_plan(
        problem,
        decided,
        scaled_bound=best_bound,
        formulation=formulation,
        status="optimal" if proven else ("time_limit" if time_left() <= 0 else "feasible"),
        solver="highs",
        solve_time_s=elapsed,
    )
