"""Run a replayer process: check, load the world, serve until SIGINT/SIGTERM, report.

One asyncio loop carries the HTTP front door (mitmproxy in proxy mode, the lean server in
reverse mode) and, when the world holds SQL or ``--pg`` is given, the PostgreSQL replayer
(``replayer.pg.start_pg_server``, when that package is present). Everything that can be
checked before serving is checked first (world valid, ports free, key readable, tape and
report writable): bad input fails with one line and nothing listens. The world's HTTP index
is prepared by a short-lived child (:mod:`replayer.prepared`): this process reads only
``world.json`` and the compact index, and never imports Arrow unless the PostgreSQL replayer
(or a session tape) needs it.

Example::

    report = run(ReplayConfig(world=Path("prod.world"), mode="reverse:http://api.internal"))
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import gc
import importlib
import secrets
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from replayer.config import ReplayConfig
from replayer.core import Behaviour, BehaviourSettings, WorldModel, policy_from_world
from replayer.core.doc import parse_doc
from replayer.prepared import Prepared, prepare_world
from replayer.session import Session, build_report, write_report
from understudy.errors import ConfigError, TapeWriteError
from understudy.redact import Pseudonymizer, Redactor, load_key
from understudy.world.meta import WorldDoc, read_world_doc

if TYPE_CHECKING:
    from replayer.session.tape import SessionTape
    from understudy.world import World

__all__ = ["PgServerHandle", "Plan", "check_port_free", "plan", "replay", "run"]


class PgServerHandle(Protocol):
    """What ``replayer.pg.start_pg_server(config, world, redactor)`` returns."""

    bound: tuple[str, int]

    async def close(self) -> None: ...

    def report(self) -> dict[str, Any]: ...


class Plan:
    """Which servers this world and these options start, and why not the others."""

    def __init__(self, config: ReplayConfig, world: World | WorldDoc) -> None:
        self.http = config.http_listen is not None and (world.has_http or config.http_explicit)
        self.pg = not config.no_pg and (world.has_sql or config.pg_listen is not None)
        self.notes: list[str] = []


def plan(config: ReplayConfig, world: World | WorldDoc) -> Plan:
    """Decide the servers; raise :class:`ConfigError` when there is nothing to serve."""
    p = Plan(config, world)
    if p.pg and _pg_starter() is None:
        p.pg = False
        if config.pg_listen is not None:
            p.notes.append("PostgreSQL replay is not available in this build; serving HTTP only")
    if not p.http and not p.pg:
        what = "no HTTP traffic" if not world.has_http else "HTTP disabled by --no-http"
        raise ConfigError(
            f"nothing to serve: the world at {world.path} has {what} and no PostgreSQL "
            "replay starts; give --http HOST:PORT to serve HTTP anyway"
        )
    return p


def _pg_starter() -> Callable[..., Awaitable[PgServerHandle]] | None:
    """``replayer.pg.start_pg_server`` when this build has it, else None."""
    try:
        module = importlib.import_module("replayer.pg")
    except ModuleNotFoundError as exc:
        if exc.name != "replayer.pg":
            raise
        return None
    starter = getattr(module, "start_pg_server", None)
    return starter if callable(starter) else None


def check_port_free(addr: tuple[str, int], flag: str) -> None:
    """Bind ``addr`` for a moment; raise :class:`ConfigError` if something already listens."""
    host, port = addr
    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ConfigError(
            f"{flag} {host}:{port}: cannot resolve {host!r} ({exc.strerror})"
        ) from exc
    for family, kind, proto, _, sockaddr in infos:
        with socket.socket(family, kind, proto) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(sockaddr)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    why = "address already in use; choose another port or stop what uses it"
                elif exc.errno in (errno.EACCES, errno.EPERM):
                    why = "permission denied; use a port above 1023"
                else:
                    why = exc.strerror or str(exc)
                raise ConfigError(f"{flag} {host}:{port}: {why}") from exc


def _say(out: TextIO, line: str) -> None:
    print(f"understudy: {line}", file=out, flush=True)


def settings_echo(config: ReplayConfig, seed: int, default_class: str) -> dict[str, Any]:
    """The settings a report echoes, enough to reproduce the session."""
    return {
        "world": str(config.world), "mode": config.mode, "on_miss": config.on_miss,
        "latency": "recorded" if config.latency else "off",
        "faults": "observed" if config.faults else "off",
        "limits": "on" if config.limits else "off",
        "seed": seed, "default_class": default_class,
        "session_tape": str(config.session_tape) if config.session_tape else None,
    }  # fmt: skip


async def _drain(
    session: Session, tape: SessionTape, stop: asyncio.Event, failed: list[TapeWriteError]
) -> None:
    """Move noted exchanges to the tape writer from a worker thread, twice a second.

    A tape that can no longer be written stops the session (loudly, like the recorder): the
    user asked for everything the candidate did to be kept."""
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)
        batch = session.take_pending()
        if batch:
            try:
                await asyncio.to_thread(tape.write, batch)
            except TapeWriteError as exc:
                failed.append(exc)
                stop.set()
                return
        if stop.is_set():
            return


async def replay(
    config: ReplayConfig,
    *,
    out: TextIO = sys.stderr,
    on_ready: Callable[[list[tuple[str, int]]], None] | None = None,
    stop: asyncio.Event | None = None,
    on_serving: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Serve until SIGINT/SIGTERM (or ``stop`` is set); return the session report.

    ``on_serving`` gets ``{"http": [[host, port], ...], "pg": [host, port] | None, "seed"}``
    once every server listens and SIGINT/SIGTERM stop the session (``--ready-file``)."""
    doc = read_world_doc(config.world)
    preparing = asyncio.ensure_future(asyncio.to_thread(prepare_world, doc))
    try:
        if config.http_listen is not None and config.proxy_mode:
            importlib.import_module("replayer.mitm")  # meanwhile, on the other core
    except BaseException:
        with contextlib.suppress(Exception):
            (await preparing).close()
        raise
    prepared = await preparing
    try:
        return await _replay(config, prepared, out=out, on_ready=on_ready, stop=stop,
                             on_serving=on_serving)  # fmt: skip
    finally:
        prepared.close()


