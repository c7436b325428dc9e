"""vhpi.decide.rotation: the rename plan that makes room for a new `<interval>.0`."""

import itertools

import pytest

from vhpi.decide.rotation import RotationPlan, describe_plan, plan_rotation


@pytest.mark.parametrize("existing, keep, drops, renames, excess", [
    # nothing yet
    ([], 1, (), (), 0),
    ([], 5, (), (), 0),
    # fewer than keep: everything shifts up, nothing dropped
    ([0], 3, (), ((0, 1),), 0),
    ([0, 1], 3, (), ((1, 2), (0, 1)), 0),
    # exactly keep: the oldest goes, the rest shift up
    ([0, 1, 2], 3, (2,), ((1, 2), (0, 1)), 0),
    ([0, 1, 2, 3, 4, 5, 6], 7, (6,), ((5, 6), (4, 5), (3, 4), (2, 3), (1, 2), (0, 1)), 0),
    # keep count lowered: only ONE is dropped; excess counts what stays beyond keep once the
    # new .0 is in place (6 snapshots with keep 3 -> 3 too many)
    ([0, 1, 2, 3, 4, 5], 3, (5,), ((4, 5), (3, 4), (2, 3), (1, 2), (0, 1)), 3),
    ([0, 1, 2, 3], 3, (3,), ((2, 3), (1, 2), (0, 1)), 1),
    ([0, 1, 2, 3, 4], 1, (4,), ((3, 4), (2, 3), (1, 2), (0, 1)), 4),
    # gaps left by a crash: the renames close them, nothing is dropped below keep
    ([0, 2, 3], 5, (), ((0, 1),), 0),
    ([0, 1, 3], 5, (), ((1, 2), (0, 1)), 0),
    ([0, 3], 5, (), ((3, 2), (0, 1)), 0),       # one move down is safe
    # already shifted (crash after the renames, before the new .0 was put in place)
    ([1, 2], 3, (), (), 0),
    ([1, 2, 3], 3, (3,), (), 0),
    ([1], 1, (1,), (), 0),
    # keep 1
    ([0], 1, (0,), (), 0),
    # order and duplicates of the input do not matter
    ([2, 0, 1, 1, 0], 3, (2,), ((1, 2), (0, 1)), 0),
])
def test_plan_rotation(existing, keep, drops, renames, excess):
    plan = plan_rotation("daily", existing, keep)
    assert plan == RotationPlan("daily", keep, drops, renames, excess)


def test_plan_accepts_any_iterable():
    assert plan_rotation("x", iter({0, 1}), 2).drops == (1,)


@pytest.mark.parametrize("keep", [0, -1, -100])
def test_keep_below_one_raises(keep):
    with pytest.raises(ValueError, match=f"keep count of daily must be at least 1, got {keep}"):
        plan_rotation("daily", [0, 1], keep)


# ---------------------------------------------------------------- simulation helpers

def apply_steps(names, plan, steps=None):
    """Apply the plan's drops then renames to the set `names` (numbers), in order, asserting
    that no rename overwrites an existing snapshot or moves a missing one. Applies only the
    first `steps` steps when given (a crash part-way). Returns the new set."""
    names = set(names)
    todo = [("drop", n) for n in plan.drops] + [("rename", pair) for pair in plan.renames]
    for kind, what in todo[:steps]:
        if kind == "drop":
            assert what in names, f"drop of missing {what} in {plan}"
            names.remove(what)
        else:
            old, new = what
            assert old in names, f"rename of missing {old} in {plan}"
            assert new not in names, f"rename {old} -> {new} overwrites an existing snapshot: {plan}"
            names.remove(old)
            names.add(new)
    return names


def step_count(plan):
    return len(plan.drops) + len(plan.renames)


def check_result(before, keep, plan, after):
    """The state after a full rotation: exactly {1..m}, .0 free, at most one dropped."""
    assert 0 not in after
    expected_m = len(set(before)) - len(plan.drops)
    assert after == set(range(1, expected_m + 1))
    assert len(plan.drops) <= 1
    if len(set(before)) >= keep:
        assert plan.drops == (max(before),)          # only ever the oldest
    else:
        assert plan.drops == ()


def crash_reachable_states(max_count=6):
    """Every state a rotation can leave behind: a clean {0..n-1} or {1..n} (put_in_place not
    done yet), and every prefix of applying its plan, for n up to max_count and any keep."""
    states = set()
    for n in range(max_count + 1):
        for start in (0, 1):
            clean = frozenset(range(start, start + n))
            for keep in range(1, max_count + 2):
                plan = plan_rotation("d", clean, keep)
                for steps in range(step_count(plan) + 1):
                    states.add((frozenset(apply_steps(clean, plan, steps)), keep))
    return sorted(states, key=lambda s: (s[1], sorted(s[0])))


CRASH_STATES = crash_reachable_states()


