# mitmproxy is not fully annotated:
# mypy: disallow-untyped-calls=False
"""The mitmproxy addon that records every HTTP exchange into a tape.

Two ways in, one class:

- ``understudy record`` builds the sink and the settings itself and passes them in
  (:func:`recorder.http.master.build_master`);
- plain mitmproxy loads it as a script (``mitmdump -s recorder/mitm_addon.py --set
  understudy_tape=DIR``): options are declared in :meth:`Recorder.load` and validated once
  in :meth:`Recorder.configure` into frozen settings; the tape opens there (before traffic)
  and closes in ``done``, which prints the counters.

Hooks only adapt a flow into a row (:func:`recorder.http.rows.flow_to_row`) and queue it; the
writer thread does the IO. If the tape cannot be written, new flows are killed rather than
forwarded unrecorded, and the recorder stops with a message.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from mitmproxy import ctx, exceptions, http, tls

from recorder.http.rows import DEFAULT_MAX_BODY, CaptureSettings, flow_to_row, row_nbytes
from recorder.sink import TapeSink
from understudy.errors import ConfigError, TapeError, TapeWriteError
from understudy.redact import Pseudonymizer, RedactionPolicy, Redactor, load_key
from understudy.sizes import parse_duration, parse_size

__all__ = ["OPTION_PREFIX", "Recorder", "ScriptSettings", "fallback_row"]

logger = logging.getLogger(__name__)

OPTION_PREFIX: Final = "understudy_"
#: Counters printed on exit even when zero (tcpdump prints its three lines every time).
COUNTERS: Final = ("http.bodies_truncated", "http.streams", "http.websocket_messages")
_RECORDED: Final = "understudy.recorded"
_REFUSED: Final = "understudy.refused"


@dataclass(frozen=True, slots=True)
class ScriptSettings:
    """The ``understudy_*`` options of a script-loaded recorder, validated."""

    tape: Path
    capture: CaptureSettings
    policy: RedactionPolicy
    flush_interval: float

    @classmethod
    def from_options(cls, opts: Any) -> ScriptSettings:
        """Validate mitmproxy's ``understudy_*`` options; raises :class:`ConfigError`."""
        if not opts.understudy_tape:
            raise ConfigError(
                "understudy_tape is not set: add --set understudy_tape=DIR to record into DIR"
            )
        return cls(
            tape=Path(opts.understudy_tape).expanduser(),
            capture=CaptureSettings(max_body=parse_size(opts.understudy_max_body)),
            policy=RedactionPolicy.build(
                extra_headers=opts.understudy_redact_header,
                extra_query_keys=opts.understudy_redact_query,
                extra_json_keys=opts.understudy_redact_json_key,
                identity_headers=opts.understudy_identity_header,
            ),
            flush_interval=parse_duration(opts.understudy_flush_interval),
        )


def fallback_row(flow: http.HTTPFlow, exc: BaseException) -> dict[str, Any]:
    """A row for a flow whose full row could not be built: where and when, no payload."""
    req = flow.request
    ts = int(req.timestamp_start * 1_000_000)
    return {
        "exchange_id": flow.id.replace("-", ""),
        "ts_start": ts,
        "ts_end": ts,
        "duration_ms": 0.0,
        "method": req.data.method.decode("ascii", "replace"),
        "scheme": req.data.scheme.decode("ascii", "replace"),
        "host": req.host.encode("utf-8", "replace").decode(),
        "port": req.port,
        "path": "",
        "query": "",
        "status": flow.response.status_code if flow.response is not None else None,
        "request_body": b"",
        "response_body": b"",
        "flow_kind": "http",
        "error": f"capture error: {type(exc).__name__}",
    }


def _seed(sink: TapeSink) -> None:
    for name in COUNTERS:
        sink.count(name, 0)


