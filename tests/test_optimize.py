"""The optimizer against exhaustive enumeration and invariants.

The oracle here is written independently of the optimizer's own checks: it
enumerates every choice vector and, for each, the cheapest set of sites and
trenches that makes it valid.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import sparse

from coverageplan.errors import InfeasibleError, SolverError
from coverageplan.optimize import Problem, solve
from coverageplan.optimize.problem import plan_violations

K = 3


def random_problem(seed: int, *, with_beams: bool | None = None, extended: bool = False) -> Problem:
    """A small random instance; ``extended`` adds consolidation hosts, negative
    costs (net revenue) and a coverage target."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 6))
    m = int(rng.integers(0, 4))
    order = rng.permutation(n)
    parent = np.full(n, -1)
    for rank in range(1, n):  # a random forest: each node's parent comes earlier in `order`
        if rng.random() < 0.7:
            parent[order[rank]] = order[rng.integers(0, rank)]
    with_beams = bool(rng.random() < 0.5) if with_beams is None else with_beams
    k = K + 1 if extended else K
    low = -3 if extended else 0
    cost = np.round(rng.uniform(low, 10, (n, k)), 3)
    benefit = np.round(rng.uniform(0, 10, (n, k)) * (rng.random((n, k)) < 0.9), 3)
    site_cost = np.round(rng.uniform(0, 15, m), 3)
    edge_cost = np.round(rng.uniform(0, 8, n), 3)
    total = np.clip(cost, 0, None).sum() + site_cost.sum() + edge_cost.sum()
    kwargs: dict = {}
    if extended:
        host = np.array(
            [
                rng.choice([j for j in range(n) if j != i]) if n > 1 and rng.random() < 0.6 else -1
                for i in range(n)
            ]
        )
        weight = np.round(rng.uniform(0, 5, (1, n, k)) * (rng.random((1, n, k)) < 0.7), 3)
        kwargs = {
            "host": host,
            "target_weight": weight,
            "target_required": np.round(rng.uniform(0, 0.5) * weight.max(axis=2).sum(axis=1), 3),
            "target_names": ("t0",),
        }
    if with_beams:
        beam = rng.integers(0, 2, n)
        kwargs = {
            "beam": beam,
            "beam_capacity": np.round(rng.uniform(0, 6, int(beam.max()) + 1), 3),
            "sat_demand": np.round(rng.uniform(0, 4, n), 3),
        }
    return Problem(
        cost=cost,
        benefit=benefit,
        budget=float(np.round(rng.uniform(0, 0.6) * total, 3)),
        feasible=rng.random((n, k)) < 0.85,
        site_cost=site_cost,
        cover=sparse.csr_matrix(rng.random((n, m)) < 0.5),
        existing_cover=rng.random(n) < 0.2,
        parent=parent,
        edge_cost=edge_cost,
        **kwargs,
    )


def fits_capacity(problem: Problem, need: int, built: np.ndarray) -> bool:
    """Some assignment of the ``need`` villages to built sites covering them fits every capacity."""
    if not problem.has_site_capacity:
        return True
    cover = problem.cover.toarray()
    villages = [i for i in range(problem.n_villages) if need >> i & 1]
    options = [[s for s in np.flatnonzero(built) if cover[i, s]] for i in villages]
    for sites in itertools.product(*options):
        load = np.zeros(problem.n_sites)
        for i, s in zip(villages, sites, strict=True):
            load[s] += problem.cell_demand[i]
        if (load <= problem.site_capacity + 1e-9).all():
            return True
    return False


