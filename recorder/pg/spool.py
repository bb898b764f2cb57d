"""The wire spool: the relay writes what it forwards to disk; a decoder process turns it into rows.

Decoding the protocol into statement rows costs more than forwarding it (measured with
``pgbench -S``: about 40 us of relay CPU per transaction, 70 more with the tracker in the same
process). On a busy database host that work would slow production down. So the relay does
only what must happen at once: it forwards each chunk, then appends the chunk with its
arrival time to a list (:attr:`SpoolWriter.records`; no copy, no packing). Every few
milliseconds the event loop packs that list into records and appends them to a **spool
segment** under ``TAPE/.spool/`` (one ``write`` to the page cache; a thread fsyncs once per
flush interval). A decoder process
(:mod:`recorder.pg.decode`) follows the segments, runs the
:class:`~recorder.pg.capture.Tracker` over them and commits ``sql`` rows to the tape like any
writer. It runs at idle CPU priority (:func:`lower_priority`) and, while other processes keep
the host busy, holds itself to a small share of one CPU (:mod:`recorder.pg.pace`): the
decoder lags and the spool grows on disk, instead of the database slowing down. When the
recorder stops it waits for the decoder to finish.

Durability: a chunk is on disk (in the page cache) within :data:`HANDOFF_SECONDS` of being
forwarded while traffic flows (within :data:`WATCH_SECONDS` more when it pauses), and
fsynced within about a flush interval (two when it pauses). If the recorder is killed, the
decoder still drains what was written and exits; if both die, the next decoder started on
the same tape decodes the leftover segments first (a segment belongs to a dead recorder
when its lock file can be locked). A segment is deleted once decoded and its rows committed.

Secrets: authentication messages (the server's ``R`` requests and the client's password and
SASL ``p`` answers) never reach the spool: until the server's first ReadyForQuery each chunk
is split into frames and those are dropped (:class:`AuthFilter`). The directory and files are
owner-only; the spool holds everything else the client and server exchanged, unredacted, until
it is decoded (redaction happens in the decoder, before anything reaches a part).

Record format (little-endian): ``conn u32, kind u8, ts f64, length u32`` then ``length``
bytes. Kinds: :data:`OPEN` (JSON: conn_id, client_addr, startup parameters), :data:`CLIENT`
and :data:`SERVER` bytes, :data:`CLOSE` (the reason, UTF-8), and :data:`NEXT` (this segment
ends; go on with the next).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import secrets
import select
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from understudy.errors import TapeWriteError

__all__ = [
    "CLIENT",
    "CLOSE",
    "NEXT",
    "OPEN",
    "SERVER",
    "SPOOL_DIR",
    "AuthFilter",
    "DecoderProcess",
    "SpoolReader",
    "SpoolWriter",
    "lower_priority",
    "opened_connections",
    "segment_path",
]

OPEN: Final = 0
CLIENT: Final = 1
SERVER: Final = 2
CLOSE: Final = 3
NEXT: Final = 4

HEADER: Final = struct.Struct("<IBdI")
SPOOL_DIR: Final = ".spool"
SEGMENT_BYTES: Final = 64 * 1024 * 1024
HANDOFF_SECONDS: Final = 0.005  # the relay appends its records to the segment this often
WATCH_SECONDS: Final = 0.05  # the sync thread hands off records the traffic left behind
PRIORITIES: Final = ("idle", "low", "normal")
PRIORITY_ENV: Final = "UNDERSTUDY_PG_DECODER_PRIORITY"
DECODER_START_TIMEOUT: Final = 60.0  # seconds for the decoder to import and open the tape


def lower_priority(priority: str) -> str:
    """Lower this process's CPU priority; return the priority in effect.

    ``idle`` (the default) is Linux's ``SCHED_IDLE``: the decoder runs only on CPU time
    nothing else wants, so recording never competes with the database and its clients; under
    sustained saturation the spool grows on disk until the load eases (or the disk fills,
    which stops the recorder loudly). ``low`` is ``nice`` 10; ``normal`` changes nothing.
    """
    if priority == "idle" and hasattr(os, "SCHED_IDLE"):
        try:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
            return "idle"
        except OSError:
            priority = "low"
    if priority in ("idle", "low"):
        with contextlib.suppress(OSError):
            os.nice(10)
        return "low"
    return "normal"


_FRAME: Final = struct.Struct("!cI")
_AUTH_SERVER: Final = b"R"  # AuthenticationRequest (SASL challenges, salts)
_AUTH_CLIENT: Final = b"p"  # PasswordMessage, SASLInitialResponse, SASLResponse, GSS
_READY: Final = b"Z"


def segment_path(directory: Path, prefix: str, n: int) -> Path:
    return directory / f"{prefix}-{n:06d}.seg"


def first_segment(directory: Path, prefix: str) -> int:
    """The number of a spool's oldest segment still on disk (decoded ones are deleted)."""
    numbers = []
    for path in directory.glob(f"{prefix}-*.seg"):
        with contextlib.suppress(ValueError):
            numbers.append(int(path.stem.rsplit("-", 1)[1]))
    return min(numbers, default=0)


