"""The recorder's settings, validated once into a frozen dataclass before anything listens."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from understudy.errors import ConfigError
from understudy.listen import check_loopback
from understudy.redact import RedactionPolicy

__all__ = ["PG_UPSTREAM_TLS", "RecorderConfig", "check_loopback", "validate_mode"]

PG_UPSTREAM_TLS = ("disable", "prefer", "require")
_MODES = ("regular", "transparent", "socks5", "reverse:", "upstream:")


def validate_mode(mode: str) -> str:
    """Check a mitmproxy mode spec we support (``regular``, ``reverse:URL``, ``upstream:URL``)."""
    if mode in ("regular", "socks5"):
        return mode
    kind, sep, target = mode.partition(":")
    if sep and kind in ("reverse", "upstream") and target:
        if not target.startswith(("http://", "https://", "tls://", "tcp://", "dns://")) and (
            kind == "upstream" or "://" in target
        ):
            raise ConfigError(f"invalid --mode {mode!r}: the target must be http(s)://HOST[:PORT]")
        return mode
    raise ConfigError(
        f"invalid --mode {mode!r}: use regular, reverse:http(s)://HOST[:PORT] "
        "or upstream:http://PROXY:PORT"
    )


@dataclass(frozen=True)
class RecorderConfig:
    """Everything the recorder needs, validated."""

    tape: Path
    http_listen: tuple[str, int] | None = ("127.0.0.1", 8080)
    mode: str = "regular"
    pg_listen: tuple[str, int] | None = None
    pg_upstream: tuple[str, int] | None = None
    pg_upstream_tls: str = "disable"
    max_body: int = 1024 * 1024
    max_result_rows: int = 1000
    flush_interval: float = 1.0
    policy: RedactionPolicy = field(default_factory=RedactionPolicy)
    confdir: Path | None = None  # mitmproxy's CA directory (default ~/.mitmproxy)
    allow_remote: bool = False
    quiet: bool = False

    def __post_init__(self) -> None:
        if self.http_listen is None and self.pg_listen is None:
            raise ConfigError("nothing to record: give --http and/or --pg (not --no-http alone)")
        if self.pg_listen is not None and self.pg_upstream is None:
            raise ConfigError("--pg needs --pg-upstream HOST:PORT (the real PostgreSQL server)")
        if self.pg_upstream_tls not in PG_UPSTREAM_TLS:
            raise ConfigError(f"--pg-upstream-tls must be one of {', '.join(PG_UPSTREAM_TLS)}")
        if self.http_listen is not None:
            validate_mode(self.mode)
            check_loopback(self.http_listen[0], self.allow_remote, "--http", "the recorder")
        if self.pg_listen is not None:
            check_loopback(self.pg_listen[0], self.allow_remote, "--pg", "the recorder")
        if self.max_body < 0 or self.max_result_rows < 0:
            raise ConfigError("--max-body and --max-result-rows must not be negative")
        if self.flush_interval <= 0:
            raise ConfigError("--flush-interval must be positive")