def brute_force(problem: Problem, goal: str = "max_benefit") -> float:
    """Best objective over every choice vector, each with its cheapest valid sites and trenches.

    max_benefit: the most benefit within the budget; min_cost: the least cost
    meeting every target (inf when none does).
    """
    n, k, m = problem.n_villages, problem.n_options, problem.n_sites
    cover = problem.cover.toarray()
    # Cheapest site set serving each subset of villages (as a bit mask).
    cheapest = np.full(2**n, np.inf)
    for subset in itertools.product([0, 1], repeat=m):
        built = np.array(subset, dtype=bool)
        covered = cover[:, built].any(axis=1) if m else np.zeros(n, bool)
        mask = sum(1 << i for i in range(n) if covered[i])
        cost = problem.site_cost[built].sum()
        for need in range(2**n):  # every subset of `covered` is covered too
            if need & ~mask == 0 and fits_capacity(problem, need, built):
                cheapest[need] = min(cheapest[need], cost)
    best = 0.0 if goal == "max_benefit" else np.inf
    for choice in itertools.product(range(-1, k), repeat=n):
        spend, value, need = 0.0, 0.0, 0
        trench = set()
        load = {}
        reached = np.zeros(len(problem.target_names))
        valid = True
        for i, option in enumerate(choice):
            if option < 0:
                continue
            if not problem.feasible[i, option]:
                valid = False
                break
            spend += problem.cost[i, option]
            value += problem.benefit[i, option]
            reached += problem.target_weight[:, i, option]
            if option == 1 and problem.has_cellular and not problem.existing_cover[i]:
                need |= 1 << i
            if option == 0 and problem.has_fibre_tree:
                node = i
                while node >= 0 and node not in trench:
                    trench.add(node)
                    node = problem.parent[node]
            if option == 2 and problem.has_beams:
                load[problem.beam[i]] = load.get(problem.beam[i], 0.0) + problem.sat_demand[i]
            if option == 3 and problem.has_hosts:
                host = problem.host[i]
                if host < 0 or choice[host] not in (0, 1, 2):
                    valid = False
                    break
        if not valid or (goal == "max_benefit" and value <= best):
            continue
        if any(load[b] > problem.beam_capacity[b] + 1e-9 for b in load):
            continue
        if (reached < problem.target_required - 1e-9).any():
            continue
        spend += cheapest[need] + sum(problem.edge_cost[t] for t in trench)
        if spend > problem.budget + 1e-9:
            continue
        best = value if goal == "max_benefit" else min(best, spend)
    return best


def recomputed_benefit(problem: Problem, choice: np.ndarray) -> float:
    return sum(problem.benefit[i, c] for i, c in enumerate(choice) if c >= 0)


@pytest.mark.parametrize("seed", range(200))
def test_milp_matches_exhaustive_enumeration(seed: int) -> None:
    problem = random_problem(seed)
    plan = solve(problem, mip_gap=0.0)
    expected = brute_force(problem)
    assert plan.objective == pytest.approx(expected, abs=1e-6)
    assert plan.total_cost <= problem.budget
    assert plan.objective == pytest.approx(recomputed_benefit(problem, plan.choice), abs=1e-9)
    assert plan.bound >= plan.objective - 1e-9
    assert plan.status == "optimal"
    assert plan_violations(problem, plan.choice, plan.sites_built, plan.edges_built) == []


@pytest.mark.parametrize("seed", range(100))
def test_extended_problems_match_enumeration_for_both_goals(seed: int) -> None:
    problem = random_problem(seed, extended=True)
    best = brute_force(problem)
    try:
        plan = solve(problem, mip_gap=0.0)
    except InfeasibleError:
        assert best == 0.0 and problem.target_required.any()
    else:
        assert plan.objective == pytest.approx(best, abs=1e-6)
        assert plan.total_cost <= problem.budget
    cheapest = brute_force(
        Problem(**{**problem_fields(problem), "budget": np.inf}), goal="min_cost"
    )
    unbounded = Problem(**{**problem_fields(problem), "budget": np.inf})
    if np.isinf(cheapest):
        with pytest.raises(InfeasibleError):
            solve(unbounded, goal="min_cost", mip_gap=0.0)
    else:
        plan = solve(unbounded, goal="min_cost", mip_gap=0.0)
        assert plan.objective == pytest.approx(cheapest, abs=1e-6)
        assert plan.total_cost == pytest.approx(cheapest, abs=1e-6)
        assert plan.bound <= plan.objective + 1e-9
        assert plan_violations(unbounded, plan.choice, plan.sites_built, plan.edges_built) == []


