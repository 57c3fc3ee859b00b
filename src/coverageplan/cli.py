"""Command line: ``coverageplan run | sweep | validate | synth | import``. No planning logic here.

Exit status: 0 success; 2 bad input (scenario, region or arguments); 3 the
problem is infeasible; 4 the solver failed or, with ``--require-optimal``, did
not prove optimality; 1 anything unexpected. A sweep writes its table either
way and exits 4 if a point's solver failed, else 3 if a point was infeasible.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np

from coverageplan.errors import CoverageplanError, InfeasibleError, InputError, SolverError

EXIT_OK, EXIT_UNEXPECTED, EXIT_INPUT, EXIT_INFEASIBLE, EXIT_SOLVER = 0, 1, 2, 3, 4
DEMO_SCENARIO = Path("scenarios") / "demo.yaml"


def default_scenario() -> Path:
    """The demo scenario: in the working folder, else beside the source checkout."""
    candidates = [Path.cwd() / DEMO_SCENARIO, Path(__file__).resolve().parents[2] / DEMO_SCENARIO]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise InputError(f"no scenario given and no {DEMO_SCENARIO} found; pass a scenario file")


def cmd_run(args: argparse.Namespace) -> int:
    """Plan a scenario and print a one-line result."""
    from coverageplan.pipeline import run
    from coverageplan.scenario import load_scenario

    path = args.scenario or default_scenario()
    scenario = load_scenario(path, overrides=args.override)
    if args.output is not None:
        outputs = scenario.outputs.model_copy(update={"directory": args.output.resolve()})
        scenario = scenario.model_copy(update={"outputs": outputs})
    started = time.perf_counter()
    result = run(scenario)
    plan, problem = result.context.plan, result.context.problem
    population = result.context.region.villages["population"].to_numpy()
    served = population[plan.choice >= 0].sum()
    spent = max(plan.total_cost, 0.0)
    budget = (
        f"of {problem.budget:,.0f} USD" if np.isfinite(problem.budget) else "USD (no budget cap)"
    )
    surplus = f" (operator surplus {-plan.total_cost:,.0f} USD)" if plan.total_cost < 0 else ""
    print(
        f"{scenario.name}: served {served:,.0f} of {population.sum():,.0f} people "
        f"({served / max(population.sum(), 1):.1%}); public money {spent:,.0f} {budget}{surplus}; "
        f"status {plan.status}, gap {plan.gap:.2e}; {time.perf_counter() - started:.1f} s"
    )
    print(f"outputs: {result.output_dir}")
    if args.require_optimal and not plan.is_optimal:
        print(f"error: optimality not proved (status {plan.status})", file=sys.stderr)
        return EXIT_SOLVER
    return EXIT_OK


def cmd_sweep(args: argparse.Namespace) -> int:
    """Run a scenario's sweep and print where the table is and what it took."""
    from coverageplan.scenario import load_scenario
    from coverageplan.sweep import run_sweep

    scenario = load_scenario(args.scenario, overrides=args.override)
    if args.workers is not None and args.workers < 1:
        raise InputError(f"--workers must be at least 1 (got {args.workers})")
    result = run_sweep(
        scenario,
        directory=args.output.resolve() if args.output else None,
        workers=args.workers,
        scheduler=args.scheduler,
        resume=args.resume,
    )
    table, timings = result.table, result.timings_s
    statuses = table["status"].value_counts().to_dict()
    gap = table["gap"].replace(np.inf, np.nan).dropna()
    print(
        f"{scenario.name}: {len(table):,} points in {timings['total']:.1f} s "
        f"({timings['total'] / max(len(table), 1):.3f} s per point; engineering "
        f"{timings['engineering']:.1f} s); statuses "
        + ", ".join(f"{name} {count}" for name, count in statuses.items())
        + (f"; gap max {gap.max():.2e}, median {gap.median():.2e}" if len(gap) else "")
    )
    print(f"outputs: {result.directory}")
    if statuses.get("solver_error"):
        return EXIT_SOLVER
    return EXIT_INFEASIBLE if statuses.get("infeasible") else EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    """Validate scenario files (with any overrides)."""
    from coverageplan.scenario import load_scenario

    for path in args.files:
        scenario = load_scenario(path, overrides=args.override)
        names = ", ".join(scenario.overrides) or "none"
        print(f"{path}: valid (scenario {scenario.name!r}; overrides: {names})")
    return EXIT_OK


