"""Starting the PostgreSQL replay server: the entry point ``understudy replay`` calls.

``replayer/run.py`` (the shared ``understudy replay``) calls::

    handle = await start_pg_server(config, world, redactor)   # config: ReplayConfig
    ...                                                        # serve
    await handle.close()
    report["sql"] = handle.report()

with ``config.pg_listen`` (default ``127.0.0.1:6432``), ``config.latency``,
``config.faults``, ``config.seed``, ``config.allow_remote``, ``config.session_tape`` and
``config.pg_options``, a mapping with the PostgreSQL-only options: ``password``
(``--pg-password``), ``auth`` (``scram-sha-256`` or ``md5``), ``on_miss`` (``error`` or
``forward:HOST:PORT``), ``forward_password`` and ``max_frame``. Tests, benchmarks and
``python -m replayer.pg`` pass a :class:`~replayer.pg.settings.PgReplaySettings` instead.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from replayer.pg.behaviour import Behaviour
from replayer.pg.index import SqlIndex
from replayer.pg.recording import PgSession
from replayer.pg.server import PgServer
from replayer.pg.settings import DEFAULT_MAX_FRAME, PgReplaySettings, parse_on_miss
from understudy.errors import ConfigError
from understudy.redact import Redactor
from understudy.sqlfp.shapes import Fingerprinter
from understudy.world import World

__all__ = ["settings_from_config", "start_pg_server"]

DEFAULT_LISTEN = ("127.0.0.1", 6432)


def settings_from_config(config: Any) -> PgReplaySettings:
    """PgReplaySettings from ``understudy replay``'s ReplayConfig (duck-typed)."""
    opts: Mapping[str, Any] = getattr(config, "pg_options", None) or {}
    mode, forward_to = parse_on_miss(str(opts.get("on_miss") or "error"))
    seed = getattr(config, "seed", None)
    return PgReplaySettings(
        listen=getattr(config, "pg_listen", None) or DEFAULT_LISTEN,
        password=opts.get("password") or None,
        auth_method=str(opts.get("auth") or "scram-sha-256"),  # type: ignore[arg-type]
        on_miss=mode,
        forward_to=forward_to,
        forward_password=opts.get("forward_password"),
        latency="recorded" if getattr(config, "latency", True) else "off",
        faults="observed" if getattr(config, "faults", False) else "off",
        seed=seed if seed is not None else secrets.randbits(32),
        max_frame=int(opts.get("max_frame") or DEFAULT_MAX_FRAME),
        listen_any=bool(getattr(config, "allow_remote", False)),
    )


async def start_pg_server(
    config: Any,
    world: World,
    redactor: Redactor | None = None,
    *,
    session: PgSession | None = None,
    fingerprinter: Fingerprinter | None = None,
) -> PgServer:
    """Index ``world``'s SQL, listen, and return the running server.

    ``config`` is a :class:`PgReplaySettings` or ``understudy replay``'s ReplayConfig. The
    session (report counters, and the ``sql/`` parts of ``config.session_tape``) is created
    unless given. Raises :class:`ConfigError` when the address cannot be bound.
    """
    if isinstance(config, PgReplaySettings):
        settings, tape = config, None
    else:
        settings = settings_from_config(config)
        tape = getattr(config, "session_tape", None)
    index = SqlIndex.from_world(world, seed=settings.seed)
    behaviour = Behaviour(index, settings, fingerprinter)
    if session is None:
        session = PgSession(tape=Path(tape) if tape else None, redactor=redactor, world=world.path)
    server = PgServer(behaviour, settings, session)
    try:
        await server.start()
    except OSError as exc:
        host, port = settings.listen
        raise ConfigError(f"--pg {host}:{port}: cannot listen ({exc.strerror or exc})") from exc
    return server
