"""The replayer's settings, validated once into a frozen dataclass before anything listens."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from replayer.http.forward import ForwardTarget
from replayer.http.parser import MAX_BODY
from understudy.errors import ConfigError
from understudy.listen import check_loopback

__all__ = ["DEFAULT_HTTP", "ReplayConfig", "check_loopback", "parse_mode"]

DEFAULT_HTTP = ("127.0.0.1", 8080)


def parse_mode(mode: str) -> ForwardTarget | None:
    """``regular`` -> None (proxy mode); ``reverse:URL`` -> the upstream it stands in for."""
    if mode == "regular":
        return None
    kind, sep, url = mode.partition(":")
    if kind == "reverse" and sep and url:
        return ForwardTarget.parse(url)
    raise ConfigError(f"invalid --mode {mode!r}: use regular or reverse:http(s)://HOST[:PORT]")


@dataclass(frozen=True)
class ReplayConfig:
    """Everything ``understudy replay`` needs, validated.

    ``http_listen`` None means ``--no-http``; ``http_explicit`` that ``--http`` was given (an
    HTTP listener then starts even for a world without HTTP traffic). ``pg_listen`` and
    ``pg_options`` are for the PostgreSQL replayer (``replayer.pg``).
    """

    world: Path
    http_listen: tuple[str, int] | None = DEFAULT_HTTP
    http_explicit: bool = False
    mode: str = "regular"
    on_miss: Literal["error", "forward"] = "error"
    latency: bool = True
    faults: bool = False
    limits: bool = True
    default_class: str | None = None
    seed: int | None = None
    session_tape: Path | None = None
    report: Path | None = None
    no_pg: bool = False
    pg_listen: tuple[str, int] | None = None
    pg_options: Mapping[str, Any] = field(default_factory=dict)
    allow_remote: bool = False
    confdir: Path | None = None
    identity_headers: tuple[str, ...] = ()
    redact_headers: tuple[str, ...] = ()
    redact_query: tuple[str, ...] = ()
    redact_json_keys: tuple[str, ...] = ()
    fault_timeout: float = 10.0
    header_timeout: float = 10.0
    max_body: int = MAX_BODY
    quiet: bool = False

    def __post_init__(self) -> None:
        target = parse_mode(self.mode)
        if self.on_miss not in ("error", "forward"):
            raise ConfigError("--on-miss must be error or forward")
        if self.http_listen is not None:
            check_loopback(self.http_listen[0], self.allow_remote, "--http", "the replayer")
        if self.pg_listen is not None:
            check_loopback(self.pg_listen[0], self.allow_remote, "--pg", "the replayer")
        if self.fault_timeout <= 0 or self.header_timeout <= 0:
            raise ConfigError("--fault-timeout and --header-timeout must be positive")
        if self.max_body <= 0:
            raise ConfigError("--max-body must be positive")
        if self.seed is not None and self.seed < 0:
            raise ConfigError("--seed must not be negative")
        if self.report is not None:
            parent = self.report.expanduser().parent
            if not parent.is_dir():
                raise ConfigError(f"--report {self.report}: directory {parent} does not exist")
        del target

    @property
    def target(self) -> ForwardTarget | None:
        """The upstream of reverse mode, None in proxy (regular) mode."""
        return parse_mode(self.mode)

    @property
    def proxy_mode(self) -> bool:
        return self.mode == "regular"
