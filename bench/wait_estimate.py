"""How accurate the queue's wait estimate (routing/estimate.py) is on simulated days of traffic.

    .venv/bin/python bench/wait_estimate.py [--days 7] [--seed 1] [--mode auto|manual|both]

A discrete-event simulation in simulated time (nothing sleeps, no database, a few seconds):

- arrivals: a Poisson process whose rate follows the hour of day (HOURLY, about 650 a day,
  peaks of 60 an hour late morning and afternoon), one in ten of high priority;
- agents: shifts (SHIFTS) with a capacity of 2 or 3 open handoffs each; at the end of a shift
  an agent takes nothing new and finishes what they have;
- handle time (assigned -> resolved): log-normal, median 10 minutes (mean about 12);
- users give up: patience exponential with a mean of 20 minutes, and a third of the handoffs
  have a bot timeout of 15 minutes; a handoff nobody took by then leaves the queue;
- auto mode routes as routing/services.py does (the queue's head to the least-loaded online
  agent below capacity, ties to whoever waited longest for one); manual mode lets each online
  agent below capacity pick the queue's head after a reaction time (exponential, mean 45 s).

At each arrival the estimator is called exactly as the server calls it (routing/position.py):
the new handoff's position, the online agents' places, and the statistics of the history
(recomputed every 30 simulated seconds, as the server memoises them). The real wait is when
the simulation then assigned it; handoffs that gave up first have no real wait and are left
out. Beside it, the same error for naive predictors, so that the number means something:

- "position x handle / agents": position x mean handle time / online agents;
- "last wait": the wait of the handoff assigned most recently (what many sites show);
- "without giving up": this estimator without its term for handoffs ahead giving up.
"""

from __future__ import annotations

import argparse
import dataclasses
import heapq
import math
import random
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from routing.estimate import (  # noqa: E402
    AgentsNow,
    QueueStats,
    Record,
    estimate_wait,
    stats_from_history,
)

HOUR = 3600.0
DAY = 24 * HOUR
# Handoffs per hour, hour 0 to 23.
HOURLY = [3, 2, 2, 2, 3, 6, 12, 25, 40, 55, 60, 55, 45, 48, 58, 60, 50, 40, 30, 22, 15, 10, 6, 4]
# (first hour, last hour (exclusive), agents, capacity each)
SHIFTS = [
    (0, 7, 1, 3),
    (7, 15, 3, 3),
    (9, 17, 1, 2),
    (13, 21, 2, 3),
    (18, 24, 1, 3),
]
HIGH_SHARE = 0.1
HANDLE_MEDIAN = 600.0
HANDLE_SIGMA = 0.6
PATIENCE_MEAN = 1200.0
TIMEOUT = 900.0
TIMEOUT_SHARE = 1 / 3
PICK_MEAN = 45.0  # manual mode: an agent's reaction time
STATS_EVERY = 30.0  # as routing/position.py memoises the statistics
LOOKBACK = 6 * HOUR


@dataclass
class Ticket:
    id: int
    created: float
    high: bool
    patience: float
    handle: float
    assigned: float | None = None
    closed: float | None = None
    agent: int | None = None
    guesses: dict[str, float | None] = field(default_factory=dict)

    @property
    def key(self) -> tuple[int, float, int]:
        return (0 if self.high else 1, self.created, self.id)


@dataclass
class Agent:
    id: int
    capacity: int
    online: bool = False
    open: int = 0
    last_assigned: float = -math.inf
    picking: bool = False