def spool_dir(tape: Path) -> Path:
    """``TAPE/.spool``, created owner-only."""
    d = tape / SPOOL_DIR
    d.mkdir(mode=0o700, exist_ok=True)
    return d


# -- the relay's side ------------------------------------------------------------------------------
class AuthFilter:
    """Split one direction into frames until authentication ends; drop the secret ones.

    ``feed`` returns the bytes to spool. The server side ends the filter at its first
    ReadyForQuery (:attr:`done`); the relay then ends the client side with :meth:`finish`,
    which returns whatever partial frame it still holds.
    """

    __slots__ = ("_buf", "_drop", "_server", "done")

    def __init__(self, *, server: bool) -> None:
        self._buf = bytearray()
        self._server = server
        self._drop = _AUTH_SERVER if server else _AUTH_CLIENT
        self.done = False

    def feed(self, data: bytes) -> bytes:
        buf = self._buf
        buf += data
        out = bytearray()
        pos = 0
        size = len(buf)
        while size - pos >= 5:
            code, length = _FRAME.unpack_from(buf, pos)
            if length < 4:  # not a frame: spool it as is; the decoder will report it
                break
            end = pos + 1 + length
            if end > size:
                break
            if code != self._drop:
                out += buf[pos:end]
            pos = end
            if self._server and code == _READY:
                self.done = True
                break
        if self.done or (size - pos >= 5 and _FRAME.unpack_from(buf, pos)[1] < 4):
            out += buf[pos:]
            buf.clear()
            self.done = True
        else:
            del buf[:pos]
        return bytes(out)

    def finish(self) -> bytes:
        """End filtering: the partial frame held back, if any."""
        self.done = True
        rest = bytes(self._buf)
        self._buf.clear()
        return rest


