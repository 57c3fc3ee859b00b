"""Optimizer: ``Problem`` → :func:`solve` → ``Plan`` (see DESIGN.md, "The optimizer contract")."""

from coverageplan.optimize.decompose import solve_decomposed
from coverageplan.optimize.frontier import frontier
from coverageplan.optimize.problem import (
    CELLULAR,
    CONSOLIDATE,
    FIBRE,
    SATELLITE,
    UNSERVED,
    Plan,
    Problem,
)
from coverageplan.optimize.solve import solve

__all__ = [
    "CELLULAR",
    "CONSOLIDATE",
    "FIBRE",
    "SATELLITE",
    "UNSERVED",
    "Plan",
    "Problem",
    "frontier",
    "solve",
    "solve_decomposed",
]
