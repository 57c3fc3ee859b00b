"""Error hierarchy: every failure a user can cause names what to fix."""


class CoverageplanError(Exception):
    """Base class of the errors coverageplan raises on purpose."""


class InputError(CoverageplanError):
    """A scenario or region file is invalid: the message names the file, key or row."""


class InfeasibleError(CoverageplanError):
    """The problem has no plan that satisfies its constraints (e.g. a target)."""


class SolverError(CoverageplanError):
    """The solver failed, or returned a plan that does not check out."""