class SpoolWriter:
    """The relay's end: collect records on the event loop, append them to segments.

    The hot path is the relay's, not a method: it appends ``(conn, kind, ts, data)`` to
    :attr:`records`, calling :meth:`arm` first when the list is empty (that sets
    :attr:`due`, and raises once the spool has failed), and calls :meth:`handoff` once ``ts``
    reaches :attr:`due`. Each chunk then costs one tuple, one list append and a comparison;
    packing happens once per handoff, in one tight loop. Measured under
    ``pgbench -S -c 8`` on 2 cores, packing each chunk into a buffer as it arrived cost the
    relay 3-5 us more user CPU per transaction than this: the relay runs in short bursts
    between other processes, with cold caches, and pays for every step per chunk many times
    over what a micro-benchmark shows. The list holds at most :data:`HANDOFF_SECONDS` of
    traffic.

    There is no timer on the event loop: while one is pending, every ``epoll_wait`` that
    blocks arms a kernel timer, which in a VM costs an exit to the hypervisor (measured at a
    fixed 7,000 transactions per second: 4 us more system CPU per transaction than the relay
    without capture, against 0 without the timer). When traffic pauses with records left,
    the sync thread, which looks every :data:`WATCH_SECONDS`, asks the loop to hand them off.

    The loop itself writes (to the page cache) every :data:`HANDOFF_SECONDS`, and starts a
    new segment once the current one is a flush interval old (or :data:`SEGMENT_BYTES`
    long). A thread makes each finished segment durable (``fsync``) as soon as the loop
    leaves it, so the loop never appends to a file being synced: on ext4 an append to a page
    under writeback waits for the disk, and syncing the segment being written cost the
    relay about 8 us of CPU per transaction under ``pgbench``. A segment the loop keeps
    longer (the traffic paused) is synced where it is. Handing every buffer to a writer
    thread instead cost the relay a GIL hand-over 200 times a second, which showed in its
    latency.

    Also the ``sql`` writer of the :class:`~recorder.sink.TapeSink`: :attr:`stats` and
    :meth:`close` follow :class:`~understudy.tape.PartWriter`, with the decoder's counters.
    """

    def __init__(
        self,
        tape: Path,
        *,
        config: dict[str, Any],
        decoder_env: dict[str, str],
        flush_interval: float = 1.0,
        on_fatal: Callable[[TapeWriteError], None] | None = None,
    ) -> None:
        self.directory = spool_dir(tape)
        self.tape = tape
        self.prefix = f"{os.getpid()}-{secrets.token_hex(4)}"
        self.flush_interval = flush_interval
        self.on_fatal = on_fatal
        self.error: TapeWriteError | None = None
        self.stats = _DecoderStats()
        self.records: list[tuple[int, int, float, bytes]] = []  # until the next handoff
        self.due = 0.0  # when the records must be handed off (time.time(); set by arm)
        self._nudged = False  # the sync thread asked the loop for a handoff
        self._segment = 0
        self._fd = -1
        self._size = 0
        self._dirty = False  # written since the last fsync
        self._unwritable = False  # a write failed: nothing more is written
        self._retired: list[int] = []  # full segments' descriptors: fsync, then close
        self._fds = threading.Lock()  # guards _fd and _retired against the sync thread
        self._stop = threading.Event()
        self._wake = threading.Event()  # a segment was retired: sync it now
        self._opened_at = 0.0  # when the current segment was started (monotonic)
        self._sync_thread: threading.Thread | None = None
        self._lock_fd = -1
        self._loop: Any = None
        self._config = config
        self._decoder = DecoderProcess(self, decoder_env)
        self._sealed = False
        self._closed = False

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self, loop: Any) -> None:
        """Open the first segment, start the decoder and the sync thread."""
        self._loop = loop
        try:
            self._lock_fd = os.open(
                self.directory / f"{self.prefix}.lock", os.O_WRONLY | os.O_CREAT, 0o600
            )
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            config = json.dumps(self._config).encode()
            fd = os.open(
                self.directory / f"{self.prefix}.json", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600
            )
            with os.fdopen(fd, "wb") as f:
                f.write(config)
            self._fd = self._open_segment()
        except OSError as exc:
            raise TapeWriteError(f"cannot create the spool in {self.directory}: {exc}") from exc
        self._decoder.start()
        self._sync_thread = threading.Thread(
            target=self._sync_loop, name="understudy-sql-spool-sync", daemon=True
        )
        self._sync_thread.start()

    async def ready(self, timeout: float = DECODER_START_TIMEOUT) -> None:
        """Wait (off the loop) until the decoder process has started; raise if it failed."""
        await asyncio.to_thread(self._decoder.wait_ready, timeout)

    def _open_segment(self) -> int:
        path = segment_path(self.directory, self.prefix, self._segment)
        self._size = 0
        self._opened_at = time.monotonic()
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)

    @property
    def healthy(self) -> bool:
        return self.error is None

    def append(self, row: Any, nbytes: int = 256) -> None:  # the PartWriter interface
        raise TapeWriteError("sql rows are written by the decoder process")

    def seal(self) -> None:
        """No more records (call on the event loop once the relay's connections are done)."""
        self.handoff()
        self._sealed = True

    def close(self) -> None:
        """Write what is buffered, end the spool, wait for the decoder to commit everything.

        Call :meth:`seal` on the event loop first when the loop is running.
        """
        if self._closed:
            return
        self._closed = True
        if not self._sealed:
            self.handoff()
        self._stop.set()
        self._wake.set()
        if self._sync_thread is not None:
            self._sync_thread.join()  # the last fsync; every descriptor closed
        left = 0
        for seg in self.directory.glob(f"{self.prefix}-*.seg"):
            with contextlib.suppress(FileNotFoundError):  # the decoder deletes as it goes
                left += seg.stat().st_size
        if left >= 8 * 1024 * 1024 and self._decoder.proc is not None:
            print(
                f"understudy: decoding the last {left / 2**20:.0f} MiB of spooled PostgreSQL "
                "traffic into the tape...", file=sys.stderr, flush=True,
            )  # fmt: skip
        self._decoder.finish()
        if self._lock_fd >= 0:
            with contextlib.suppress(OSError):
                (self.directory / f"{self.prefix}.lock").unlink()
            os.close(self._lock_fd)
            self._lock_fd = -1
        if self.error is not None:
            raise self.error

    # -- the event loop's side (hot path) ------------------------------------------------------
    def arm(self) -> None:
        """Call before appending to an empty :attr:`records`: the handoff is due in
        :data:`HANDOFF_SECONDS`.

        Raises :class:`TapeWriteError` once the spool has failed or is sealed: the caller
        must then not append (and must end its connection).
        """
        if self.error is not None:
            raise self.error
        if self._sealed:
            raise TapeWriteError("the SQL spool is closed")
        self.due = time.time() + HANDOFF_SECONDS

    def add(self, conn: int, kind: int, ts: float, data: bytes) -> None:
        """Queue one record (the relay's cold paths; its hot path inlines this)."""
        records = self.records
        if not records:
            self.arm()
        records.append((conn, kind, ts, data))
        if ts >= self.due:
            self.handoff()

    def handoff(self) -> None:
        """Append the records to the segment (the page cache; the sync thread syncs it)."""
        self._nudged = False
        records = self.records
        if not records:
            return
        if self._unwritable:
            records.clear()
            return
        parts: list[bytes] = []
        pack = HEADER.pack
        for conn, kind, ts, data in records:
            parts.append(pack(conn, kind, ts, len(data)))
            parts.append(data)
        records.clear()  # in place: the relay's connections hold this list
        try:
            # Also after the decoder failed: a later decoder recovers what was written.
            self._write(b"".join(parts))
        except OSError as exc:
            self._unwritable = True
            self._fail(TapeWriteError(f"cannot write the spool {self.directory}: {exc}"))
            return
        self._decoder.nudge()

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        fd = self._fd
        while view:
            n = os.write(fd, view)
            view = view[n:]
        self._dirty = True
        self._size += len(data)
        if self._size >= SEGMENT_BYTES or time.monotonic() - self._opened_at >= self.flush_interval:
            # The next segment exists before the marker sends the decoder to it; the sync
            # thread makes the finished one durable and closes it.
            self._segment += 1
            new = self._open_segment()
            os.write(fd, HEADER.pack(0, NEXT, time.time(), 0))
            with self._fds:
                self._fd = new
                self._dirty = False
                self._retired.append(fd)
            self._wake.set()

    # -- the sync thread -------------------------------------------------------------------------
    def _watch(self) -> None:
        """Records are due and no chunk came to hand them off: ask the loop to."""
        if self.records and not self._nudged and not self._sealed and time.time() >= self.due:
            self._nudged = True
            with contextlib.suppress(RuntimeError):  # the loop is closed: close() hands off
                self._loop.call_soon_threadsafe(self.handoff)

    def _sync_loop(self) -> None:
        next_sync = time.monotonic() + self.flush_interval
        while True:
            woke = self._wake.wait(min(WATCH_SECONDS, self.flush_interval))
            if not woke:
                self._watch()
                if time.monotonic() < next_sync:
                    continue
            next_sync = time.monotonic() + self.flush_interval
            self._wake.clear()
            stopping = self._stop.is_set()
            try:
                with self._fds:
                    retired, self._retired = self._retired, []
                    fd, dirty = self._fd, self._dirty
                    # The loop has kept this segment for 1.5 flush intervals (it rotates after
                    # one while traffic flows), so the traffic paused: sync it where it is.
                    idle = time.monotonic() - self._opened_at >= 1.5 * self.flush_interval
                    if dirty and (idle or stopping):
                        self._dirty = False
                for old in retired:
                    try:
                        os.fsync(old)
                    finally:
                        os.close(old)
                if dirty and (idle or stopping):
                    os.fsync(fd)
            except OSError as exc:
                self._fail(TapeWriteError(f"cannot write the spool {self.directory}: {exc}"))
            if stopping:
                with self._fds:
                    fd, self._fd = self._fd, -1
                with contextlib.suppress(OSError):
                    os.close(fd)
                return

    def _fail(self, exc: TapeWriteError) -> None:
        first = self.error is None
        self.error = self.error or exc
        if first and self.on_fatal is not None:
            self.on_fatal(exc)