async def _replay(
    config: ReplayConfig,
    prepared: Prepared,
    *,
    out: TextIO,
    on_ready: Callable[[list[tuple[str, int]]], None] | None,
    stop: asyncio.Event | None,
    on_serving: Callable[[dict[str, Any]], None] | None,
) -> dict[str, Any]:
    world = prepared.doc
    p = plan(config, world)
    if p.http and config.http_listen is not None:
        check_port_free(config.http_listen, "--http")
    if p.pg and config.pg_listen is not None:
        check_port_free(config.pg_listen, "--pg")
    policy = policy_from_world(
        _redaction(world), extra_headers=config.redact_headers,
        extra_query_keys=config.redact_query, extra_json_keys=config.redact_json_keys,
        identity_headers=config.identity_headers,
    )  # fmt: skip
    redactor = Redactor(policy, Pseudonymizer(load_key()))
    model = WorldModel.from_index(
        parse_doc(world.doc), prepared.responses, prepared.index,
        default_class=config.default_class,
    )  # fmt: skip
    _settle()
    seed = config.seed if config.seed is not None else secrets.randbits(32)
    config = dataclasses.replace(config, seed=seed)  # every server draws from the same seed
    behaviour = Behaviour(model, redactor, BehaviourSettings(
        latency=config.latency, faults=config.faults, limits=config.limits, seed=seed,
        fault_timeout_s=config.fault_timeout,
    ))  # fmt: skip
    tape: SessionTape | None = None
    if config.session_tape is not None:
        from replayer.session.tape import SessionTape

        tape = SessionTape(config.session_tape, redactor, world=world.path)
    session = Session(keep_exchanges=tape is not None)
    loop = asyncio.get_running_loop()
    stop = stop or asyncio.Event()
    servers: list[Any] = []
    waits: set[asyncio.Future[Any]] = set()
    drain: asyncio.Task[None] | None = None
    tape_failed: list[TapeWriteError] = []
    bound: list[tuple[str, int]] = []
    pg_handle: PgServerHandle | None = None
    serving = False
    try:
        if p.pg:
            starter = _pg_starter()
            assert starter is not None
            pg_handle = await starter(config, _full_world(config), redactor)
            servers.append(pg_handle)
        if p.http and config.http_listen is not None:
            server, task = await _start_http(config, behaviour, session)
            servers.append(server)
            bound += server.bound
            if task is not None:
                waits.add(task)
        if tape is not None:
            tape.open()
            drain = asyncio.create_task(_drain(session, tape, stop, tape_failed))
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        serving = True
        for note in p.notes:
            _say(out, note)
        if not config.quiet:
            _banner(out, config, bound, pg_handle, model, seed)
        if on_ready is not None:
            on_ready(bound)
        if on_serving is not None:
            pg_bound = list(pg_handle.bound) if pg_handle is not None else None
            on_serving({"http": [list(b) for b in bound], "pg": pg_bound, "seed": seed})
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait({stopping, *waits}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError, RuntimeError):
                loop.remove_signal_handler(sig)
        for server in reversed(servers):
            with contextlib.suppress(Exception):
                await (server.stop() if hasattr(server, "stop") else server.close())
        stop.set()
        if drain is not None:
            await drain
        session.ended_wall = time.time()
        tape_stats = None
        if tape is not None and drain is not None:
            try:
                tape_stats = await asyncio.to_thread(tape.close)
            except TapeWriteError as exc:
                tape_failed.append(exc)
    report = build_report(session, settings_echo(config, seed, model.default_class))
    report["session_tape"] = tape_stats
    if pg_handle is not None:
        report["sql"] = pg_handle.report()
    if serving and config.report is not None:
        write_report(config.report, report)
    if tape_failed:
        raise TapeWriteError(f"the session tape can no longer be written: {tape_failed[0]}")
    return report


