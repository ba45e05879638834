"""Websocket measurements: fan-out latency and idle sockets (memory, how many are held)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.load import FanOut, HttpConnection, percentile
from bench.plan import TARGETS, Plan, Row, ms, verdict
from bench.procs import APP, FLOOR, Profiler, Server, rss_bytes, start_daphne, wait_ready

# --- Fan-out ----------------------------------------------------------------------------------


@dataclass
class FanOutTarget:
    """One server's sockets and its trigger: a POST whose fragment every socket should get."""

    server: Server
    ws_path: str
    post_path: str
    headers: dict[str, str]
    agents: list
    hello: str | None
    ready_marker: str | None  # a socket is ready once it got a frame holding this
    message_marker: str  # the fragment timed is the one holding the token and this
    body_for: Callable[[int, int, str], dict]
    fan: FanOut = field(default_factory=FanOut)
    conn: HttpConnection | None = None
    samples: list[float] = field(default_factory=list)
    missing: int = 0

    async def grow(self, count: int) -> None:
        """Connect sockets until `count` are connected (and ready)."""
        if self.conn is None:
            self.conn = await HttpConnection(self.server.url).open()
        connected = len(self.fan.sockets)
        add = count - connected
        if self.ready_marker:
            self.fan.arm(self.ready_marker, expected=add)
        await self.fan.connect(
            self.server.url.replace("http://", "ws://") + self.ws_path,
            count=add,
            headers=[a.headers for a in self.agents[connected:count]] if self.agents else None,
            hello=self.hello,
        )
        if self.ready_marker and await self.fan.wait_all(120) < add:
            raise RuntimeError(f"only {len(self.fan.arrivals)} of {add} sockets became ready")
        self.samples, self.missing = [], 0

    async def round(self, n: int, *, record: bool) -> None:
        """One POST, then wait until every socket got its fragment (or 30 s passed)."""
        assert self.conn is not None
        count = len(self.fan.sockets)
        token = f"tok{uuid.uuid4().hex}"
        self.fan.arm(token, also=self.message_marker)
        body = json.dumps(self.body_for(count, n, token)).encode()
        raw = self.conn.request_bytes("POST", self.post_path, body=body, headers=self.headers)
        started = time.perf_counter()
        status, answer = await self.conn.send(raw)
        if not 200 <= status < 300:
            raise RuntimeError(f"POST {self.post_path}: {status} {answer[:300]!r}")
        got = await self.fan.wait_all(30)
        if record:
            self.samples += [t - started for t in self.fan.arrivals]
            self.missing += count - got

    async def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        await self.fan.close()


async def fanout_interleaved(
    real: FanOutTarget,
    floor: FanOutTarget,
    *,
    counts: list[int],
    rounds: int,
    profile_at: int | None = None,
    profile_out: Path | None = None,
) -> dict[int, tuple[list[float], int, list[float], int]]:
    """For each socket count: hitlnext's and the floor's latencies (POST start to the
    fragment on each socket) and missing arrivals. Their rounds alternate, so both see the
    same background load on a shared machine."""
    results = {}
    try:
        for count in counts:
            await real.grow(count)
            await floor.grow(count)
            profiler = None
            if profile_out and count == profile_at:
                profiler = Profiler(real.server.pid, profile_out)
            for n in range(rounds + 2):  # two warm-up rounds each
                for target in (real, floor):
                    await target.round(n, record=n >= 2)
                    await asyncio.sleep(0.05)
            if profiler:
                profiler.stop()
            results[count] = (real.samples, real.missing, floor.samples, floor.missing)
            print(
                f"  fan-out to {count} sockets: p50 {ms(percentile(real.samples, 50))}, "
                f"echo p50 {ms(percentile(floor.samples, 50))}",
                flush=True,
            )
    finally:
        await real.close()
        await floor.close()
    return results


def measure_fanout(
    plan: Plan, app: Server, floor: Server, api_key: str, agents: list, handoff, profile
) -> list[Row]:
    def app_body(count: int, n: int, token: str) -> dict:
        return {
            "conversation_id": handoff.conversation.external_id,
            "user_id": handoff.conversation.end_user.external_id,
            "channel": "web",
            "id": f"fan-{count}-{n}-{uuid.uuid4().hex[:6]}",
            "direction": "incoming",
            "text": f"Still waiting {token}",
        }

    real = FanOutTarget(
        app,
        ws_path="/ws/agent/",
        post_path="/api/v1/messages",
        headers={"Authorization": f"Bearer {api_key}"},
        agents=agents,
        hello=json.dumps({"action": "hello", "handoff": handoff.pk}),
        ready_marker=f'id="handoff-{handoff.pk}-head"',
        # The message appended to the conversation the agents watch.
        message_marker=f'id="conversation-{handoff.conversation_id}-messages"',
        body_for=app_body,
    )
    echo = FanOutTarget(
        floor,
        ws_path="/ws/echo/",
        post_path="/echo",
        headers={},
        agents=[],
        hello=None,
        ready_marker=None,
        message_marker='id="echo"',
        body_for=lambda count, n, token: {"text": f"Still waiting {token}"},
    )
    results = asyncio.run(
        fanout_interleaved(
            real,
            echo,
            counts=plan.fanout_agents,
            rounds=plan.fanout_rounds,
            profile_at=200,
            profile_out=profile / "fanout-200.txt" if profile else None,
        )
    )
    rows = []
    for count in plan.fanout_agents:
        samples, missing, floor_samples, floor_missing = results[count]
        p50, p99 = percentile(samples, 50), percentile(samples, 99)
        f50, f99 = percentile(floor_samples, 50), percentile(floor_samples, 99)
        ratio = p99 / f99
        lost = f"; {missing} not received" if missing else ""
        floor_lost = f"; {floor_missing} not received" if floor_missing else ""
        gated = count == 200
        rows.append(
            Row(
                f"Fan-out bot POST -> agent sockets, {count} agent{'s' if count > 1 else ''}",
                f"p50 {ms(p50)}, p99 {ms(p99)}{lost}",
                f"Channels group_send echo: p50 {ms(f50)}, p99 {ms(f99)}{floor_lost}",
                f"{ratio:.2f}x (p99)",
                f"p99 <= {TARGETS['fanout_p99']:.0f}x floor" if gated else "",
                verdict(ratio <= TARGETS["fanout_p99"] and not missing) if gated else "",
            )
        )
    return rows