def problem_fields(problem: Problem) -> dict:
    names = (
        "cost",
        "benefit",
        "budget",
        "feasible",
        "site_cost",
        "cover",
        "existing_cover",
        "parent",
        "edge_cost",
        "host",
        "target_weight",
        "target_required",
        "target_names",
    )
    fields = {name: getattr(problem, name) for name in names}
    if problem.has_beams:
        fields.update(
            beam=problem.beam, beam_capacity=problem.beam_capacity, sat_demand=problem.sat_demand
        )
    return fields


@pytest.mark.parametrize("seed", range(0, 200, 10))
def test_cbc_through_pulp_agrees(seed: int) -> None:
    problem = random_problem(seed)
    plan = solve(problem, solver="cbc", mip_gap=0.0)
    assert plan.objective == pytest.approx(brute_force(problem), abs=1e-6)
    assert plan.total_cost <= problem.budget
    assert plan.solver == "cbc"


def test_plain_multiple_choice_knapsack() -> None:
    problem = Problem(
        cost=[[4.0, 2.0], [3.0, 5.0], [6.0, 1.0]],
        benefit=[[10.0, 4.0], [7.0, 9.0], [8.0, 3.0]],
        budget=9.0,
    )
    plan = solve(problem, mip_gap=0.0)
    # Best: village 0 option 0 (4), village 1 option 0 (3), village 2 option 1 (1) = 8 ≤ 9 → 20.
    assert plan.objective == 20.0
    assert list(plan.choice) == [0, 0, 1]
    assert plan.total_cost == 8.0
    assert plan.sites_built.shape == (0,)


def test_shared_site_serves_several_villages() -> None:
    problem = Problem(
        cost=np.tile([9.0, 0.0, 9.0], (3, 1)),
        benefit=np.ones((3, 3)),
        budget=5.0,
        site_cost=[5.0],
        cover=sparse.csr_matrix(np.ones((3, 1), bool)),
    )
    plan = solve(problem)
    assert list(plan.choice) == [1, 1, 1]
    assert plan.sites_built.tolist() == [True]
    assert plan.total_cost == 5.0


def test_fibre_chain_shares_the_trench() -> None:
    # 0 joins the network; 1 hangs off 0; 2 off 1. Fibre to 2 pays the whole chain once.
    problem = Problem(
        cost=np.full((3, 3), 100.0) * [[0, 1, 1]],
        benefit=np.ones((3, 3)),
        budget=6.0,
        parent=[-1, 0, 1],
        edge_cost=[2.0, 2.0, 2.0],
    )
    plan = solve(problem)
    assert list(plan.choice) == [0, 0, 0]
    assert plan.edges_built.tolist() == [True, True, True]
    assert plan.total_cost == 6.0


def test_zero_budget_serves_only_free_options() -> None:
    problem = Problem(cost=[[1.0, 0.0]], benefit=[[5.0, 2.0]], budget=0.0)
    plan = solve(problem)
    assert list(plan.choice) == [1]
    assert plan.total_cost == 0.0


def test_problem_rejects_bad_shapes_and_cycles() -> None:
    with pytest.raises(ValueError, match=r"Problem\.benefit: expected shape \(2, 2\)"):
        Problem(cost=np.ones((2, 2)), benefit=np.ones((2, 3)), budget=1)
    with pytest.raises(ValueError, match="cycle"):
        Problem(cost=np.ones((3, 1)), benefit=np.ones((3, 1)), budget=1, parent=[2, 0, 1])
    with pytest.raises(ValueError, match="budget"):
        Problem(cost=np.ones((1, 1)), benefit=np.ones((1, 1)), budget=-1)
    with pytest.raises(ValueError, match=r"site_cost: values must be ≥ 0"):
        Problem(
            cost=np.ones((1, 2)),
            benefit=np.ones((1, 2)),
            budget=1,
            site_cost=[-1.0],
            cover=sparse.csr_matrix(np.ones((1, 1), bool)),
        )
    with pytest.raises(ValueError, match="index 3 is consolidation"):
        Problem(cost=np.ones((2, 3)), benefit=np.ones((2, 3)), budget=1, host=[1, -1])
    with pytest.raises(ValueError, match="index 1 is cellular"):
        Problem(cost=np.ones((1, 1)), benefit=np.ones((1, 1)), budget=1, existing_cover=[True])