@dataclass
class _DecoderStats:
    """The decoder's summary (sent when it exits), shaped like :class:`WriterStats`."""

    summary: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        if self.summary is None:
            return {"captured": 0, "committed": 0, "parts": 0, "dropped": {}}
        return dict(self.summary)


class DecoderProcess:
    """The child process that decodes the spool; a death or a tape error is fatal."""

    def __init__(self, owner: SpoolWriter, env: dict[str, str]) -> None:
        self.owner = owner
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._finishing = False
        self._ready = threading.Event()  # said ready, or failed, or exited

    def start(self) -> None:
        owner = self.owner
        argv = [
            sys.executable, "-m", "recorder.pg.decode",
            "--tape", str(owner.tape), "--prefix", owner.prefix,
        ]  # fmt: skip
        try:
            # Its own process group: a Ctrl-C in the terminal reaches the recorder only,
            # which ends the spool and lets the decoder finish. It inherits the spool's
            # lock, so the spool counts as alive while either process runs.
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=self.env,
                process_group=0, pass_fds=(owner._lock_fd,),
            )  # fmt: skip
        except OSError as exc:
            raise TapeWriteError(f"cannot start the SQL decoder: {exc}") from exc
        assert self.proc.stdin is not None
        os.set_blocking(self.proc.stdin.fileno(), False)
        self._reader = threading.Thread(
            target=self._read, name="understudy-sql-decoder", daemon=True
        )
        self._reader.start()

    def nudge(self) -> None:
        """Tell the decoder there is more to read (never blocks; a full pipe is enough)."""
        proc = self.proc
        if proc is None or proc.stdin is None:
            return
        with contextlib.suppress(BlockingIOError, BrokenPipeError, OSError, ValueError):
            os.write(proc.stdin.fileno(), b".")

    def _read(self) -> None:
        proc = self.proc
        assert proc is not None and proc.stdout is not None
        for line in proc.stdout:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if "fatal" in msg:
                self.owner._fail(TapeWriteError(f"SQL decoder: {msg['fatal']}"))
                self._ready.set()
            elif "ready" in msg:
                self._ready.set()
            elif "summary" in msg:
                self.owner.stats.summary = msg["summary"]
        proc.stdout.close()
        code = proc.wait()
        if code != 0 or not self._finishing:
            self.owner._fail(
                TapeWriteError(f"the SQL decoder process exited unexpectedly (status {code})")
            )
        self._ready.set()

    def wait_ready(self, timeout: float) -> None:
        """Block until the decoder has started; raise :class:`TapeWriteError` if it failed.

        Its start-up (imports, the tape writer) takes about 0.4 s of CPU at normal priority;
        done before the relay listens, it neither delays nor competes with the first traffic.
        """
        if not self._ready.wait(timeout):
            self.owner._fail(TapeWriteError(f"the SQL decoder did not start within {timeout:g} s"))
            if self.proc is not None:
                self.proc.kill()  # closing the spool then does not wait for it
        if self.owner.error is not None:
            raise self.owner.error

    def finish(self) -> None:
        """End of the spool: close its notification pipe, wait until it has committed all."""
        self._finishing = True
        proc = self.proc
        if proc is None:
            return
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        if self._reader is not None:
            self._reader.join()