@pytest.mark.parametrize("state, keep", CRASH_STATES,
                         ids=[f"{sorted(s)}-keep{k}" for s, k in CRASH_STATES])
def test_property_renames_never_overwrite_and_free_zero(state, keep):
    plan = plan_rotation("d", state, keep)
    after = apply_steps(state, plan)
    check_result(state, keep, plan, after)


def test_crash_states_are_a_real_sample():
    # the generator above must really produce gapped states, not just the clean ones
    states = {tuple(sorted(s)) for s, _ in CRASH_STATES}
    assert (0, 2, 3) in states and (0, 1, 3) in states and (1, 2) in states
    assert len(CRASH_STATES) > 100


@pytest.mark.parametrize("n, keep", [(n, k) for n in range(0, 7) for k in range(max(n, 1), 8)])
def test_replanning_after_a_crash_finishes_the_same_rotation(n, keep):
    """Plan from {0..n-1}; crash after any number of steps; plan again from what is on disk
    and run that plan to the end. The final state is the one the uninterrupted plan reaches,
    and no second snapshot is dropped."""
    start = set(range(n))
    plan = plan_rotation("d", start, keep)
    final = apply_steps(start, plan)
    check_result(start, keep, plan, final)
    for steps in range(step_count(plan) + 1):
        on_disk = apply_steps(start, plan, steps)
        replan = plan_rotation("d", on_disk, keep)
        dropped_before = len(start) - len(on_disk)
        assert dropped_before + len(replan.drops) == len(plan.drops), (steps, replan)
        assert apply_steps(on_disk, replan) == final, (steps, replan)


def test_crash_after_drop_in_the_exactly_keep_case():
    # {0,1,2} keep 3: drop 2, then crash; the new plan must only shift
    plan = plan_rotation("daily", {0, 1}, 3)
    assert plan.drops == () and plan.renames == ((1, 2), (0, 1))


@pytest.mark.parametrize("n, keep", [(4, 3), (6, 3), (3, 1)])
def test_replanning_after_a_crash_with_excess_drops_only_once(n, keep):
    start = set(range(n))
    plan = plan_rotation("d", start, keep)
    assert plan.drops == (n - 1,)
    final = apply_steps(start, plan)
    for steps in range(1, step_count(plan) + 1):
        on_disk = apply_steps(start, plan, steps)
        # the drop is the first step, so from here on its trash folder exists
        replan = plan_rotation("d", on_disk, keep, already_dropped=True)
        assert replan.drops == (), (steps, sorted(on_disk), replan)
        assert plan_rotation("d", on_disk, keep).drops != (), "without the hint it would drop again"
        assert apply_steps(on_disk, replan) == final


@pytest.mark.parametrize("existing, keep", [({2, 3}, 5), ({0, 3, 4, 5}, 10), ({2, 5}, 3)])
def test_downward_renames_never_overwrite(existing, keep):
    plan = plan_rotation("daily", existing, keep)
    after = apply_steps(existing, plan)
    check_result(existing, keep, plan, after)


def test_downward_renames_run_lowest_first():
    # {2, 3}: daily.2 must move to daily.1 before daily.3 can take its name
    assert plan_rotation("daily", {2, 3}, 5).renames == ((2, 1), (3, 2))
    # mixed: down moves first (lowest first), then up moves (highest first)
    assert plan_rotation("daily", {0, 3}, 5).renames == ((3, 2), (0, 1))


def test_property_every_subset():
    bad = []
    for size in range(0, 8):
        for subset in itertools.combinations(range(7), size):
            for keep in range(1, 9):
                plan = plan_rotation("d", subset, keep)
                try:
                    check_result(set(subset), keep, plan, apply_steps(subset, plan))
                except AssertionError:
                    bad.append((subset, keep))
    assert bad == []


# ---------------------------------------------------------------- describe_plan

@pytest.mark.parametrize("existing, keep, text", [
    ([], 3, "new daily.0"),
    ([0, 1], 3, "daily.1 -> daily.2, daily.0 -> daily.1, new daily.0"),
    ([0, 1, 2], 3, "drop daily.2, daily.1 -> daily.2, daily.0 -> daily.1, new daily.0"),
    ([0, 1, 2, 3, 4], 2, "drop daily.4, daily.3 -> daily.4, daily.2 -> daily.3, "
                         "daily.1 -> daily.2, daily.0 -> daily.1, new daily.0, "
                         "(3 kept beyond keep=2)"),
    ([1, 2], 5, "new daily.0"),
    ([0], 1, "drop daily.0, new daily.0"),
])
def test_describe_plan(existing, keep, text):
    assert describe_plan(plan_rotation("daily", existing, keep)) == text


def test_describe_plan_uses_the_interval_name():
    assert describe_plan(plan_rotation("six-hourly", [0], 2)) == "six-hourly.0 -> six-hourly.1, new six-hourly.0"