class Simulation:
    def __init__(self, *, days: int, seed: int, auto: bool) -> None:
        self.days, self.auto = days, auto
        self.rng = random.Random(seed)
        self.now = 0.0
        self.events: list[tuple[float, int, str, object]] = []
        self.seq = 0
        self.queue: list[Ticket] = []
        self.tickets: list[Ticket] = []
        self.agents: list[Agent] = []
        self.stats = QueueStats.empty()
        self.stats_at = -math.inf
        self.last_wait: float | None = None

    # --- the event loop ---------------------------------------------------------------
    def at(self, when: float, kind: str, subject: object = None) -> None:
        self.seq += 1
        heapq.heappush(self.events, (when, self.seq, kind, subject))

    def run(self) -> list[Ticket]:
        for day in range(self.days):
            for first, last, count, capacity in SHIFTS:
                for _ in range(count):
                    agent = Agent(id=len(self.agents), capacity=capacity)
                    self.agents.append(agent)
                    self.at(day * DAY + first * HOUR, "online", agent)
                    self.at(day * DAY + last * HOUR, "offline", agent)
        self.at(self._next_arrival(0.0), "arrival")
        handlers: dict[str, Callable[[object], None]] = {
            "arrival": self.arrival,
            "online": self.online,
            "offline": self.offline,
            "done": self.done,
            "give_up": self.give_up,
            "pick": self.pick,
        }
        while self.events:
            self.now, _, kind, subject = heapq.heappop(self.events)
            handlers[kind](subject)
        return self.tickets

    def _next_arrival(self, after: float) -> float:
        # Thinning: candidates at the peak rate, kept with probability rate(t) / peak.
        peak = max(HOURLY) / HOUR
        when = after
        while True:
            when += self.rng.expovariate(peak)
            if when >= self.days * DAY:
                return math.inf
            if self.rng.random() < HOURLY[int(when // HOUR) % 24] / HOUR / peak:
                return when

    # --- what happens -------------------------------------------------------------------
    def arrival(self, _: object) -> None:
        patience = self.rng.expovariate(1 / PATIENCE_MEAN)
        if self.rng.random() < TIMEOUT_SHARE:
            patience = min(patience, TIMEOUT)
        ticket = Ticket(
            id=len(self.tickets),
            created=self.now,
            high=self.rng.random() < HIGH_SHARE,
            patience=patience,
            handle=self.rng.lognormvariate(math.log(HANDLE_MEDIAN), HANDLE_SIGMA),
        )
        self.tickets.append(ticket)
        self.queue.append(ticket)
        self.queue.sort(key=lambda t: t.key)
        ticket.guesses = self.guesses(position=self.queue.index(ticket) + 1)
        self.at(self.now + patience, "give_up", ticket)
        nxt = self._next_arrival(self.now)
        if nxt != math.inf:
            self.at(nxt, "arrival")
        self.route()

    def online(self, agent: object) -> None:
        assert isinstance(agent, Agent)
        agent.online = True
        self.route()

    def offline(self, agent: object) -> None:
        assert isinstance(agent, Agent)
        agent.online = False

    def done(self, ticket: object) -> None:
        assert isinstance(ticket, Ticket)
        ticket.closed = self.now
        assert ticket.agent is not None
        self.agents[ticket.agent].open -= 1
        self.route()

    def give_up(self, ticket: object) -> None:
        assert isinstance(ticket, Ticket)
        if ticket.assigned is None and ticket in self.queue:
            self.queue.remove(ticket)
            ticket.closed = self.now

    def pick(self, agent: object) -> None:
        assert isinstance(agent, Agent)
        agent.picking = False
        if agent.online and agent.open < agent.capacity and self.queue:
            self.assign(self.queue[0], agent)
        self.route()

    # --- routing ------------------------------------------------------------------------
    def route(self) -> None:
        if not self.auto:
            # Manual: every online agent with room picks the head after a reaction time.
            for agent in self.agents:
                if agent.online and agent.open < agent.capacity and self.queue:
                    if not agent.picking:
                        agent.picking = True
                        self.at(self.now + self.rng.expovariate(1 / PICK_MEAN), "pick", agent)
            return
        while self.queue:
            free = [a for a in self.agents if a.online and a.open < a.capacity]
            if not free:
                return
            agent = min(free, key=lambda a: (a.open, a.last_assigned, a.id))
            self.assign(self.queue[0], agent)

    def assign(self, ticket: Ticket, agent: Agent) -> None:
        self.queue.remove(ticket)
        ticket.assigned = self.now
        ticket.agent = agent.id
        agent.open += 1
        agent.last_assigned = self.now
        self.last_wait = self.now - ticket.created
        self.at(self.now + ticket.handle, "done", ticket)

    # --- the predictors -----------------------------------------------------------------
    def history(self) -> list[Record]:
        since = self.now - LOOKBACK
        return [
            Record(
                created=t.created,
                # Not known yet at `now`: what the database would not hold.
                assigned=t.assigned if t.assigned is not None and t.assigned <= self.now else None,
                closed=t.closed if t.closed is not None and t.closed <= self.now else None,
            )
            for t in self.tickets
            if t.created >= since
        ]

    def guesses(self, *, position: int) -> dict[str, float | None]:
        if self.now - self.stats_at >= STATS_EVERY:
            self.stats = stats_from_history(self.history(), now=self.now)
            self.stats_at = self.now
        online = [a for a in self.agents if a.online]
        agents = AgentsNow(
            online=len(online),
            slots=sum(a.capacity for a in online),
            free=sum(max(a.capacity - a.open, 0) for a in online),
        )
        patient = dataclasses.replace(self.stats, abandon_rate=0.0)
        handle = self.stats.mean_handle
        return {
            "estimate": estimate_wait(
                position=position, agents=agents, stats=self.stats, auto=self.auto
            ),
            "without giving up": estimate_wait(
                position=position, agents=agents, stats=patient, auto=self.auto
            ),
            "position x handle / agents": position * handle / len(online)
            if handle is not None and online
            else None,
            "last wait": self.last_wait,
        }


PREDICTORS = ["estimate", "without giving up", "position x handle / agents", "last wait"]


@dataclass(frozen=True)
class Report:
    mode: str
    days: int
    handoffs: int
    served: int
    gave_up: int
    unknown: int  # served handoffs the estimator had no answer for
    compared: int  # served handoffs every predictor answered for
    mean_wait: float
    median_wait: float
    waited_over_minute: float  # share of `compared`
    mae: dict[str, float]
    bias: dict[str, float]  # mean signed error (estimate - real)
    mae_waited: dict[str, float]  # over the handoffs that waited more than a minute


def simulate(*, days: int = 7, seed: int = 1, auto: bool = True) -> Report:
    tickets = Simulation(days=days, seed=seed, auto=auto).run()
    served = [t for t in tickets if t.assigned is not None]
    unknown = sum(t.guesses["estimate"] is None for t in served)
    compared = [t for t in served if all(t.guesses[p] is not None for p in PREDICTORS)]
    waits = [t.assigned - t.created for t in compared if t.assigned is not None]
    waited = [t for t in compared if t.assigned is not None and t.assigned - t.created > 60]

    def errors(group: list[Ticket], name: str) -> list[float]:
        return [
            float(t.guesses[name]) - (t.assigned - t.created)  # type: ignore[arg-type, operator]
            for t in group
        ]

    def mae(group: list[Ticket], name: str) -> float:
        found = errors(group, name)
        return sum(abs(e) for e in found) / len(found) if found else math.nan

    return Report(
        mode="auto" if auto else "manual",
        days=days,
        handoffs=len(tickets),
        served=len(served),
        gave_up=len(tickets) - len(served),
        unknown=unknown,
        compared=len(compared),
        mean_wait=statistics.fmean(waits) if waits else math.nan,
        median_wait=statistics.median(waits) if waits else math.nan,
        waited_over_minute=len(waited) / len(compared) if compared else math.nan,
        mae={name: mae(compared, name) for name in PREDICTORS},
        bias={name: statistics.fmean(errors(compared, name)) for name in PREDICTORS},
        mae_waited={name: mae(waited, name) for name in PREDICTORS},
    )


def render(report: Report) -> str:
    lines = [
        f"### {report.mode} mode, {report.days} simulated day(s)",
        "",
        f"{report.handoffs} handoffs, {report.served} served, {report.gave_up} gave up first; "
        f"{report.unknown} served without an estimate (nobody online, no history); "
        f"compared on {report.compared}. Real wait: mean {report.mean_wait:.0f} s, "
        f"median {report.median_wait:.0f} s; {report.waited_over_minute:.0%} waited over a "
        "minute.",
        "",
        "| predictor | MAE (s) | bias (s) | MAE when the wait was over a minute (s) |",
        "|---|---:|---:|---:|",
    ]
    for name in PREDICTORS:
        lines.append(
            f"| {name} | {report.mae[name]:.0f} | {report.bias[name]:+.0f} "
            f"| {report.mae_waited[name]:.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--mode", choices=["auto", "manual", "both"], default="both")
    args = parser.parse_args()
    modes = [True, False] if args.mode == "both" else [args.mode == "auto"]
    for auto in modes:
        print(render(simulate(days=args.days, seed=args.seed, auto=auto)))
        print()


if __name__ == "__main__":
    main()