def test_a_plan_breaking_constraints_is_refused(monkeypatch) -> None:
    import importlib

    from coverageplan.optimize import milp

    solve_module = importlib.import_module("coverageplan.optimize.solve")

    real = milp.solve_highs

    def overspend(formulation, **kwargs):
        result = real(formulation, **kwargs)
        values = np.ones(formulation.objective.size)
        return milp.SolverResult(values, result.bound, "optimal", "highs", 0.0)

    monkeypatch.setattr(solve_module, "solve_highs", overspend)
    monkeypatch.setattr(milp, "solve_highs", overspend)  # the restricted MILP's too
    problem = Problem(cost=[[5.0], [5.0]], benefit=[[1.0], [1.0]], budget=5.0)
    plan = solve(problem)  # every solver plan overspends: only the floored LP plan is left
    assert plan.total_cost <= problem.budget
    assert plan.status != "optimal" and plan.gap > 0


def test_a_plan_breaking_a_constraint_raises() -> None:
    from coverageplan.optimize.milp import build_formulation
    from coverageplan.optimize.solve import checked_plan

    problem = Problem(cost=[[5.0], [5.0]], benefit=[[1.0], [1.0]], budget=5.0)
    both = (np.array([0, 0]), np.zeros(0, bool), np.zeros(2, bool), np.array([-1, -1]))
    with pytest.raises(SolverError, match="budget is exceeded"):
        checked_plan(
            problem,
            both,
            scaled_bound=1.0,
            formulation=build_formulation(problem),
            status="optimal",
            solver="highs",
            solve_time_s=0.0,
        )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), fractions=st.lists(st.floats(0, 1), min_size=2, max_size=4))
def test_budget_respected_and_coverage_grows_with_budget(seed: int, fractions: list[float]) -> None:
    base = random_problem(seed)
    total = base.cost.sum() + base.site_cost.sum() + base.edge_cost.sum()
    previous = -np.inf
    for fraction in sorted(fractions):
        problem = Problem(
            cost=base.cost,
            benefit=base.benefit,
            budget=fraction * total,
            feasible=base.feasible,
            site_cost=base.site_cost,
            cover=base.cover,
            existing_cover=base.existing_cover,
            parent=base.parent,
            edge_cost=base.edge_cost,
        )
        plan = solve(problem, mip_gap=0.0)
        assert plan.total_cost <= problem.budget
        assert plan.objective >= previous - 1e-9
        previous = plan.objective


@pytest.mark.parametrize("seed", range(60))
def test_the_priced_milp_bound_lies_between_the_optimum_and_the_lp_bound(seed: int) -> None:
    """H(λ) + λ b bounds every plan within b, and is no weaker than the LP's line at λ."""
    from coverageplan.optimize.milp import PricedRelaxation, build_formulation
    from coverageplan.optimize.solve import priced_milp

    problem = random_problem(seed, extended=seed % 2 == 1)
    formulation = build_formulation(problem)
    if formulation.budget_row < 0:
        pytest.skip("no budget row to price")
    best = brute_force(problem) / formulation.benefit_scale
    budget = formulation.row_upper[formulation.budget_row]
    relaxation = PricedRelaxation(formulation)
    for price in (0.0, 0.3, 1.0, 3.0):
        lp_line = relaxation.solve(price, time_limit_s=10).bound + price * budget
        bound, values = priced_milp(
            formulation, price, lp_bound=lp_line, time_limit_s=10, mip_gap=0.0
        )
        assert best - 1e-7 <= bound <= lp_line + 1e-7
        if values is not None:  # a solution of every row but the budget
            activity = formulation.a_matrix @ values
            others = np.arange(len(activity)) != formulation.budget_row
            assert (activity[others] <= formulation.row_upper[others] + 1e-7).all()
            assert (activity[others] >= formulation.row_lower[others] - 1e-7).all()