def _full_world(config: ReplayConfig) -> World:
    """The world with its tables, for the PostgreSQL replayer (which reads them in Arrow);
    the HTTP exchanges are left out: their index is prepared already.

    Arrow's CPU and IO pools run one thread while the tables are read: each pool thread
    keeps its own allocator heap, and what a heap keeps stays resident. The pools get their
    former sizes back afterwards (others may share this process)."""
    import pyarrow as pa

    from understudy.world import load_world

    cpu, io = pa.cpu_count(), pa.io_thread_count()
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    try:
        world = load_world(config.world)
    finally:
        pa.set_cpu_count(cpu)
        pa.set_io_thread_count(io)
    world.tables.pop("http_exchanges", None)
    return world


def _settle() -> None:
    """Move what the world left (the indexes: a few arrays and one object per route, near
    miss candidate and multi-row key) out of the cyclic garbage collector's sight, so its
    full passes do not rescan the world on every request burst."""
    gc.collect()
    gc.freeze()


def _redaction(world: WorldDoc) -> dict[str, Any]:
    source = world.doc.get("source")
    red = source.get("redaction") if isinstance(source, dict) else None
    return red if isinstance(red, dict) else {}


async def _start_http(
    config: ReplayConfig, behaviour: Behaviour, session: Session
) -> tuple[Any, asyncio.Task[None] | None]:
    assert config.http_listen is not None
    target = config.target
    if target is None:
        from replayer.mitm.addon import ReplayAddon
        from replayer.mitm.master import start_proxy

        addon = ReplayAddon(behaviour, session, forward=config.on_miss == "forward")
        proxy = await start_proxy(addon, config.http_listen, confdir=config.confdir,
                                  max_body=config.max_body, quiet=config.quiet)  # fmt: skip
        return proxy, proxy.task
    from replayer.http.server import ReverseServer, ServerLimits

    limits = ServerLimits(
        max_body=config.max_body,
        header_timeout=config.header_timeout,
        body_timeout=max(30.0, config.header_timeout),
        idle_timeout=max(60.0, config.header_timeout),
    )
    forwarding = config.on_miss == "forward"
    server = ReverseServer(behaviour, session, target, forwarding=forwarding, limits=limits)
    try:
        await server.start(*config.http_listen)
    except OSError as exc:
        host, port = config.http_listen
        raise ConfigError(f"--http {host}:{port}: cannot listen ({exc.strerror or exc})") from exc
    return server, None


def _banner(
    out: TextIO,
    config: ReplayConfig,
    bound: list[tuple[str, int]],
    pg: PgServerHandle | None,
    model: WorldModel,
    seed: int,
) -> None:
    where = ", ".join(f"{h}:{p}" for h, p in bound)
    if bound and config.proxy_mode:
        from replayer.mitm.master import confdir_or_default

        ca = confdir_or_default(config.confdir) / "mitmproxy-ca-cert.pem"
        _say(out, f"replaying HTTP as a proxy on {where}; CA certificate {ca}")
    elif bound and config.target is not None:
        _say(out, f"replaying {config.target.scheme}://{config.target.authority} on {where}")
    if pg is not None:
        _say(out, f"replaying PostgreSQL on {pg.bound[0]}:{pg.bound[1]}")
    _say(out, f"world {config.world}: {model.index.exchanges} exchanges, "
              f"{len(model.routes.templates())} routes, seed {seed}; stop with Ctrl-C")  # fmt: skip


def run(
    config: ReplayConfig,
    *,
    out: TextIO = sys.stderr,
    on_serving: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Blocking form of :func:`replay`; reverse mode runs on uvloop when it is installed."""
    factory = None
    if not config.proxy_mode:
        with contextlib.suppress(ImportError):
            import uvloop

            factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(replay(config, out=out, on_serving=on_serving))