def cmd_synth(args: argparse.Namespace) -> int:
    """Generate and save a synthetic region."""
    from coverageplan.region import write_region
    from coverageplan.region.synth import synthesize

    started = time.perf_counter()
    region = synthesize(args.villages, args.seed)
    generated = time.perf_counter() - started
    write_region(region, args.out)
    print(
        f"wrote {args.out}: {len(region.villages):,} villages, {len(region.towers):,} towers, "
        f"{len(region.fibre_nodes):,} fibre nodes, DEM {region.terrain.elevation_m.shape[1]}×"
        f"{region.terrain.elevation_m.shape[0]} cells of {region.terrain.cell_size_m[0]:.0f} m "
        f"(generated in {generated:.1f} s, total {time.perf_counter() - started:.1f} s)"
    )
    return EXIT_OK


def cmd_import(args: argparse.Namespace) -> int:
    """Import a scenario's raw region files into a Region folder and print the report."""
    from coverageplan.pipeline import import_to, imported_region_dir
    from coverageplan.scenario import load_scenario

    scenario = load_scenario(args.scenario)
    if scenario.region.files is None:
        raise InputError(f"{args.scenario}: region has no 'files' section to import")
    folder = args.out.resolve() if args.out else imported_region_dir(scenario.region)
    report = import_to(scenario.region, folder)
    print("\n".join([f"wrote {folder}", *report.lines()]))
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``coverageplan`` command."""
    parser = argparse.ArgumentParser(prog="coverageplan", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log each stage")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="plan a scenario (default: the demo)")
    run.add_argument(
        "scenario", nargs="?", type=Path, help="scenario YAML (default: scenarios/demo.yaml)"
    )
    run.add_argument(
        "--override", action="append", default=[], metavar="NAME", help="apply a named override"
    )
    run.add_argument("--output", type=Path, help="output folder (default: the scenario's)")
    run.add_argument(
        "--require-optimal", action="store_true", help="exit 4 unless optimality is proved"
    )
    run.set_defaults(handler=cmd_run)

    sweep = commands.add_parser("sweep", help="run a scenario's parameter sweep")
    sweep.add_argument("scenario", type=Path, help="scenario YAML with a 'sweep' section")
    sweep.add_argument("--output", type=Path, help="sweep folder (default: the scenario's)")
    sweep.add_argument(
        "--workers", type=int, help="local worker processes (default: the CPU count)"
    )
    sweep.add_argument(
        "--scheduler", metavar="ADDRESS", help="run on this Dask scheduler (tcp://host:8786)"
    )
    sweep.add_argument(
        "--resume", action="store_true", help="keep the folder's finished points, run the rest"
    )
    sweep.add_argument(
        "--override", action="append", default=[], metavar="NAME", help="apply a named override"
    )
    sweep.set_defaults(handler=cmd_sweep)

    validate = commands.add_parser("validate", help="check scenario files")
    validate.add_argument("files", nargs="+", type=Path)
    validate.add_argument("--override", action="append", default=[], metavar="NAME")
    validate.set_defaults(handler=cmd_validate)

    synth = commands.add_parser("synth", help="generate a synthetic region")
    synth.add_argument("--villages", type=int, required=True, help="number of villages")
    synth.add_argument("--seed", type=int, default=0, help="random seed")
    synth.add_argument("--out", type=Path, required=True, help="output region folder")
    synth.set_defaults(handler=cmd_synth)

    imports = commands.add_parser("import", help="import a scenario's raw region files")
    imports.add_argument("scenario", type=Path, help="scenario YAML with region.files")
    imports.add_argument("--out", type=Path, help="region folder (default: the import cache)")
    imports.set_defaults(handler=cmd_import)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``coverageplan`` console script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("pyogrio").setLevel(logging.WARNING)
    try:
        return int(args.handler(args))
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_INPUT
    except InfeasibleError as error:
        print(f"infeasible: {error}", file=sys.stderr)
        return EXIT_INFEASIBLE
    except SolverError as error:
        print(f"solver error: {error}", file=sys.stderr)
        return EXIT_SOLVER
    except CoverageplanError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_UNEXPECTED


if __name__ == "__main__":
    sys.exit(main())
