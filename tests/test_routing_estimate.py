"""The wait estimate (routing/estimate.py) on constructed situations and histories whose
answers are worked out by hand, and the simulated day of bench/wait_estimate.py."""

from __future__ import annotations

import math

import pytest

from bench.wait_estimate import PREDICTORS, simulate
from routing.estimate import (
    HANDLE_SAMPLES,
    WINDOW,
    AgentsNow,
    QueueStats,
    Record,
    estimate_wait,
    stats_from_history,
)

NOW = 1_000_000.0
BUSY = AgentsNow(online=3, slots=6, free=0)  # three agents, two places each, all taken
HANDLE_600 = QueueStats(mean_handle=600.0, throughput=None, abandon_rate=0.0)


def wait(position: int, agents: AgentsNow = BUSY, stats: QueueStats = HANDLE_600, auto=True):
    return estimate_wait(position=position, agents=agents, stats=stats, auto=auto)


# --- estimate_wait ----------------------------------------------------------------------------


def test_a_place_frees_every_handle_time_over_the_places():
    # Six places, a chat lasts 600 s on average: one frees every 100 s.
    assert wait(1) == pytest.approx(100)
    assert wait(3) == pytest.approx(300)


def test_in_auto_mode_the_free_places_take_the_head_of_the_queue_at_once():
    two_free = AgentsNow(online=3, slots=6, free=2)

    assert wait(1, two_free) == 0
    assert wait(2, two_free) == 0
    assert wait(5, two_free) == pytest.approx(300)  # three places must free up


def test_an_agent_without_limit_online_takes_everything_at_once_in_auto_mode():
    assert wait(40, AgentsNow(online=2, slots=None, free=None)) == 0


def test_handoffs_ahead_giving_up_shorten_the_wait():
    # R = 0.01/s; each waiting handoff leaves at 0.005/s: with 2, 1, 0 still ahead the queue
    # moves at 0.02, 0.015, 0.01 per second.
    stats = QueueStats(mean_handle=600.0, throughput=None, abandon_rate=0.005)

    assert wait(3, stats=stats) == pytest.approx(1 / 0.02 + 1 / 0.015 + 1 / 0.01)


def test_manual_mode_uses_the_observed_throughput_and_ignores_free_places():
    stats = QueueStats(mean_handle=600.0, throughput=0.02, abandon_rate=0.0)
    free = AgentsNow(online=3, slots=6, free=6)

    assert wait(4, free, stats, auto=False) == pytest.approx(200)


def test_without_agents_online_the_recent_throughput_answers_else_nothing_does():
    nobody = AgentsNow(online=0, slots=0, free=0)

    assert wait(2, nobody, QueueStats(600.0, 0.01, 0.0)) == pytest.approx(200)
    assert wait(2, nobody, QueueStats.empty()) is None
    assert wait(2, nobody, HANDLE_600) is None  # handle times alone need places to free


def test_auto_mode_falls_back_on_throughput_before_any_handle_time_is_known():
    assert wait(2, stats=QueueStats(None, 0.004, 0.0)) == pytest.approx(500)
    assert wait(2, stats=QueueStats.empty()) is None


# --- stats_from_history -----------------------------------------------------------------------


def served(created: float, assigned: float, closed: float | None = None) -> Record:
    return Record(created=NOW + created, assigned=NOW + assigned, closed=_at(closed))


def gave_up(created: float, closed: float) -> Record:
    return Record(created=NOW + created, assigned=None, closed=NOW + closed)


def waiting(created: float) -> Record:
    return Record(created=NOW + created, assigned=None, closed=None)


def _at(offset: float | None) -> float | None:
    return None if offset is None else NOW + offset


def test_handle_time_is_the_mean_over_the_last_hour():
    history = [served(-900, -900, -600), served(-900, -900, -300), served(-1000, -1000, -100)]

    assert stats_from_history(history, now=NOW).mean_handle == pytest.approx((300 + 600 + 900) / 3)


def test_a_quiet_hour_borrows_the_latest_handle_times_before_it():
    old = served(-3 * WINDOW, -3 * WINDOW, -2 * WINDOW)  # 3600 s, closed two hours ago
    quiet = [old, served(-700, -700, -100)]
    busy = [old] + [served(-700, -700, -100)] * HANDLE_SAMPLES

    assert stats_from_history(quiet, now=NOW).mean_handle == pytest.approx((3600 + 600) / 2)
    assert stats_from_history(busy, now=NOW).mean_handle == pytest.approx(600)


def test_throughput_counts_assignments_over_the_time_someone_waited():
    # Waits [-1000, -900] and [-950, -800] overlap: someone waited 200 s, two were served. The
    # instant assignment (no wait) is not queueing and counts for neither.
    history = [served(-1000, -900), served(-950, -800), served(-500, -500)]

    assert stats_from_history(history, now=NOW).throughput == pytest.approx(2 / 200)


def test_giving_up_is_abandonments_over_the_total_waiting_time():
    # 100 s + 300 s + 200 s (still waiting) of waiting, one handoff gave up.
    history = [gave_up(-1000, -900), served(-800, -500, -100), waiting(-200)]

    stats = stats_from_history(history, now=NOW)

    assert stats.abandon_rate == pytest.approx(1 / 600)


def test_only_the_window_counts_for_the_rates():
    # Waited from 2 h ago until 30 min ago: only the last 30 minutes of it are in the hour.
    history = [gave_up(-2 * WINDOW, -1800), gave_up(-3 * WINDOW, -2 * WINDOW)]

    stats = stats_from_history(history, now=NOW)

    assert stats.abandon_rate == pytest.approx(1 / 1800)
    assert stats.throughput is None


def test_no_history_says_nothing():
    assert stats_from_history([], now=NOW) == QueueStats.empty()


# --- the simulated day --------------------------------------------------------------------------


@pytest.mark.parametrize("auto", [True, False])
def test_a_simulated_day_runs_and_the_estimate_beats_the_naive_predictors(auto):
    report = simulate(days=1, seed=7, auto=auto)

    assert report.served + report.gave_up == report.handoffs > 0
    assert 0 < report.compared <= report.served
    assert all(math.isfinite(report.mae[name]) and report.mae[name] >= 0 for name in PREDICTORS)
    # Better than telling everyone "now" (whose error is the mean wait itself)...
    assert report.mae["estimate"] < report.mean_wait
    # ... and than position x handle time / agents, which ignores free places.
    assert report.mae["estimate"] < report.mae["position x handle / agents"]


def test_the_simulation_is_reproducible():
    assert simulate(days=1, seed=3) == simulate(days=1, seed=3)
