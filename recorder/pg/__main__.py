"""Run the PostgreSQL relay alone, for benchmarks and operations (``understudy record`` is the
full recorder).

Example::

    python -m recorder.pg --listen 127.0.0.1:6543 --upstream 127.0.0.1:5432 --tape pg.tape

Runs on uvloop when it is installed; stops on SIGINT or SIGTERM and prints the counters.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from pathlib import Path

from recorder.config import PG_UPSTREAM_TLS, RecorderConfig
from recorder.pg.relay import start_pg_relay
from recorder.sink import TapeSink
from understudy.errors import TapeWriteError, UnderstudyError
from understudy.redact import Pseudonymizer, Redactor, load_key
from understudy.sizes import parse_hostport

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m recorder.pg",
        description="Relay PostgreSQL connections to an upstream server, recording every "
        "statement into a tape.",
        epilog="Example: python -m recorder.pg --listen 127.0.0.1:6543 "
        "--upstream 127.0.0.1:5432 --tape pg.tape",
    )
    p.add_argument("--listen", required=True, metavar="HOST:PORT", help="where clients connect")
    p.add_argument("--upstream", required=True, metavar="HOST:PORT", help="the real server")
    p.add_argument("--tape", required=True, type=Path, help="tape directory to record into")
    p.add_argument("--upstream-tls", choices=PG_UPSTREAM_TLS, default="disable")
    p.add_argument("--max-result-rows", type=int, default=1000, metavar="N")
    p.add_argument("--flush-interval", type=float, default=1.0, metavar="SECONDS")
    p.add_argument("--listen-any", action="store_true", help="allow a non-loopback --listen")
    p.add_argument(
        "--relay-only",
        action="store_true",
        help="benchmarks only: forward without tracking statements (measures the relay itself)",
    )
    return p


async def _serve(config: RecorderConfig, *, relay_only: bool = False) -> dict[str, object]:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def on_fatal(exc: TapeWriteError) -> None:  # writer thread
        print(f"recorder.pg: {exc}", file=sys.stderr)
        loop.call_soon_threadsafe(stop.set)

    sink = TapeSink(
        config.tape,
        Redactor(config.policy, Pseudonymizer(load_key())),
        flush_interval=config.flush_interval,
        on_fatal=on_fatal,
    )
    sink.open(("sql",))
    relay = await start_pg_relay(config, sink, track=not relay_only)
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    host, port = relay.bound
    print(f"recorder.pg: relaying {host}:{port} -> {config.pg_upstream}", file=sys.stderr)
    try:
        await stop.wait()
    finally:
        await relay.close()
        summary = await asyncio.to_thread(sink.close)
    return summary


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, relay until a signal, print the counters; return the exit status."""
    args = _parser().parse_args(argv)
    try:
        config = RecorderConfig(
            tape=args.tape,
            http_listen=None,
            pg_listen=parse_hostport(args.listen),
            pg_upstream=parse_hostport(args.upstream),
            pg_upstream_tls=args.upstream_tls,
            max_result_rows=args.max_result_rows,
            flush_interval=args.flush_interval,
            allow_remote=args.listen_any,
        )
        runner: asyncio.Runner
        try:
            import uvloop

            runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
        except ImportError:
            runner = asyncio.Runner()
        with runner:
            summary = runner.run(_serve(config, relay_only=args.relay_only))
    except UnderstudyError as exc:
        print(f"recorder.pg: {exc}", file=sys.stderr)
        return 2
    for kind, stats in summary.items():
        print(f"recorder.pg: {kind}: {stats}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