# --- Idle sockets -----------------------------------------------------------------------------


async def hold_idle(
    server: Server, *, ws_path: str, agents: list, count: int, hold: float, broadcast
) -> tuple[int, int, int, int]:
    """(RSS before, RSS after, sockets open after the hold, sockets that got a broadcast)."""
    fan = FanOut()
    ws_url = server.url.replace("http://", "ws://") + ws_path
    hello = json.dumps({"action": "hello"}) if agents else None
    try:
        # One socket first, so the code paths a socket uses are loaded before the baseline.
        fan.arm('id="online-switch"' if agents else "\x00", expected=1)
        await fan.connect(ws_url, count=1, headers=[a.headers for a in agents[:1]], hello=hello)
        if agents:
            await fan.wait_all(30)
        await fan.close()
        await asyncio.sleep(1.0)
        before = rss_bytes(server.pid)
        if agents:
            fan.arm('id="online-switch"', expected=count)
        await fan.connect(
            ws_url, count=count, headers=[a.headers for a in agents[:count]], hello=hello
        )
        if agents and await fan.wait_all(120) < count:
            raise RuntimeError(f"only {len(fan.arrivals)} of {count} agent sockets said hello")
        await asyncio.sleep(hold)
        after = rss_bytes(server.pid)
        still_open = fan.open_count()
        token = f"tok{uuid.uuid4().hex}"
        fan.arm(token)
        await broadcast(token)
        reached = await fan.wait_all(60)
        return before, after, still_open, reached
    finally:
        await fan.close()


def measure_memory(plan: Plan, env: dict, logs: Path, api_key: str, agents: list) -> list[Row]:
    async def app_broadcast(token: str) -> None:
        conn = await HttpConnection(app.url).open()
        body = {
            "conversation_id": f"idle-{token}",
            "user_id": f"idle-{token}",
            "channel": "web",
            "user": {"fullName": token},  # shown in the new inbox item every socket gets
        }
        status, answer = await conn.send(
            conn.request_bytes(
                "POST",
                "/api/v1/handoffs",
                body=json.dumps(body).encode(),
                headers={"Authorization": f"Bearer {api_key}"},
            )
        )
        conn.close()
        if status != 201:
            raise RuntimeError(f"broadcast handoff: {status} {answer[:300]!r}")

    async def echo_broadcast(token: str) -> None:
        conn = await HttpConnection(floor.url).open()
        await conn.send(
            conn.request_bytes("POST", "/echo", body=json.dumps({"text": token}).encode())
        )
        conn.close()

    count = plan.idle_sockets
    app = start_daphne("idle-app", APP, env=env, logs=logs)
    floor = start_daphne("idle-floor", FLOOR, env=env, logs=logs)
    try:
        wait_ready([app, floor])
        a = asyncio.run(
            hold_idle(
                app,
                ws_path="/ws/agent/",
                agents=agents,
                count=count,
                hold=plan.idle_hold,
                broadcast=app_broadcast,
            )
        )
        f = asyncio.run(
            hold_idle(
                floor,
                ws_path="/ws/echo/",
                agents=[],
                count=count,
                hold=plan.idle_hold,
                broadcast=echo_broadcast,
            )
        )
    finally:
        app.stop()
        floor.stop()
    per_app = (a[1] - a[0]) / count
    per_floor = (f[1] - f[0]) / count
    held = min(a[2], a[3])
    return [
        Row(
            "Memory per idle agent websocket (RSS growth / sockets)",
            f"{per_app / 1024:.1f} KiB ({a[0] / 2**20:.0f} -> {a[1] / 2**20:.0f} MiB)",
            f"bare echo socket: {per_floor / 1024:.1f} KiB",
            f"{per_app / per_floor:.2f}x" if per_floor > 0 else "n/a",
            "",
            "",
        ),
        Row(
            f"Idle agent sockets held by one Daphne process ({plan.idle_hold:.0f} s)",
            f"{a[2]} open, {a[3]} got a live push",
            f"echo: {f[2]} open, {f[3]} got it",
            f"{held / count:.0%}",
            f"{TARGETS['idle_sockets']:,} held",
            verdict(held >= TARGETS["idle_sockets"]),
        ),
    ]
