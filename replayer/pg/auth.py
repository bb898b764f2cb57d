"""Password authentication, both sides, without IO: SCRAM-SHA-256 (RFC 5802, RFC 7677), MD5.

The server side checks clients of the replay server (``--pg-password``); the client side
logs in to the shadow database of ``--pg-on-miss forward``. Both only turn messages into
messages; the connection state machines move them.

The SCRAM verifier (salted password, stored key, server key) is derived once per server with
4096 PBKDF2 iterations, as PostgreSQL stores it for a role; each exchange then costs a few
HMACs. Passwords are used as given (PostgreSQL applies SASLprep, which changes nothing for
ASCII passwords; non-ASCII ones are NFKC-normalised here, its main effect).

>>> v = ScramVerifier.from_password("secret", salt=b"0123456789abcdef")
>>> client = ScramClient("secret", nonce="cnonce")
>>> server = ScramServer(v, nonce="snonce")
>>> server_first = server.first(client.first())
>>> server_final = server.final(client.final(server_first))
>>> client.verify(server_final)
True
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import unicodedata
from dataclasses import dataclass
from typing import Final

from understudy.errors import PgProtocolError

__all__ = [
    "SCRAM_SHA_256",
    "AuthFailed",
    "ScramClient",
    "ScramServer",
    "ScramVerifier",
    "md5_password",
]

SCRAM_SHA_256: Final = "SCRAM-SHA-256"
ITERATIONS: Final = 4096
_GS2_HEADERS: Final = frozenset({"n,,", "y,,"})


class AuthFailed(Exception):
    """The client's proof (or password) is wrong: answer 28P01."""


def _prep(password: str) -> bytes:
    text = password if password.isascii() else unicodedata.normalize("NFKC", password)
    return text.encode("utf-8")


def _hmac(key: bytes, msg: bytes) -> bytes:
    return hmac.digest(key, msg, "sha256")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError) as exc:
        raise PgProtocolError(f"malformed SCRAM message: bad base64 ({exc})") from exc


def _attributes(text: str) -> dict[str, str]:
    """``a=1,b=2`` into a dict (values may hold ``=``; the key is one letter)."""
    out: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep or len(key) != 1:
            raise PgProtocolError(f"malformed SCRAM message: attribute {part[:20]!r}")
        out.setdefault(key, value)
    return out


def md5_password(password: str, user: str, salt: bytes) -> str:
    """What a client sends for MD5 authentication: ``md5`` + md5(md5(password+user)+salt).

    >>> md5_password("pw", "u", b"abcd")[:3]
    'md5'
    """
    inner = hashlib.md5(_prep(password) + user.encode("utf-8"), usedforsecurity=False)
    outer = hashlib.md5(inner.hexdigest().encode("ascii") + salt, usedforsecurity=False)
    return "md5" + outer.hexdigest()


@dataclass(frozen=True, slots=True)
class ScramVerifier:
    """What a server keeps of a password: salt, iterations, StoredKey and ServerKey."""

    salt: bytes
    iterations: int
    stored_key: bytes
    server_key: bytes

    @classmethod
    def from_password(
        cls, password: str, *, salt: bytes | None = None, iterations: int = ITERATIONS
    ) -> ScramVerifier:
        salt = salt if salt is not None else secrets.token_bytes(16)
        salted = hashlib.pbkdf2_hmac("sha256", _prep(password), salt, iterations)
        stored = hashlib.sha256(_hmac(salted, b"Client Key")).digest()
        return cls(salt, iterations, stored, _hmac(salted, b"Server Key"))


