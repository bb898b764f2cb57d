"""``python -m replayer.pg``: serve a world's SQL on its own, until SIGINT/SIGTERM.

For tests, benchmarks and trying things out until ``understudy replay --pg`` carries it::

    python -m replayer.pg --world prod.world --listen 127.0.0.1:6432 --latency off

Prints one line when listening (``understudy: replaying PostgreSQL on HOST:PORT``) and, on
exit, the SQL section of the session report as JSON (to ``--report`` or stdout).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from pathlib import Path

from replayer.pg.recording import PgSession
from replayer.pg.settings import AUTH_METHODS, PgReplaySettings
from replayer.pg.start import start_pg_server
from understudy.errors import UnderstudyError
from understudy.world import load_world

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m replayer.pg",
        description="Serve a world's recorded SQL over the PostgreSQL wire protocol.\n\n"
        "Example:\n  python -m replayer.pg --world prod.world --listen 127.0.0.1:6432",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--world", required=True, type=Path, help="world bundle directory")
    p.add_argument("--listen", default="127.0.0.1:6432", help="HOST:PORT (port 0: any)")
    p.add_argument("--pg-password", default=None, help="require this password")
    p.add_argument("--pg-auth", default="scram-sha-256", choices=AUTH_METHODS)
    p.add_argument("--pg-on-miss", default="error", help="error | forward:HOST:PORT")
    p.add_argument("--pg-forward-password", default=None)
    p.add_argument("--latency", default="recorded", choices=("recorded", "off"))
    p.add_argument("--faults", default="off", choices=("off", "observed"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--session-tape", type=Path, default=None, help="write sql/ parts here")
    p.add_argument("--report", type=Path, default=None, help="write the report JSON here")
    p.add_argument("--listen-any", action="store_true", help="allow a non-loopback address")
    return p


async def _serve(args: argparse.Namespace) -> dict[str, object]:
    settings = PgReplaySettings.from_options(
        listen=args.listen,
        password=args.pg_password,
        auth_method=args.pg_auth,
        on_miss=args.pg_on_miss,
        forward_password=args.pg_forward_password,
        latency=args.latency,
        faults=args.faults,
        seed=args.seed,
        listen_any=args.listen_any,
    )
    world = load_world(args.world)
    session = PgSession(tape=args.session_tape, world=world.path)
    server = await start_pg_server(settings, world, session=session)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    host, port = server.bound
    print(f"understudy: replaying PostgreSQL on {host}:{port}", file=sys.stderr, flush=True)
    try:
        await stop.wait()
    finally:
        await server.close()
    return server.report()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    runner_factory = None
    with contextlib.suppress(ImportError):
        import uvloop

        runner_factory = uvloop.new_event_loop
    try:
        with asyncio.Runner(loop_factory=runner_factory) as runner:
            report = runner.run(_serve(args))
    except UnderstudyError as exc:
        print(f"understudy: {exc}", file=sys.stderr)
        return 2
    text = json.dumps(report, indent=2, default=str)
    if args.report is not None:
        args.report.write_text(text + "\n")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
