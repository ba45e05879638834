"""Websocket measurements: fan-out latency and idle sockets (memory, how many are held)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path

from bench.load import FanOut, HttpConnection, percentile
from bench.plan import TARGETS, Plan, Row, ms, verdict
from bench.procs import APP, FLOOR, Profiler, Server, rss_bytes, start_daphne, wait_ready

# --- Fan-out ----------------------------------------------------------------------------------


async def fanout_series(
    server: Server,
    *,
    ws_path: str,
    post_path: str,
    headers: dict[str, str],
    agents: list,
    counts: list[int],
    rounds: int,
    hello: str | None,
    ready_marker: str | None,
    message_marker: str,
    body_for,
    profile_at: int | None = None,
    profile_out: Path | None = None,
) -> dict[int, tuple[list[float], int]]:
    """For each agent count: latencies (POST start to the token's fragment on each socket)
    over `rounds` posts, and how many arrivals were missing."""
    fan = FanOut()
    conn = await HttpConnection(server.url).open()
    ws_url = server.url.replace("http://", "ws://") + ws_path
    results: dict[int, tuple[list[float], int]] = {}
    connected = 0
    try:
        for count in counts:
            add = count - connected
            if ready_marker:
                fan.arm(ready_marker, expected=add)
            await fan.connect(
                ws_url,
                count=add,
                headers=[a.headers for a in agents[connected:count]] if agents else None,
                hello=hello,
            )
            if ready_marker and await fan.wait_all(120) < add:
                raise RuntimeError(f"only {len(fan.arrivals)} of {add} sockets became ready")
            connected = count
            samples: list[float] = []
            missing = 0
            profiler = None
            if profile_out and count == profile_at:
                profiler = Profiler(server.pid, profile_out)
            for n in range(rounds + 2):  # two warm-up rounds
                token = f"tok{uuid.uuid4().hex}"
                fan.arm(token, also=message_marker)
                raw = conn.request_bytes(
                    "POST",
                    post_path,
                    body=json.dumps(body_for(count, n, token)).encode(),
                    headers=headers,
                )
                started = time.perf_counter()
                status, answer = await conn.send(raw)
                if not 200 <= status < 300:
                    raise RuntimeError(f"POST {post_path}: {status} {answer[:300]!r}")
                got = await fan.wait_all(30)
                if got < count:
                    print(f"    round {n}: {got} of {count} got it", flush=True)
                if n >= 2:
                    samples += [t - started for t in fan.arrivals]
                    missing += count - got
                await asyncio.sleep(0.05)
            if profiler:
                profiler.stop()
            results[count] = (samples, missing)
            print(
                f"  {server.name}: {count} sockets ({fan.open_count()} open), "
                f"p50 {ms(percentile(samples, 50))}, {missing} not received",
                flush=True,
            )
    finally:
        conn.close()
        await fan.close()
    return results


def measure_fanout(
    plan: Plan, app: Server, floor: Server, api_key: str, agents: list, handoff, profile
) -> list[Row]:
    conversation_box = f'id="conversation-{handoff.conversation_id}-messages"'

    def app_body(count: int, n: int, token: str) -> dict:
        return {
            "conversation_id": handoff.conversation.external_id,
            "user_id": handoff.conversation.end_user.external_id,
            "channel": "web",
            "id": f"fan-{count}-{n}-{uuid.uuid4().hex[:6]}",
            "direction": "incoming",
            "text": f"Still waiting {token}",
        }

    real = asyncio.run(
        fanout_series(
            app,
            ws_path="/ws/agent/",
            post_path="/api/v1/messages",
            headers={"Authorization": f"Bearer {api_key}"},
            agents=agents,
            counts=plan.fanout_agents,
            rounds=plan.fanout_rounds,
            hello=json.dumps({"action": "hello", "handoff": handoff.pk}),
            ready_marker=f'id="handoff-{handoff.pk}-head"',
            message_marker=conversation_box,
            body_for=app_body,
            profile_at=200,
            profile_out=profile / "fanout-200.txt" if profile else None,
        )
    )
    echo = asyncio.run(
        fanout_series(
            floor,
            ws_path="/ws/echo/",
            post_path="/echo",
            headers={},
            agents=[],
            counts=plan.fanout_agents,
            rounds=plan.fanout_rounds,
            hello=None,
            ready_marker=None,
            message_marker='id="echo"',
            body_for=lambda count, n, token: {"text": f"Still waiting {token}"},
        )
    )
    rows = []
    for count in plan.fanout_agents:
        samples, missing = real[count]
        floor_samples, floor_missing = echo[count]
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
