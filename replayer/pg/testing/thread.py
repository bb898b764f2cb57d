"""Run the replay server on its own event loop in a background thread (tests, benchmarks).

Example::

    with ServerThread(world, PgReplaySettings(listen=("127.0.0.1", 0))) as server:
        psycopg.connect(f"host=127.0.0.1 port={server.port} user=app dbname=app")
    server.report()          # the SQL section, once the server is closed
"""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType
from typing import Any, Self

from replayer.pg.recording import PgSession
from replayer.pg.server import PgServer
from replayer.pg.settings import PgReplaySettings
from replayer.pg.start import start_pg_server
from understudy.world import World

__all__ = ["ServerThread"]


class ServerThread:
    """A :class:`PgServer` on a private loop (uvloop when available) in a daemon thread."""

    def __init__(
        self, world: World, settings: PgReplaySettings, *, session: PgSession | None = None
    ) -> None:
        self.world = world
        self.settings = settings
        self.session = session
        self.server: PgServer | None = None
        self.error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name="pg-replay", daemon=True)

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.bound[1]

    def __enter__(self) -> Self:
        self._thread.start()
        self._ready.wait(30)
        if self.error is not None:
            raise self.error
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    def report(self) -> dict[str, Any]:
        assert self.server is not None
        return self.server.report()

    def _main(self) -> None:
        try:
            import uvloop

            factory: Any = uvloop.new_event_loop
        except ImportError:  # pragma: no cover
            factory = None
        try:
            with asyncio.Runner(loop_factory=factory) as runner:
                runner.run(self._serve())
        except BaseException as exc:  # surfaced to the test thread
            self.error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self.server = await start_pg_server(self.settings, self.world, session=self.session)
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await self.server.close()
