"""What a run measures (full or --quick), its targets, and the table it prints."""

from __future__ import annotations

from dataclasses import dataclass

SECTIONS = ("ingest", "fanout", "memory", "inbox")
TARGETS = {
    "ingest": 0.50,  # hitlnext's throughput / the bare view's, at least
    "fanout_p99": 2.0,  # hitlnext's p99 / the echo's, at most, at 200 agents
    "inbox_flat": 1.5,  # p50 at N handoffs / p50 at 1k, at most
    "idle_sockets": 1000,
}


@dataclass
class Row:
    measurement: str
    value: str
    floor: str
    ratio: str
    target: str
    result: str  # "PASS", "FAIL" or "" (information)


@dataclass
class Plan:
    quick: bool

    @property
    def ingest_seconds(self) -> float:
        # Per target, over its alternating slices (bench/measure_http.py: five targets).
        return 6.0 if self.quick else 16.0

    @property
    def fanout_agents(self) -> list[int]:
        return [1, 50, 200] if self.quick else [1, 50, 200, 500]

    @property
    def fanout_rounds(self) -> int:
        return 10 if self.quick else 30

    @property
    def idle_sockets(self) -> int:
        return 1000

    @property
    def idle_hold(self) -> float:
        return 3.0 if self.quick else 10.0

    @property
    def inbox_sizes(self) -> list[int]:
        # Building 100k handoffs takes most of a minute on a busy 2-core machine.
        return [1_000, 10_000, 50_000] if self.quick else [1_000, 10_000, 100_000]

    @property
    def inbox_requests(self) -> int:
        return 15 if self.quick else 40


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def table(rows: list[Row]) -> str:
    head = "| Measurement | hitlnext | Floor (same run) | Ratio | Target | Result |"
    lines = [head, "|---|---|---|---|---|---|"]
    lines += [
        f"| {r.measurement} | {r.value} | {r.floor} | {r.ratio} | {r.target} | {r.result} |"
        for r in rows
    ]
    return "\n".join(lines)
