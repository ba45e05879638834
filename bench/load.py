"""Load generators on loopback: keep-alive HTTP/1.1 and websocket clients.

The HTTP client is a few lines over asyncio streams rather than a library: it costs far less
CPU per request than the servers it measures, so on a 2-core machine the servers, not the
client, set the pace (and the floor and hitlnext pay the same client cost).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import websockets
from websockets.asyncio.client import ClientConnection


class HttpConnection:
    """One persistent HTTP/1.1 connection to 127.0.0.1."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> HttpConnection:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        return self

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()

    def request_bytes(
        self, method: str, path: str, *, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> bytes:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        if body or method == "POST":
            lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    async def send(self, raw: bytes) -> tuple[int, bytes]:
        assert self.reader is not None and self.writer is not None
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            if name:
                headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            body = await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = await self._read_chunked()
        else:
            body = b""
        return status, body

    async def _read_chunked(self) -> bytes:
        assert self.reader is not None
        chunks = []
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self.reader.readuntil(b"\r\n")
                return b"".join(chunks)
            chunks.append(await self.reader.readexactly(size))
            await self.reader.readexactly(2)


@dataclass
class LoadResult:
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)

    def add(self, other: LoadResult) -> None:
        self.requests += other.requests
        self.errors += other.errors
        self.seconds += other.seconds
        self.latencies += other.latencies
        for status, n in other.statuses.items():
            self.statuses[status] = self.statuses.get(status, 0) + n

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def p50_ms(self) -> float:
        return 1000 * statistics.median(self.latencies) if self.latencies else 0.0


async def http_load(
    urls: list[str],
    make_request: Callable[[HttpConnection, int], bytes],
    *,
    connections: int,
    warmup: float,
    duration: float,
) -> LoadResult:
    """Closed loop: `connections` keep-alive clients spread over `urls`, each sending its next
    request when the previous answer arrives. Only requests finished inside the measured
    window (after the warm-up) count."""
    result = LoadResult()
    counter = iter(range(10**12))
    start = time.perf_counter()
    measure_from, stop_at = start + warmup, start + warmup + duration

    async def client(url: str) -> None:
        conn = await HttpConnection(url).open()
        try:
            while (now := time.perf_counter()) < stop_at:
                raw = make_request(conn, next(counter))
                status, _ = await conn.send(raw)
                done = time.perf_counter()
                if done >= measure_from and done < stop_at:
                    result.requests += 1
                    result.statuses[status] = result.statuses.get(status, 0) + 1
                    result.latencies.append(done - now)
                    if not 200 <= status < 300:
                        result.errors += 1
        finally:
            conn.close()

    await asyncio.gather(*(client(urls[i % len(urls)]) for i in range(connections)))
    result.seconds = duration
    return result


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


class FanOut:
    """Websocket clients that timestamp the first frame holding the current round's token."""

    def __init__(self) -> None:
        self.sockets: list[ClientConnection] = []
        self.readers: list[asyncio.Task] = []
        self.token: str | None = None
        self.also: str | None = None
        self.expected = 0
        self.arrivals: list[float] = []
        self.all_arrived = asyncio.Event()
        self.retried = 0  # handshakes dropped by the server and tried again

    async def connect(
        self, url: str, *, count: int, headers: list[dict[str, str]] | None = None, hello=None
    ) -> None:
        """Open `count` more sockets (`headers[i]` for the i-th new one), in small batches."""
        start = len(self.sockets)

        async def one(i: int) -> None:
            # Daphne drops a handshake its application has not accepted within 5 s (a burst
            # of connections on a busy machine): the page's socket retries, and so does this.
            for attempt in range(5):
                try:
                    ws = await websockets.connect(
                        url,
                        additional_headers=(headers[i] if headers else None),
                        origin=url.replace("ws://", "http://").split("/ws/")[0],
                        open_timeout=60,
                        ping_interval=None,  # idle means idle: no keep-alive traffic
                        max_queue=None,
                    )
                    break
                except (websockets.InvalidMessage, OSError):
                    if attempt == 4:
                        raise
                    self.retried += 1
                    await asyncio.sleep(1 + attempt)
            if hello is not None:
                await ws.send(hello)
            self.sockets.append(ws)
            self.readers.append(asyncio.create_task(self._read(ws)))

        for batch in range(start, start + count, 50):
            await asyncio.gather(
                *(one(i - start) for i in range(batch, min(batch + 50, start + count)))
            )

    async def _read(self, ws: ClientConnection) -> None:
        seen: str | None = None
        try:
            async for frame in ws:
                token = self.token
                if (
                    token is not None
                    and seen != token
                    and token in frame
                    and (self.also is None or self.also in frame)
                ):
                    seen = token
                    self.arrivals.append(time.perf_counter())
                    if len(self.arrivals) >= self.expected:
                        self.all_arrived.set()
        except websockets.ConnectionClosed:
            pass

    def arm(self, token: str, expected: int | None = None, also: str | None = None) -> None:
        """Timestamp the next frame holding `token` (and `also`) on each socket; done after
        `expected` sockets (default: all of them) got one."""
        self.token, self.also, self.arrivals = token, also, []
        self.expected = len(self.sockets) if expected is None else expected
        self.all_arrived = asyncio.Event()

    async def wait_all(self, timeout: float) -> int:
        """How many sockets got the token (`expected` unless `timeout` ran out)."""
        try:
            await asyncio.wait_for(self.all_arrived.wait(), timeout)
        except TimeoutError:
            pass
        return len(self.arrivals)

    def open_count(self) -> int:
        return sum(1 for ws in self.sockets if ws.state == websockets.State.OPEN)

    async def close(self) -> None:
        await asyncio.gather(*(ws.close() for ws in self.sockets), return_exceptions=True)
        for task in self.readers:
            task.cancel()
        await asyncio.gather(*self.readers, return_exceptions=True)
        self.sockets, self.readers = [], []