# -- the decoder's side --------------------------------------------------------------------------
class SpoolReader:
    """Follow one recorder's segments in order; yield records; delete what was decoded.

    ``wait`` is a file descriptor that becomes readable when more was written (the
    recorder's nudges), or ``None`` for a spool whose recorder is gone (read to the end).
    ``committed`` is called before a decoded segment is deleted: it must commit every row
    made so far.
    """

    def __init__(
        self, directory: Path, prefix: str, wait: int | None, committed: Callable[[], None]
    ) -> None:
        self.directory = directory
        self.prefix = prefix
        self.wait = wait
        self.committed = committed
        self.truncated = 0  # bytes of a record cut short (a recorder killed mid-write)

    def records(self) -> Iterator[tuple[int, int, float, bytes]]:
        n = first_segment(self.directory, self.prefix)
        while True:
            path = segment_path(self.directory, self.prefix, n)
            if not path.exists():
                return
            ended = yield from self._segment(path)
            self.committed()
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            if not ended:
                return
            n += 1

    def _segment(self, path: Path) -> Generator[tuple[int, int, float, bytes], None, bool]:
        """Yield a segment's records; return True when it ended with :data:`NEXT`."""
        unpack = HEADER.unpack_from
        hsize = HEADER.size
        live = self.wait is not None
        with open(path, "rb", buffering=0) as f:
            pending = b""
            while True:
                data = f.read(4 * 1024 * 1024)
                if not data:
                    if live and self._more():
                        continue
                    # The writer is done with this file: what is left is a cut record.
                    data = f.read(4 * 1024 * 1024)
                    if not data:
                        self.truncated += len(pending)
                        return False
                buf = pending + data if pending else data
                pos = 0
                size = len(buf)
                while size - pos >= hsize:
                    conn, kind, ts, length = unpack(buf, pos)
                    end = pos + hsize + length
                    if end > size:
                        break
                    if kind == NEXT:
                        return True
                    yield conn, kind, ts, buf[pos + hsize : end]
                    pos = end
                pending = buf[pos:]

    def stopping(self) -> bool:
        """Without waiting: whether the recorder has closed the pipe (it is stopping).

        Takes the nudges waiting in the pipe; the next read of the segment sees what they
        announced anyway.
        """
        fd = self.wait
        if fd is None:
            return True
        while select.select([fd], [], [], 0)[0]:
            try:
                if not os.read(fd, 65536):
                    self.wait = None
                    return True
            except BlockingIOError:
                break
        return False

    def _more(self) -> bool:
        """Wait for a nudge; False once the recorder closed the pipe (nothing more comes)."""
        fd = self.wait
        if fd is None:
            return False
        while True:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if not ready:
                return True  # re-read the file anyway: a nudge may have been dropped
            try:
                got = os.read(fd, 65536)
            except BlockingIOError:
                continue
            if not got:
                self.wait = None
                return True  # one last read to the end of the file
            return True