class ScramServer:
    """The server side of one SCRAM-SHA-256 exchange (no channel binding)."""

    __slots__ = ("_auth_prefix", "_client_first_bare", "_nonce", "_server_first", "verifier")

    def __init__(self, verifier: ScramVerifier, *, nonce: str | None = None) -> None:
        self.verifier = verifier
        self._nonce = nonce if nonce is not None else secrets.token_urlsafe(18)
        self._client_first_bare = ""
        self._server_first = ""
        self._auth_prefix = ""

    def first(self, client_first: bytes) -> bytes:
        """Answer the SASLInitialResponse data with the server-first-message."""
        text = client_first.decode("utf-8", "surrogateescape")
        parts = text.split(",", 2)
        if len(parts) != 3:
            raise PgProtocolError("malformed SCRAM message: no GS2 header")
        gs2 = f"{parts[0]},{parts[1]},"
        if parts[0].startswith("p="):
            raise PgProtocolError("SCRAM channel binding was requested but is not offered")
        if gs2 not in _GS2_HEADERS:
            raise PgProtocolError(f"malformed SCRAM message: GS2 header {gs2!r}")
        attrs = _attributes(parts[2])
        client_nonce = attrs.get("r")
        if not client_nonce or "m" in attrs:
            raise PgProtocolError("malformed SCRAM message: no client nonce")
        self._client_first_bare = parts[2]
        nonce = client_nonce + self._nonce
        v = self.verifier
        self._server_first = f"r={nonce},s={_b64(v.salt)},i={v.iterations}"
        self._auth_prefix = gs2
        return self._server_first.encode("ascii")

    def final(self, client_final: bytes) -> bytes:
        """Check the client-final-message; return the server-final-message (``v=...``).

        Raises :class:`AuthFailed` when the proof does not match the password.
        """
        if not self._server_first:
            raise PgProtocolError("SCRAM client-final-message before client-first-message")
        text = client_final.decode("utf-8", "surrogateescape")
        without_proof, sep, proof_part = text.rpartition(",p=")
        if not sep:
            raise PgProtocolError("malformed SCRAM message: no proof")
        attrs = _attributes(without_proof)
        expected_nonce = self._server_first.split(",", 1)[0][2:]
        if attrs.get("r") != expected_nonce:
            raise PgProtocolError("malformed SCRAM message: nonce mismatch")
        if _unb64(attrs.get("c", "")) != self._auth_prefix.encode("ascii"):
            raise PgProtocolError("malformed SCRAM message: channel binding data mismatch")
        proof = _unb64(proof_part)
        auth_message = ",".join((self._client_first_bare, self._server_first, without_proof))
        msg = auth_message.encode("utf-8", "surrogateescape")
        v = self.verifier
        signature = _hmac(v.stored_key, msg)
        if len(proof) != len(signature):
            raise AuthFailed("wrong proof length")
        client_key = bytes(a ^ b for a, b in zip(proof, signature, strict=True))
        if not hmac.compare_digest(hashlib.sha256(client_key).digest(), v.stored_key):
            raise AuthFailed("wrong password")
        return ("v=" + _b64(_hmac(v.server_key, msg))).encode("ascii")


class ScramClient:
    """The client side of one SCRAM-SHA-256 exchange (for the shadow database)."""

    __slots__ = ("_auth_message", "_client_first_bare", "_nonce", "_password", "_salted")

    def __init__(self, password: str, *, nonce: str | None = None) -> None:
        self._password = password
        self._nonce = nonce if nonce is not None else secrets.token_urlsafe(18)
        self._client_first_bare = f"n=,r={self._nonce}"
        self._auth_message = b""
        self._salted = b""

    def first(self) -> bytes:
        """The SASLInitialResponse data."""
        return ("n,," + self._client_first_bare).encode("ascii")

    def final(self, server_first: bytes) -> bytes:
        """The client-final-message answering ``server_first``."""
        text = server_first.decode("utf-8", "surrogateescape")
        attrs = _attributes(text)
        nonce = attrs.get("r", "")
        if not nonce.startswith(self._nonce) or "s" not in attrs or "i" not in attrs:
            raise PgProtocolError("malformed SCRAM server-first-message")
        try:
            iterations = int(attrs["i"])
        except ValueError as exc:
            raise PgProtocolError(f"malformed SCRAM iteration count {attrs['i']!r}") from exc
        salted = hashlib.pbkdf2_hmac(
            "sha256", _prep(self._password), _unb64(attrs["s"]), iterations
        )
        without_proof = f"c=biws,r={nonce}"
        auth = f"{self._client_first_bare},{text},{without_proof}".encode()
        client_key = _hmac(salted, b"Client Key")
        signature = _hmac(hashlib.sha256(client_key).digest(), auth)
        proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        self._auth_message = auth
        self._salted = salted
        return f"{without_proof},p={_b64(proof)}".encode("ascii")

    def verify(self, server_final: bytes) -> bool:
        """True when the server proved it knows the password too."""
        attrs = _attributes(server_final.decode("utf-8", "surrogateescape"))
        expected = _hmac(_hmac(self._salted, b"Server Key"), self._auth_message)
        return hmac.compare_digest(_unb64(attrs.get("v", "")), expected)
