"""Settings of the PostgreSQL replay server: declared once, validated once, then frozen.

``understudy replay`` (and ``python -m replayer.pg``) turn their options into one
:class:`PgReplaySettings` with :meth:`PgReplaySettings.from_options`, which raises
:class:`~understudy.errors.ConfigError` with an actionable message before anything listens.
Nothing deeper reads options.

>>> s = PgReplaySettings.from_options(listen="127.0.0.1:0", on_miss="forward:db:5432")
>>> s.forward_to, s.listen
(('db', 5432), ('127.0.0.1', 0))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from understudy.errors import ConfigError
from understudy.listen import is_loopback

__all__ = [
    "AUTH_METHODS",
    "DEFAULT_MAX_FRAME",
    "AuthMethod",
    "PgReplaySettings",
    "parse_hostport",
    "parse_on_miss",
]

#: Frames larger than this close the connection (PostgreSQL itself allows 1 GiB).
DEFAULT_MAX_FRAME: Final = 64 * 1024 * 1024
AuthMethod = Literal["scram-sha-256", "md5"]
AUTH_METHODS: Final = ("scram-sha-256", "md5")


def parse_hostport(text: str, what: str, default_port: int | None = None) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` for IPv6) into a pair; ConfigError naming ``what``.

    >>> parse_hostport("[::1]:6432", "--pg")
    ('::1', 6432)
    """
    host, sep, port_text = text.rpartition(":")
    if text.startswith("[") and text.endswith("]"):  # [v6] without a port
        host, sep, port_text = text, "", ""
    if not sep:
        if default_port is None:
            raise ConfigError(f"{what} {text!r} is not HOST:PORT; e.g. 127.0.0.1:6432")
        host, port_text = text, str(default_port)
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        port = int(port_text)
    except ValueError:
        raise ConfigError(f"{what} {text!r}: port {port_text!r} is not a number") from None
    if not host or not 0 <= port <= 65535:
        raise ConfigError(f"{what} {text!r} is not HOST:PORT with a port 0-65535")
    return host, port


def parse_on_miss(text: str) -> tuple[Literal["error", "forward"], tuple[str, int] | None]:
    """``error`` or ``forward:HOST:PORT`` (port 5432 when omitted).

    >>> parse_on_miss("forward:[::1]")
    ('forward', ('::1', 5432))
    """
    if text == "error":
        return "error", None
    if text.startswith("forward:"):
        return "forward", parse_hostport(text.removeprefix("forward:"), "--pg-on-miss", 5432)
    raise ConfigError(f"--pg-on-miss {text!r}: use 'error' or 'forward:HOST:PORT'")


@dataclass(frozen=True, slots=True)
class PgReplaySettings:
    """How the PostgreSQL replay server behaves.

    Parameters
    ----------
    listen:
        Address to bind; port 0 picks a free port (read it from the server handle).
    password:
        None accepts every client; otherwise clients authenticate with ``auth_method``.
    on_miss:
        ``error`` answers an unrecorded statement with SQLSTATE UN001; ``forward`` runs it
        on the shadow database ``forward_to`` (user and database from the client's startup
        packet, password ``forward_password``).
    latency, faults, seed:
        ``recorded`` samples each fingerprint's latency histogram; ``observed`` injects its
        recorded errors at their recorded rate; ``seed`` makes both reproducible.
    """

    listen: tuple[str, int] = ("127.0.0.1", 6432)
    password: str | None = None
    auth_method: AuthMethod = "scram-sha-256"
    on_miss: Literal["error", "forward"] = "error"
    forward_to: tuple[str, int] | None = None
    forward_password: str | None = None
    latency: Literal["recorded", "off"] = "recorded"
    faults: Literal["off", "observed"] = "off"
    seed: int = 0
    max_frame: int = DEFAULT_MAX_FRAME
    listen_any: bool = False

    def __post_init__(self) -> None:
        if (self.on_miss == "forward") != (self.forward_to is not None):
            raise ConfigError("--pg-on-miss forward needs a target: forward:HOST:PORT")
        if self.auth_method not in AUTH_METHODS:
            raise ConfigError(f"--pg-auth must be one of {', '.join(AUTH_METHODS)}")
        if self.max_frame < 1024:
            raise ConfigError(f"max frame {self.max_frame} is too small (at least 1024 bytes)")
        if not self.listen_any and not is_loopback(self.listen[0]):
            raise ConfigError(
                f"--pg {self.listen[0]}:{self.listen[1]} is not a loopback address; "
                "add --listen-any to serve the world to other machines"
            )

    @classmethod
    def from_options(
        cls,
        *,
        listen: str | tuple[str, int] = "127.0.0.1:6432",
        password: str | None = None,
        auth_method: str = "scram-sha-256",
        on_miss: str = "error",
        forward_password: str | None = None,
        latency: str = "recorded",
        faults: str = "off",
        seed: int = 0,
        max_frame: int = DEFAULT_MAX_FRAME,
        listen_any: bool = False,
    ) -> PgReplaySettings:
        """Validate command-line style options into settings (ConfigError when invalid)."""
        mode, forward_to = parse_on_miss(on_miss)
        if latency not in ("recorded", "off"):
            raise ConfigError(f"--latency {latency!r}: use 'recorded' or 'off'")
        if faults not in ("off", "observed"):
            raise ConfigError(f"--faults {faults!r}: use 'off' or 'observed'")
        if auth_method not in AUTH_METHODS:
            raise ConfigError(f"--pg-auth {auth_method!r}: use one of {', '.join(AUTH_METHODS)}")
        return cls(
            listen=parse_hostport(listen, "--pg") if isinstance(listen, str) else listen,
            password=password or None,
            auth_method=auth_method,  # type: ignore[arg-type]
            on_miss=mode,
            forward_to=forward_to,
            forward_password=forward_password,
            latency=latency,  # type: ignore[arg-type]
            faults=faults,  # type: ignore[arg-type]
            seed=seed,
            max_frame=max_frame,
            listen_any=listen_any,
        )

    def describe(self) -> dict[str, object]:
        """The settings for the session report (never the passwords)."""
        return {
            "listen": f"{self.listen[0]}:{self.listen[1]}",
            "auth": self.auth_method if self.password else "trust",
            "on_miss": "error"
            if self.forward_to is None
            else f"forward:{self.forward_to[0]}:{self.forward_to[1]}",
            "latency": self.latency,
            "faults": self.faults,
            "seed": self.seed,
        }
