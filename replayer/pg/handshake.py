"""The start of a connection, without IO: encryption requests, startup, authentication.

:class:`Handshake` takes the client's startup-phase messages and answers them: ``N`` to
SSLRequest and GSSENCRequest (the replay server speaks plain TCP), NegotiateProtocolVersion
for a 3.x client newer than 3.0 (or one sending ``_pq_`` options), a FATAL 0A000 for other
protocol versions, then trust, MD5 or SCRAM-SHA-256 authentication. When it is done,
:attr:`Handshake.startup` holds the accepted StartupMessage; :attr:`cancel` holds a
CancelRequest, which ends the connection; :attr:`fatal` an error that ends it too.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Final

from replayer.pg.auth import SCRAM_SHA_256, AuthFailed, ScramServer, ScramVerifier
from replayer.pg.auth import md5_password as md5_expected
from replayer.pg.state import REPORTED
from understudy.errors import PgProtocolError
from understudy.pgwire import (
    AuthenticationMD5Password,
    AuthenticationOk,
    AuthenticationResponse,
    AuthenticationSASL,
    AuthenticationSASLContinue,
    AuthenticationSASLFinal,
    BackendKeyData,
    CancelRequest,
    ErrorResponse,
    FrontendMessage,
    GSSENCRequest,
    GSSENCResponse,
    NegotiateProtocolVersion,
    ParameterStatus,
    PseudoCode,
    ReadyForQuery,
    SqlState,
    SSLRequest,
    SSLResponse,
    StartupMessage,
    TransactionStatus,
    encode,
    error_response,
)

__all__ = ["Handshake", "decode_error", "welcome"]

_SSL_NO: Final = encode(SSLResponse(accepted=False))
_GSS_NO: Final = encode(GSSENCResponse(accepted=False))


def welcome(settings: Mapping[str, str], process_id: int, secret_key: bytes) -> bytes:
    """What follows a successful authentication: AuthenticationOk, the ParameterStatus set,
    BackendKeyData and the first ReadyForQuery."""
    return b"".join(
        (
            encode(AuthenticationOk()),
            *(encode(ParameterStatus(n, settings[n])) for n in REPORTED),
            encode(BackendKeyData(process_id, secret_key)),
            encode(ReadyForQuery(TransactionStatus.IDLE)),
        )
    )


def decode_error(code: bytes, payload: bytes, exc: PgProtocolError) -> ErrorResponse:
    """FATAL for an undecodable message: 0A000 for a protocol version we do not speak."""
    if code == PseudoCode.STARTUP and len(payload) >= 4:
        major, minor = payload[0] << 8 | payload[1], payload[2] << 8 | payload[3]
        if major not in (3, 1234):
            return _fatal(
                SqlState.FEATURE_NOT_SUPPORTED,
                f"unsupported frontend protocol {major}.{minor}: server supports 3.0 to 3.0",
            )
    return _fatal(SqlState.PROTOCOL_VIOLATION, str(exc))


def _fatal(state: str, message: str) -> ErrorResponse:
    return error_response(state, message, severity="FATAL")


class Handshake:
    """Startup and authentication of one connection.

    ``password`` None accepts everyone (trust). ``verifier`` is the SCRAM verifier derived
    once per server from the password; ``method`` is ``scram-sha-256`` or ``md5``.
    """

    __slots__ = (
        "_md5_salt",
        "_method",
        "_password",
        "_scram",
        "_verifier",
        "cancel",
        "fatal",
        "startup",
        "waiting_password",
    )

    def __init__(
        self,
        password: str | None = None,
        method: str = "scram-sha-256",
        verifier: ScramVerifier | None = None,
    ) -> None:
        self._password = password
        self._method = method
        self._verifier = verifier
        self._scram: ScramServer | None = None
        self._md5_salt = b""
        self.startup: StartupMessage | None = None
        self.cancel: CancelRequest | None = None
        self.fatal: ErrorResponse | None = None
        self.waiting_password = False

    @property
    def done(self) -> bool:
        """True once the client is authenticated (``startup`` is set and no password is due)."""
        return self.startup is not None and not self.waiting_password

    def receive(self, msg: FrontendMessage) -> bytes:
        """Handle one startup-phase message; return the bytes to send."""
        match msg:
            case SSLRequest():
                return _SSL_NO
            case GSSENCRequest():
                return _GSS_NO
            case CancelRequest():
                self.cancel = msg
                return b""
            case StartupMessage() if self.startup is None:
                return self._startup(msg)
            case AuthenticationResponse() if self.waiting_password:
                return self._password_message(msg)
            case _:
                self.fatal = _fatal(
                    SqlState.PROTOCOL_VIOLATION, f"unexpected {type(msg).__name__} during startup"
                )
                return b""

    def _startup(self, msg: StartupMessage) -> bytes:
        if msg.major != 3:
            self.fatal = _fatal(
                SqlState.FEATURE_NOT_SUPPORTED,
                f"unsupported frontend protocol {msg.major}.{msg.minor}: "
                "server supports 3.0 to 3.0",
            )
            return b""
        user = msg.parameters.get("user")
        if not user:
            self.fatal = _fatal(
                SqlState.INVALID_AUTHORIZATION_SPECIFICATION,
                "no PostgreSQL user name specified in startup packet",
            )
            return b""
        self.startup = msg
        out = b""
        options = tuple(k for k in msg.parameters if k.startswith("_pq_."))
        if msg.minor > 0 or options:
            out = encode(NegotiateProtocolVersion(0, options))
        if self._password is None:
            return out
        self.waiting_password = True
        if self._method == "md5":
            self._md5_salt = secrets.token_bytes(4)
            return out + encode(AuthenticationMD5Password(self._md5_salt))
        return out + encode(AuthenticationSASL((SCRAM_SHA_256,)))

    def _password_message(self, msg: AuthenticationResponse) -> bytes:
        assert self.startup is not None and self._password is not None
        user = self.startup.parameters.get("user", "")
        wrong = _fatal(
            SqlState.INVALID_PASSWORD, f'password authentication failed for user "{user}"'
        )
        try:
            if self._method == "md5":
                if msg.password() != md5_expected(self._password, user, self._md5_salt):
                    self.fatal = wrong
                    return b""
                self.waiting_password = False
                return b""
            if self._scram is None:
                mechanism, data = msg.sasl_initial_response()
                if mechanism != SCRAM_SHA_256 or data is None:
                    self.fatal = _fatal(
                        SqlState.PROTOCOL_VIOLATION, f"SASL mechanism {mechanism!r} is not offered"
                    )
                    return b""
                assert self._verifier is not None
                self._scram = ScramServer(self._verifier)
                return encode(AuthenticationSASLContinue(self._scram.first(data)))
            final = self._scram.final(msg.sasl_response())
        except AuthFailed:
            self.fatal = wrong
            return b""
        except PgProtocolError as exc:
            self.fatal = _fatal(SqlState.PROTOCOL_VIOLATION, str(exc))
            return b""
        self.waiting_password = False
        return encode(AuthenticationSASLFinal(final))
