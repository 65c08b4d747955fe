"""`make bench-guard`: goals met are held at the goal, goals not met yet at their floor."""

import json

from bench.run import FLOORS, GOALS, Goal, verdict

CEILING = Goal("b", "ms", "a time", 20, True, " ms")
FLOOR = Goal("b", "ratio", "a share", 0.40, False, "%")


def test_a_figure_that_meets_its_goal_passes_with_or_without_a_floor():
    assert verdict(CEILING, 18, 0.25, None) == "met"
    assert verdict(CEILING, 18, 0.25, 40) == "met"
    assert verdict(FLOOR, 0.45, 0.25, 0.30) == "met"


def test_without_a_floor_a_figure_is_measured_against_its_goal():
    assert verdict(CEILING, 24, 0.25, None) == "within margin"
    assert verdict(CEILING, 27, 0.25, None) == "REGRESSED"
    assert verdict(FLOOR, 0.31, 0.25, None) == "within margin"
    assert verdict(FLOOR, 0.29, 0.25, None) == "REGRESSED"


def test_a_goal_not_met_yet_is_held_at_its_floor():
    assert verdict(CEILING, 45, 0.25, 40) == "held (floor 40.0 ms)"
    assert verdict(CEILING, 54, 0.25, 40) == "REGRESSED"  # 40 / 54 < 75%
    assert verdict(FLOOR, 0.25, 0.25, 0.30) == "held (floor 30%)"
    assert verdict(FLOOR, 0.20, 0.25, 0.30) == "REGRESSED"


def test_a_figure_well_past_its_floor_asks_for_the_floor_to_be_raised():
    assert verdict(CEILING, 30, 0.25, 40) == "held (floor 40.0 ms: raise it)"
    assert verdict(FLOOR, 0.39, 0.25, 0.30) == "held (floor 30%: raise it)"


def test_every_floor_names_a_goal_and_lies_short_of_it():
    goals = {goal.key: goal for goal in GOALS}
    for key, entry in json.loads(FLOORS.read_text()).items():
        goal = goals[key]
        assert goal.ratio(entry["value"]) < 1, f"{key} meets its goal: delete its floor"
        assert entry["measured"]