def budgeted_optimum(seed: int) -> tuple:
    """(problem, formulation, HiGHS's optimum) of ``random_problem(seed)``; skips without a
    budget row or a plan."""
    from coverageplan.optimize.milp import build_formulation, solve_highs

    problem = random_problem(seed, extended=seed % 2 == 1)
    formulation = build_formulation(problem)
    if formulation.budget_row < 0:
        pytest.skip("no budget row")
    optimal = solve_highs(formulation, time_limit_s=10, mip_gap=0.0)
    if optimal.values is None:
        pytest.skip("no plan at this budget")
    return problem, formulation, optimal


@pytest.mark.parametrize("seed", range(40))
def test_a_plan_cut_back_within_its_infrastructure(seed: int) -> None:
    """The MILP bounded by a plan's sites and trenches keeps to them and to the budget.

    From the unbudgeted plan (priced at 0, so overspending) it returns a plan
    within budget no better than the optimum; from the optimal plan's own
    infrastructure it finds the optimum again.
    """
    from coverageplan.optimize.milp import solve_fixed
    from coverageplan.optimize.solve import meets_rows, priced_milp, within_infrastructure

    problem, formulation, optimal = budgeted_optimum(seed)
    _, everything = priced_milp(formulation, 0.0, lp_bound=1.0, time_limit_s=10, mip_gap=0.0)
    f = formulation
    infrastructure = slice(f.n_x, f.n_x + f.n_y + f.n_g)
    for plan in (everything, np.round(optimal.values)):
        lower, upper = within_infrastructure(f, plan)
        values = solve_fixed(f, lower, upper, time_limit_s=10, mip_gap=0.0)
        if values is None:
            assert problem.target_required.any()  # only a target can leave no plan
            continue
        assert meets_rows(f, values)
        assert (values[infrastructure] <= plan[infrastructure]).all()
        assert f.objective @ values <= optimal.bound + 1e-7
    assert f.objective @ values >= f.objective @ np.round(optimal.values) - 1e-7


@pytest.mark.parametrize("seed", range(60))
def test_reduced_costs_price_every_step_off_the_lp_solution(seed: int) -> None:
    """Any plan within budget is worth at most h(λ) + λ b − Σ |d_j| |v_j − v*_j| (LP duality).

    The reduced costs are the priced objective less the rows' dual prices;
    a column off the zero-reduced-cost face sits at its bound, on the side
    its sign says; the face restriction frees the face and the LP's support.
    """
    from coverageplan.optimize.milp import PricedRelaxation, without_budget
    from coverageplan.optimize.solve import DUAL_ZERO, face_restriction, lp_restrictions

    _, formulation, optimal = budgeted_optimum(seed)
    plan = np.round(optimal.values)
    budget = formulation.row_upper[formulation.budget_row]
    rows = without_budget(formulation).a_matrix
    relaxation = PricedRelaxation(formulation)
    for price in (0.0, 0.5, 2.0):
        lp = relaxation.solve(price, time_limit_s=10)
        reduced = relaxation.reduced_costs(price, time_limit_s=10)
        assert lp.values is not None and reduced is not None
        row_dual = np.asarray(relaxation.highs.getSolution().row_dual)
        priced_objective = formulation.objective - price * formulation.money
        np.testing.assert_allclose(reduced, priced_objective + rows.T @ row_dual, atol=1e-7)
        off_face = np.abs(reduced) > DUAL_ZERO
        at_one, at_zero = np.isclose(lp.values, 1), np.isclose(lp.values, 0)
        assert (at_one | at_zero)[off_face].all()
        assert (reduced[off_face & at_one] > 0).all() and (reduced[off_face & at_zero] < 0).all()
        penalty = np.abs(reduced) @ np.abs(plan - lp.values)
        assert formulation.objective @ plan <= lp.bound + price * budget - penalty + 1e-6
        villages_free = lp_restrictions(formulation, lp.values)[1]
        lower, upper = face_restriction(villages_free, ~off_face)
        assert (upper[~off_face] == 1).all() and (upper[lp.values > 1e-6] == 1).all()
        assert (lower == villages_free[0]).all() and (lower <= upper).all()


