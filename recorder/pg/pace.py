"""Keep the SQL decoder out of a saturated host's way.

The decoder already runs at idle CPU priority, but on a small host that is not enough:
measured with ``pgbench -S -c 8`` on 2 cores, a decoder filling every idle gap still cost
the clients about a fifth of their throughput (wake-ups that must first preempt it, caches
it evicts). So while the *other* processes keep the host busy, the decoder budgets itself:
it decodes for a slice, then sleeps so that it uses at most :attr:`Pace.share` of one CPU.
The spool holds what it has not decoded yet; that is already on disk, so nothing is at risk,
only the tape trails the traffic for a while.

The budget is lifted, and the decoder goes back to decoding as fast as idle priority lets
it, when any of these holds:

- the host is no longer busy (others below :attr:`Pace.busy` of all CPUs);
- the records it is decoding are more than :attr:`Pace.max_lag` seconds old (a sustained
  overload must not grow the spool without bound);
- the recorder is stopping (it waits for the decoder).

Settings come from the environment (:meth:`Pace.from_env`), for hosts that want another
trade-off: ``UNDERSTUDY_PG_DECODER_SHARE`` (0 < share <= 1; 1 turns pacing off),
``UNDERSTUDY_PG_DECODER_BUSY`` (0..1) and ``UNDERSTUDY_PG_DECODER_MAX_LAG`` (seconds), with
the decoder's CPU priority, ``UNDERSTUDY_PG_DECODER_PRIORITY``. The recorder reads them
before it listens, so a bad value stops it at start-up rather than in the decoder process.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final

from recorder.pg.spool import PRIORITIES, PRIORITY_ENV
from understudy.errors import ConfigError

__all__ = ["HostLoad", "Pace", "Pacer"]

SHARE_ENV: Final = "UNDERSTUDY_PG_DECODER_SHARE"
BUSY_ENV: Final = "UNDERSTUDY_PG_DECODER_BUSY"
MAX_LAG_ENV: Final = "UNDERSTUDY_PG_DECODER_MAX_LAG"


@dataclass(frozen=True)
class Pace:
    """The decoder's CPU priority and its budget while the host is busy.

    >>> Pace.from_env({"UNDERSTUDY_PG_DECODER_SHARE": "0.25"}).share
    0.25
    >>> Pace.from_env({"UNDERSTUDY_PG_DECODER_BUSY": "2"})
    Traceback (most recent call last):
    ...
    understudy.errors.ConfigError: UNDERSTUDY_PG_DECODER_BUSY=2.0: expected a number in [0, 1]
    """

    # Of one CPU, while the host is busy. Measured with pgbench -S -c 8 -M prepared on 2 cores:
    # at 0.1 the recorder reached 0.69-0.83 of pgbouncer's throughput over two runs; held
    # to 0.01 it matched the relay without capture. The tape trails more under load; the
    # max_lag bound keeps that finite.
    share: float = 0.02
    busy: float = 0.6  # the others' share of all CPUs above which the host counts as busy
    max_lag: float = 60.0  # seconds behind the traffic beyond which the budget is lifted
    slice_s: float = 0.01  # how long the decoder runs between two looks at the host
    priority: str = "idle"  # :func:`~recorder.pg.spool.lower_priority`

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Pace:
        """The settings from ``env`` (default: the process's); :class:`ConfigError` when one
        is wrong."""
        env = os.environ if env is None else env
        priority = env.get(PRIORITY_ENV) or "idle"
        if priority not in PRIORITIES:
            raise ConfigError(
                f"{PRIORITY_ENV}={priority!r}: expected one of {', '.join(PRIORITIES)}"
            )
        values: dict[str, float] = {}
        for name, key, low, high in (
            (SHARE_ENV, "share", 0.0, 1.0),
            (BUSY_ENV, "busy", 0.0, 1.0),
            (MAX_LAG_ENV, "max_lag", 0.0, float("inf")),
        ):
            text = env.get(name)
            if not text:
                continue
            try:
                value = float(text)
            except ValueError:
                raise ConfigError(f"{name}={text!r}: expected a number") from None
            if not low <= value <= high or (key == "share" and value == 0):
                bound = "(0, 1]" if key == "share" else f"[{low:g}, {high:g}]"
                raise ConfigError(f"{name}={value}: expected a number in {bound}")
            values[key] = value
        return cls(priority=priority, **values)


@dataclass
class HostLoad:
    """How busy the *other* processes keep the host, from ``/proc/stat`` and our own CPU time.

    :meth:`sample` returns their share of all CPUs since the previous sample, or ``None``
    when less than ``window`` seconds have passed (``/proc/stat`` counts in 10 ms ticks) or
    there is no ``/proc/stat`` (then the host never counts as busy).
    """

    path: str = "/proc/stat"
    window: float = 0.1
    _last: tuple[int, int, float, float] | None = field(default=None, repr=False)
    _tick: int = field(default_factory=lambda: os.sysconf("SC_CLK_TCK"), repr=False)

    def _read(self) -> tuple[int, int] | None:
        try:
            with open(self.path, "rb") as f:
                line = f.readline()
        except OSError:
            return None
        fields = line.split()
        if len(fields) < 6 or fields[0] != b"cpu":
            return None
        ticks = [int(x) for x in fields[1:9]]
        idle = ticks[3] + ticks[4]  # idle + iowait
        stolen = ticks[7] if len(ticks) > 7 else 0  # the hypervisor's, not this host's load
        total = sum(ticks) - stolen
        return total - idle, total

    def sample(self) -> float | None:
        now = time.monotonic()
        last = self._last
        if last is not None and now - last[3] < self.window:
            return None
        read = self._read()
        if read is None:
            return None
        busy, total = read
        own = time.process_time()
        self._last = (busy, total, own, now)
        if last is None or total <= last[1]:
            return None
        others = (busy - last[0]) - (own - last[2]) * self._tick
        return min(1.0, max(0.0, others / (total - last[1])))


class Pacer:
    """Called by the decoder between records (:meth:`tick`); sleeps to keep to a :class:`Pace`.

    ``tick(ts)`` is cheap (a clock read) except once per slice. ``stopping`` says, without
    waiting, whether the recorder is stopping; from then on the pacer never holds back.
    ``paced_s`` adds up the time spent holding back, for the decoder's summary.
    """

    def __init__(
        self,
        pace: Pace,
        load: HostLoad | None = None,
        stopping: Callable[[], bool] | None = None,
    ) -> None:
        self.pace = pace
        self.load = load if load is not None else HostLoad()
        self.stopping = stopping
        self.enabled = pace.share < 1.0
        self.busy = False
        self.paced_s = 0.0
        self._slice_end = 0.0
        self._cpu = time.process_time()
        self.load.sample()

    def tick(self, ts: float) -> None:
        """Between two records; ``ts`` is the capture time of the record about to be decoded."""
        if not self.enabled:
            return
        now = time.monotonic()
        if now < self._slice_end:
            return
        pace = self.pace
        cpu = time.process_time()
        used, self._cpu = cpu - self._cpu, cpu
        others = self.load.sample()
        if others is not None:
            self.busy = others >= pace.busy
        if self.busy and self.stopping is not None and self.stopping():
            self.enabled = False  # the recorder waits for the rest: no more holding back
            return
        if self.busy and time.time() - ts < pace.max_lag:
            pause = min(used * (1.0 / pace.share - 1.0), 1.0)
            if pause > 0:
                time.sleep(pause)
                self.paced_s += pause
        self._slice_end = time.monotonic() + pace.slice_s