class Recorder:
    """Record each HTTP exchange that mitmproxy completes (or fails) as one tape row."""

    def __init__(
        self, sink: TapeSink | None = None, settings: CaptureSettings | None = None
    ) -> None:
        self.embedded = sink is not None
        self.sink = sink
        if sink is not None:
            _seed(sink)
        self.settings = settings or CaptureSettings()
        self.script_settings: ScriptSettings | None = None
        self.fatal: TapeWriteError | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- options (script use) ----------------------------------------------------------------
    def load(self, loader: Any) -> None:
        loader.add_option(
            "understudy_tape", str | None, None, "Record HTTP exchanges into this tape directory."
        )
        for name, what in (
            ("identity_header", "Header whose pseudonym identifies the client (repeatable)."),
            ("redact_header", "Extra header to redact (repeatable)."),
            ("redact_query", "Extra query-string key to redact (repeatable)."),
            ("redact_json_key", "Extra JSON or form key to redact in bodies (repeatable)."),
        ):
            loader.add_option(OPTION_PREFIX + name, Sequence[str], [], what)
        loader.add_option(
            "understudy_max_body",
            str,
            str(DEFAULT_MAX_BODY),
            "Store at most this many decoded body bytes per message (e.g. 64KiB, 1MB).",
        )
        loader.add_option(
            "understudy_flush_interval",
            str,
            "1s",
            "Commit a tape part at least this often (e.g. 1s, 500ms).",
        )

    def configure(self, updated: set[str]) -> None:
        if self.embedded or not any(k.startswith(OPTION_PREFIX) for k in updated):
            return
        try:
            settings = ScriptSettings.from_options(ctx.options)
        except ConfigError as exc:
            raise exceptions.OptionsError(str(exc)) from None
        if self.sink is not None:
            if settings != self.script_settings:
                raise exceptions.OptionsError("understudy_* options cannot change while recording")
            return
        # Open the tape now, before mitmproxy serves, as mitmproxy's own save addon does: a
        # tape that cannot be written stops start-up instead of letting traffic through.
        try:
            redactor = Redactor(settings.policy, Pseudonymizer(load_key()))
            sink = TapeSink(
                settings.tape,
                redactor,
                flush_interval=settings.flush_interval,
                on_fatal=self._on_fatal,
            )
            sink.open(("http",))
        except (ConfigError, TapeError) as exc:
            raise exceptions.OptionsError(f"understudy: {exc}") from None
        _seed(sink)
        self.script_settings, self.settings, self.sink = settings, settings.capture, sink

    # -- lifecycle ---------------------------------------------------------------------------
    def running(self) -> None:
        self._loop = asyncio.get_running_loop()
        if not self.embedded and self.sink is not None:
            logger.info(f"understudy: recording HTTP exchanges into {self.sink.tape}")

    def _on_fatal(self, exc: TapeWriteError) -> None:
        """Writer thread: the tape cannot be written. Stop mitmproxy (script use)."""
        self.fatal = exc
        loop = self._loop or ctx.master.event_loop
        loop.call_soon_threadsafe(self._stop_fatal, exc)

    def _stop_fatal(self, exc: TapeWriteError) -> None:
        logger.error(f"understudy: the tape can no longer be written, stopping: {exc}")
        ctx.master.shutdown()

    def done(self) -> None:
        if self.embedded or self.sink is None:
            return
        from recorder.run import format_summary

        sink, self.sink = self.sink, None
        try:
            summary = sink.close()
        except TapeWriteError as exc:
            self.fatal = self.fatal or exc
            summary = sink.summary()
        for line in format_summary(summary):
            print(f"understudy: {line}", file=sys.stderr)
        if self.fatal is not None:
            print(f"understudy: recording failed: {self.fatal}", file=sys.stderr)
            sys.exit(1)

    # -- capture hooks -----------------------------------------------------------------------
    def _refuse(self, flow: http.HTTPFlow) -> bool:
        """Kill ``flow`` if the tape cannot take it; True when refused."""
        sink = self.sink
        if sink is not None and sink.healthy:
            return False
        if flow.live and not flow.metadata.get(_REFUSED):
            flow.metadata[_REFUSED] = True
            flow.kill()
            if sink is not None:
                sink.count("http.dropped.refused (tape unwritable)")
        return True

    def http_connect(self, flow: http.HTTPFlow) -> None:
        self._refuse(flow)

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        self._refuse(flow)

    def request(self, flow: http.HTTPFlow) -> None:
        self._refuse(flow)

    def response(self, flow: http.HTTPFlow) -> None:
        self._record(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        self._record(flow)

    def http_connect_error(self, flow: http.HTTPFlow) -> None:
        """A CONNECT that could not reach its upstream: no inner exchange, so record it."""
        self._record(flow)

    def websocket_message(self, flow: http.HTTPFlow) -> None:
        if self.sink is not None:
            self.sink.count("http.websocket_messages")

    def tls_failed_client(self, data: tls.TlsData) -> None:
        if self.sink is not None:  # e.g. a client that does not trust the CA: no exchange
            self.sink.count("http.tls_failed_client")

    def tls_failed_server(self, data: tls.TlsData) -> None:
        if self.sink is not None:
            self.sink.count("http.tls_failed_server")

    def _record(self, flow: http.HTTPFlow) -> None:
        sink = self.sink
        meta = flow.metadata
        if sink is None or meta.get(_RECORDED) or meta.get(_REFUSED):
            return
        meta[_RECORDED] = True
        try:
            row = flow_to_row(flow, self.settings, sink.redactor)
        except Exception as exc:  # a malformed flow must never stop the recorder
            # the exception's text may quote payload bytes: log its type only
            logger.warning(f"understudy: could not build a row for {flow.id}: {type(exc).__name__}")
            sink.count("http.capture_errors")
            row = fallback_row(flow, exc)
        try:
            sink.append("http", row, row_nbytes(row))
        except TapeWriteError:
            if flow.live:
                flow.kill()
            return
        if row.get("response_body_truncated") or row.get("request_body_truncated"):
            sink.count("http.bodies_truncated")
        if row["flow_kind"] == "stream":
            sink.count("http.streams")
        elif row["flow_kind"] == "websocket":
            sink.count("http.websockets")
        if row["error"] is not None:
            sink.count("http.errors")