def test_the_lp_guide_face_holds_every_fractional_column_of_an_optimal_lp(
    synthetic_region_problem: Problem,
) -> None:
    """A column fractional in some optimal LP has zero reduced cost in every optimal dual."""
    from coverageplan.optimize.frontier import greedy_price
    from coverageplan.optimize.milp import PricedRelaxation, build_formulation
    from coverageplan.optimize.solve import lp_guide

    formulation = build_formulation(synthetic_region_problem)
    start = greedy_price(synthetic_region_problem, formulation)
    guide = lp_guide(formulation, time_limit_s=30, mip_gap=1e-3, start_price=start, with_face=True)
    assert guide.price is not None and guide.face is not None
    assert lp_guide(formulation, time_limit_s=30, mip_gap=1e-3, start_price=start).face is None
    fresh = PricedRelaxation(formulation).solve(guide.price, time_limit_s=30)  # another basis
    assert fresh.values is not None
    fractional = (fresh.values > 1e-6) & (fresh.values < 1 - 1e-6)
    assert fractional.any() and guide.face[fractional].all()
    assert not guide.face.all()


@pytest.fixture(scope="module")
def synthetic_region_problem() -> Problem:
    """400 synthetic villages, candidate sites 3 km apart, a fifth of the greedy full cost.

    Overlapping sites leave its LP fractional (~30 columns).
    """
    from coverageplan.optimize.frontier import greedy_full_cost
    from coverageplan.pipeline import prepare
    from coverageplan.scenario import Scenario

    scenario = Scenario.model_validate(
        {
            "region": {"synthetic": {"villages": 400, "seed": 3}},
            "engineering": {"radio": {"candidate_spacing_m": 3000.0}},
        }
    )
    problem = prepare(scenario).problem
    return problem.at_budget(0.2 * greedy_full_cost(problem))


@given(st.floats(-1e6, 1e6), st.floats(0, 0.5))
def test_the_proven_objective_is_the_least_within_the_gap(bound: float, mip_gap: float) -> None:
    from coverageplan.optimize.solve import proven_objective, within_gap

    least = proven_objective(bound, mip_gap)
    assert within_gap(least, bound, mip_gap)
    assert not within_gap(least - 1e-6 * max(abs(least), 1.0) - 1e-8, bound, mip_gap)


def test_a_milp_with_a_target_stops_at_the_first_plan_reaching_it(
    synthetic_region_problem: Problem,
) -> None:
    from coverageplan.optimize.milp import build_formulation, solve_highs

    formulation = build_formulation(synthetic_region_problem)
    optimal = solve_highs(formulation, time_limit_s=30, mip_gap=1e-4)
    assert optimal.values is not None and optimal.status == "optimal"
    target = 0.9 * float(formulation.objective @ optimal.values)
    stopped = solve_highs(formulation, time_limit_s=30, mip_gap=1e-4, target=target)
    assert stopped.values is not None and stopped.status == "feasible"  # not proven: stopped
    assert target <= formulation.objective @ np.round(stopped.values)
    assert stopped.bound >= optimal.bound - 1e-6 * abs(optimal.bound)


@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize("goal", ["max_benefit", "min_cost"])
def test_a_plan_within_a_wide_gap_is_within_it_of_the_optimum(seed: int, goal: str) -> None:
    """With mip_gap 5 % the restricted MILPs stop early; the plan still keeps its promise."""
    problem = random_problem(seed, extended=seed % 2 == 1)
    best = brute_force(problem, goal)
    if not np.isfinite(best):
        pytest.skip("no plan meets the targets")
    plan = solve(problem, goal=goal, mip_gap=0.05)  # type: ignore[arg-type]
    assert plan.total_cost <= problem.budget + 1e-9
    if goal == "max_benefit":
        assert plan.objective <= best + 1e-6 and plan.bound >= best - 1e-6
        assert plan.objective >= best - 0.05 * abs(plan.objective) - 1e-6
    else:
        assert plan.total_cost >= best - 1e-6
        assert plan.total_cost - best <= 0.05 * abs(plan.total_cost) + 1e-6  # the gap on −cost
    assert plan.is_optimal


