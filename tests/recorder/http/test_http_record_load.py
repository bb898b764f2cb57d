"""Counting and crashing: every exchange is accounted for by client, upstream and tape."""

from __future__ import annotations

import asyncio
import signal
import threading
import time

import duckdb
import httpx
import polars as pl
import pyarrow.parquet as pq
from http_tape_helpers import marker, read_rows

from understudy.tape import open_tape

N = 500


async def _fire(base: str, run: str, n: int, keepalive: bool) -> int:
    limits = httpx.Limits(max_connections=16, max_keepalive_connections=16 if keepalive else 0)
    ok = 0
    sem = asyncio.Semaphore(16)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as c:

        async def one(i: int) -> None:
            nonlocal ok
            async with sem:
                headers = {} if keepalive else {"Connection": "close"}
                r = await c.get(f"/n/{i}?m={run}&ka={int(keepalive)}", headers=headers)
                ok += r.status_code == 200 and r.text == str(i)

        await asyncio.gather(*(one(i) for i in range(n)))
    return ok


def test_every_request_is_one_row(tmp_path, start_recorder, upstream) -> None:
    rec = start_recorder(tmp_path / "count.tape", "--mode", f"reverse:{upstream.url}")
    run = marker()
    before = upstream.counts["/n/{i}"]

    async def both() -> list[int]:
        return list(
            await asyncio.gather(
                _fire(rec.url, run, N // 2, keepalive=True),
                _fire(rec.url, run, N - N // 2, keepalive=False),
            )
        )

    client_ok = sum(asyncio.run(both()))
    upstream_seen = upstream.counts["/n/{i}"] - before
    assert rec.stop(signal.SIGINT) == 0
    glob = f"{rec.tape}/http/*.parquet"
    ((tape_rows,),) = duckdb.sql(
        f"select count(*) from read_parquet('{glob}') where query like 'm={run}%'"
    ).fetchall()
    distinct = pl.scan_parquet(glob).select(pl.col("exchange_id").n_unique()).collect().item()
    assert client_ok == upstream_seen == tape_rows == distinct == N
    assert f"{N} http exchanges captured" in rec.stderr
    assert f"{N} http exchanges committed" in rec.stderr
    assert "0 http exchanges dropped" in rec.stderr


def test_sigkill_loses_at_most_the_last_flush(tmp_path, start_recorder, upstream) -> None:
    flush = 0.2
    rec = start_recorder(
        tmp_path / "crash.tape", "--mode", f"reverse:{upstream.url}", "--flush-interval", "200ms"
    )
    run = marker()
    done: dict[int, float] = {}  # request number -> when its response had fully arrived
    stop = threading.Event()

    def client() -> None:
        with httpx.Client(base_url=rec.url, timeout=5) as c:
            i = 0
            while not stop.is_set():
                try:
                    r = c.get(f"/n/{i}?m={run}&i={i}")
                except httpx.HTTPError:
                    return
                if r.status_code == 200:
                    done[i] = time.monotonic()
                i += 1

    t = threading.Thread(target=client)
    t.start()
    time.sleep(2.0)
    rec.proc.send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    rec.proc.wait()
    stop.set()
    t.join(10)

    tape = open_tape(rec.tape)
    assert all(s.reason.startswith("temporary file") for s in tape.skipped), tape.skipped
    for part in tape.parts["http"]:  # every committed part reads with every engine
        assert pq.read_table(part).num_rows == pl.read_parquet(part).height > 0
        duckdb.sql(f"select count(*) from read_parquet('{part}')").fetchall()
    recorded = {int(r["query"].rsplit("=", 1)[1]) for r in read_rows(rec.tape)}
    safe = killed_at - (2 * flush + 0.5)
    must_have = {i for i, at in done.items() if at < safe}
    assert len(must_have) > 10, "the client barely ran; the test proves nothing"
    assert must_have <= recorded, sorted(must_have - recorded)[:10]
    assert recorded <= set(range(max(done, default=0) + 2))  # nothing invented