def opened_connections(directory: Path, prefix: str) -> set[str]:
    """The ``conn_id`` of every connection a spool opened (a read-only pass over it)."""
    out: set[str] = set()
    n = first_segment(directory, prefix)
    hsize = HEADER.size
    while (path := segment_path(directory, prefix, n)).exists():
        data = path.read_bytes()
        pos = 0
        while len(data) - pos >= hsize:
            _, kind, _, length = HEADER.unpack_from(data, pos)
            end = pos + hsize + length
            if kind == OPEN and end <= len(data):
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    out.add(str(json.loads(data[pos + hsize : end])["conn_id"]))
            pos = end
        n += 1
    return out


def leftover_prefixes(directory: Path, own: str) -> list[str]:
    """Spools of recorders that are gone (their lock is free), oldest first."""
    out: list[tuple[float, str]] = []
    seen: set[str] = set()
    for entry in directory.glob("*.seg"):
        prefix = entry.name.rsplit("-", 1)[0]
        if prefix == own or prefix in seen:
            continue
        seen.add(prefix)
        lock = directory / f"{prefix}.lock"
        try:
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT, 0o600)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue  # a live recorder's
        os.close(fd)
        out.append((entry.stat().st_mtime, prefix))
    return [p for _, p in sorted(out)]


def read_config(directory: Path, prefix: str) -> dict[str, Any]:
    try:
        data = json.loads((directory / f"{prefix}.json").read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