@pytest.mark.parametrize("seed", range(60))
def test_the_floored_lp_plan_meets_every_row(seed: int) -> None:
    """solve's safety-net plan: the LP rounded down, options on fractional sites dropped."""
    from coverageplan.optimize.milp import build_formulation, solve_highs
    from coverageplan.optimize.solve import floor_plan

    problem = random_problem(seed, extended=seed % 2 == 1)
    formulation = build_formulation(problem)
    lp = solve_highs(formulation, time_limit_s=10, mip_gap=0.0, integer=False)
    if lp.values is None:
        pytest.skip("the LP has no solution")
    values = floor_plan(formulation, lp.values)
    if values is None:
        assert problem.target_required.any()  # only a target's lower limit can break
        return
    assert set(np.unique(values)) <= {0.0, 1.0}
    activity = formulation.a_matrix @ values
    assert (activity <= formulation.row_upper + 1e-9).all()
    assert (activity >= formulation.row_lower - 1e-9).all()
    assert formulation.objective @ values <= lp.bound + 1e-9


def test_a_run_past_its_deadline_is_killed() -> None:
    """A child that ignores every limit (here: sleeps) is killed at the deadline: None."""
    import time

    from coverageplan.processes import call_with_deadline

    started = time.perf_counter()
    assert call_with_deadline(1.0, time.sleep, 60) is None
    assert time.perf_counter() - started < 20


def test_an_error_in_the_child_is_raised_in_the_parent() -> None:
    from coverageplan.processes import call_with_deadline

    with pytest.raises(ValueError, match="could not convert"):
        call_with_deadline(60.0, float, "not a number")


def test_a_worker_returns_results_in_order_and_raises_its_errors() -> None:
    import math

    from coverageplan.processes import ChildWorker

    worker = ChildWorker()
    try:
        for value in (1.0, 4.0, 9.0):
            worker.submit(math.sqrt, value)
        worker.submit(print, "to stderr, not into the replies")
        assert [worker.result() for _ in range(3)] == [1.0, 2.0, 3.0]
        assert worker.result() is None
        worker.submit(float, "not a number")
        with pytest.raises(ValueError, match="could not convert"):
            worker.result()
        worker.submit(math.sqrt, 16.0)  # still serving after an error
        assert worker.result() == 4.0
    finally:
        worker.close()
    assert worker.process.returncode == 0


def test_a_worker_takes_new_calls_while_large_results_wait_unread() -> None:
    """Results bigger than a pipe's buffer, several outstanding: no deadlock."""
    import threading

    from coverageplan.processes import ChildWorker

    worker = ChildWorker()
    try:
        payload = np.arange(1_000_000, dtype=np.float64)  # 8 MB each way
        sender = threading.Thread(
            target=lambda: [worker.submit(np.multiply, payload, k) for k in (1.0, 2.0, 3.0)],
            daemon=True,
        )
        sender.start()
        sender.join(timeout=60.0)
        if sender.is_alive():  # a deadlock: fail rather than hang
            worker.process.kill()
            pytest.fail("submitting blocked while the child's replies were unread")
        for scale in (1.0, 2.0, 3.0):
            assert np.array_equal(worker.result(timeout_s=60.0), payload * scale)
    finally:
        worker.close()


def test_a_dead_worker_is_reported() -> None:
    import os

    from coverageplan.processes import ChildWorker

    worker = ChildWorker()
    worker.submit(os._exit, 3)
    with pytest.raises(RuntimeError, match="exit code 3"):
        worker.result()
    worker.close()


def test_the_full_milp_in_a_child_equals_the_one_in_process(monkeypatch) -> None:
    import importlib

    solve_module = importlib.import_module("coverageplan.optimize.solve")
    problem = random_problem(3, extended=True)
    in_process = solve(problem, mip_gap=0.0)
    monkeypatch.setattr(solve_module, "CHILD_PROCESS_COLUMNS", 0)
    monkeypatch.setattr(solve_module, "within_gap", lambda *args: False)  # force the full MILP
    in_child = solve(problem, mip_gap=0.0)
    assert in_child.objective == pytest.approx(in_process.objective, rel=1e-9, abs=1e-9)
