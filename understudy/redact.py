"""Redaction at capture: secrets become keyed pseudonyms before any byte reaches disk.

A redacted value is replaced by ``redacted:<16 hex>``, the first 64 bits of
HMAC-SHA256(key, value). Equal secrets stay equal (so analysis can group clients and the
replayer can match requests) but cannot be recovered without the key. The key lives outside
the tape: in the file named by ``UNDERSTUDY_KEY_FILE`` (default
``~/.config/understudy/key``, created 0600 on first use) or hex in ``UNDERSTUDY_KEY``. It is
never logged and never written into a tape, world or report.

The same :class:`Redactor` is applied by the recorder to what it captures and by the replayer
to what candidates send, so redacted fields still match at replay.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qsl, quote_plus

from understudy.errors import ConfigError

__all__ = [
    "DEFAULT_HEADERS",
    "DEFAULT_IDENTITY_HEADERS",
    "DEFAULT_JSON_KEYS",
    "DEFAULT_QUERY_KEYS",
    "PSEUDONYM_PREFIX",
    "Pseudonymizer",
    "RedactionPolicy",
    "Redactor",
    "is_secret_name",
    "load_key",
]

PSEUDONYM_PREFIX: Final = "redacted:"

DEFAULT_HEADERS: Final = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "api-key",
        "x-auth-token",
        "x-access-token",
        "x-csrf-token",
        "x-amz-security-token",
    }
)
DEFAULT_QUERY_KEYS: Final = frozenset(
    {
        "api_key",
        "apikey",
        "access_token",
        "refresh_token",
        "id_token",
        "token",
        "password",
        "passwd",
        "client_secret",
        "secret",
        "code",
        "key",
        "signature",
        "sig",
        "x-amz-signature",
        "x-amz-credential",
        "x-amz-security-token",
    }
)
DEFAULT_JSON_KEYS: Final = frozenset(
    {
        "password",
        "passwd",
        "secret",
        "token",
        "api_key",
        "apikey",
        "access_token",
        "refresh_token",
        "id_token",
        "client_secret",
        "card_number",
        "cardnumber",
        "cvv",
        "cvc",
        "ssn",
        "private_key",
        "authorization",
    }
)
DEFAULT_IDENTITY_HEADERS: Final = ("authorization", "x-api-key", "api-key", "proxy-authorization")

#: Name parts that mark a field as secret wherever they appear as a whole word of the name.
_SECRET_WORDS: Final = frozenset(
    {"password", "passwd", "pwd", "secret", "token", "apikey", "cvv", "cvc", "ssn", "credential"}
)
_SECRET_PHRASES: Final = ("api_key", "card_number", "private_key", "access_key", "secret_key")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_JWT = re.compile(rb"eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_BOUNDARY: Final = re.compile(r'boundary=("[^"]+"|[^;\s]+)', re.I)
_DISPOSITION_NAME: Final = re.compile(rb'content-disposition:[^\r\n]*?\bname="([^"]*)"', re.I)
_PART_TYPE: Final = re.compile(rb"content-type:\s*([^\r\n;]+)", re.I)
_AUTH_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9_-]*)\s+(\S.*)$")


@lru_cache(maxsize=4096)
def _normalize_name(name: str) -> str:
    return _CAMEL.sub("_", name).lower().replace("-", "_").strip()


def is_secret_name(name: str, extra: Iterable[str] = ()) -> bool:
    """Whether a field, column or key called ``name`` holds a secret.

    >>> is_secret_name("password_hash"), is_secret_name("accessToken"), is_secret_name("max_tokens")
    (True, True, False)
    """
    if _is_default_secret(name):
        return True
    norm = _normalize_name(name)
    return any(norm == _normalize_name(e) for e in extra)


@lru_cache(maxsize=4096)
def _is_default_secret(name: str) -> bool:
    norm = _normalize_name(name)
    if norm in DEFAULT_JSON_KEYS or any(p in norm for p in _SECRET_PHRASES):
        return True
    return any(part in _SECRET_WORDS for part in norm.split("_"))


def load_key(env: dict[str, str] | None = None) -> bytes:
    """Return the HMAC key: ``UNDERSTUDY_KEY`` (hex), else the key file, created 0600 if absent."""
    env = dict(os.environ) if env is None else env
    if env.get("UNDERSTUDY_KEY"):
        try:
            key = bytes.fromhex(env["UNDERSTUDY_KEY"])
        except ValueError:
            raise ConfigError("UNDERSTUDY_KEY must be hex (e.g. `openssl rand -hex 32`)") from None
        if len(key) < 16:
            raise ConfigError("UNDERSTUDY_KEY must hold at least 16 bytes (32 hex digits)")
        return key
    path = Path(
        env.get("UNDERSTUDY_KEY_FILE") or Path.home() / ".config" / "understudy" / "key"
    ).expanduser()
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise ConfigError(f"cannot read key file {path}: {exc.strerror}") from exc
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes()  # another process created it first
    except OSError as exc:
        raise ConfigError(f"cannot create key file {path}: {exc.strerror}") from exc
    key = secrets.token_bytes(32)
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    return key


@dataclass(frozen=True)
class Pseudonymizer:
    """Keyed, truncated HMAC-SHA256 pseudonyms."""

    key: bytes = field(repr=False)

    def token(self, value: str | bytes) -> str:
        """``redacted:`` + 16 hex digits; stable for a key, irreversible without it."""
        data = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value
        digest = hmac.new(self.key, data, hashlib.sha256).hexdigest()[:16]
        return PSEUDONYM_PREFIX + digest


@dataclass(frozen=True)
class RedactionPolicy:
    """What to redact. Names are matched case-insensitively."""

    headers: frozenset[str] = DEFAULT_HEADERS
    query_keys: frozenset[str] = DEFAULT_QUERY_KEYS
    json_keys: frozenset[str] = DEFAULT_JSON_KEYS
    identity_headers: tuple[str, ...] = DEFAULT_IDENTITY_HEADERS
    redact_jwts: bool = True

    @classmethod
    def build(
        cls,
        *,
        extra_headers: Sequence[str] = (),
        extra_query_keys: Sequence[str] = (),
        extra_json_keys: Sequence[str] = (),
        identity_headers: Sequence[str] = (),
    ) -> RedactionPolicy:
        """Defaults plus the user's additions; identity headers are always redacted too."""
        ident = tuple(h.lower() for h in identity_headers) or DEFAULT_IDENTITY_HEADERS
        return cls(
            headers=DEFAULT_HEADERS | {h.lower() for h in extra_headers} | set(ident),
            query_keys=DEFAULT_QUERY_KEYS | {k.lower() for k in extra_query_keys},
            json_keys=DEFAULT_JSON_KEYS | {_normalize_name(k) for k in extra_json_keys},
            identity_headers=ident,
        )

    @classmethod
    def from_summary(cls, summary: Mapping[str, Any]) -> RedactionPolicy:
        """The policy :meth:`summary` describes (a missing entry keeps its default).

        >>> p = RedactionPolicy.build(extra_json_keys=["pin"], identity_headers=["X-User"])
        >>> RedactionPolicy.from_summary(p.summary()) == p
        True
        """
        base = cls()
        return cls(
            headers=frozenset(summary.get("headers", base.headers)),
            query_keys=frozenset(summary.get("query_keys", base.query_keys)),
            json_keys=frozenset(summary.get("json_keys", base.json_keys)),
            identity_headers=tuple(summary.get("identity_headers", base.identity_headers)),
            redact_jwts=bool(summary.get("jwts", base.redact_jwts)),
        )

    def summary(self) -> dict[str, Any]:
        """What ``tape.json`` records about redaction: names only, never the key."""
        return {
            "method": "hmac-sha256, truncated to 64 bits, prefix 'redacted:'",
            "headers": sorted(self.headers),
            "query_keys": sorted(self.query_keys),
            "json_keys": sorted(self.json_keys),
            "json_key_words": sorted(_SECRET_WORDS),
            "identity_headers": list(self.identity_headers),
            "jwts": self.redact_jwts,
        }


Headers = list[tuple[str, str]]


@dataclass(frozen=True)
class Redactor:
    """Apply a :class:`RedactionPolicy` with a :class:`Pseudonymizer`. Pure, thread-safe."""

    policy: RedactionPolicy
    pseudonymizer: Pseudonymizer

    def token(self, value: str | bytes) -> str:
        return self.pseudonymizer.token(value)

    # -- headers ----------------------------------------------------------------------------
    def _credential(self, name: str, value: str) -> str:
        """The secret part of a header value: the token after an auth scheme, else all."""
        if name in ("authorization", "proxy-authorization"):
            m = _AUTH_SCHEME.match(value)
            if m:
                return m.group(2)
        return value

    def redact_header_value(self, name: str, value: str) -> str:
        lname = name.lower()
        if lname in ("authorization", "proxy-authorization"):
            m = _AUTH_SCHEME.match(value)
            if m:
                return f"{m.group(1)} {self.token(m.group(2))}"
            return self.token(value)
        if lname in ("cookie", "set-cookie"):
            return self._redact_cookie(lname, value)
        return self.token(value)

    def _redact_cookie(self, lname: str, value: str) -> str:
        """Keep cookie names (and Set-Cookie attributes); pseudonymise the values."""
        sep = "; "
        parts = [p.strip() for p in value.split(";")]
        out = []
        for i, part in enumerate(parts):
            if lname == "set-cookie" and i > 0:
                out.append(part)  # attributes: Path, Expires, HttpOnly...
                continue
            k, eq, v = part.partition("=")
            out.append(f"{k}={self.token(v)}" if eq else self.token(part))
        return sep.join(out)

    def redact_headers(self, headers: Iterable[tuple[str, str]]) -> tuple[Headers, str | None]:
        """Redact secret headers; return (headers, identity pseudonym or None)."""
        out: Headers = []
        found: dict[str, str] = {}
        for name, value in headers:
            lname = name.lower()
            if lname in self.policy.identity_headers and lname not in found:
                found[lname] = self.token(self._credential(lname, value))
            if lname in self.policy.headers:
                value = self.redact_header_value(lname, value)
            elif self.policy.redact_jwts and "eyJ" in value:
                value = self.redact_text(value)
            out.append((name, value))
        identity = next((found[h] for h in self.policy.identity_headers if h in found), None)
        return out, identity

    # -- query strings and forms -------------------------------------------------------------
    def redact_query(self, query: str) -> str:
        """Pseudonymise the values of secret keys in a query string, keeping order and the rest.

        >>> r = Redactor(RedactionPolicy(), Pseudonymizer(b"k" * 32))
        >>> r.redact_query("page=2&api_key=s3cret").startswith("page=2&api_key=redacted%3A")
        True
        """
        if not query:
            return query
        pieces = query.split("&")
        changed = False
        for i, piece in enumerate(pieces):
            key, eq, _ = piece.partition("=")
            try:
                pairs = parse_qsl(piece, keep_blank_values=True)
                name = pairs[0][0] if pairs else key
                value = pairs[0][1] if pairs else ""
            except ValueError:
                name, value = key, piece[len(key) + 1 :]
            if eq and (name.lower() in self.policy.query_keys or is_secret_name(name)):
                pieces[i] = f"{key}={quote_plus(self.token(value))}"
                changed = True
            elif self.policy.redact_jwts and "eyJ" in piece:
                pieces[i] = self.redact_text(piece)
                changed = True
        return "&".join(pieces) if changed else query

    # -- bodies ------------------------------------------------------------------------------
    def _secret_key(self, key: str) -> bool:
        return _normalize_name(key) in self.policy.json_keys or is_secret_name(key)

    def _redact_json(self, node: Any) -> tuple[Any, bool]:
        if isinstance(node, dict):
            changed = False
            out: dict[str, Any] = {}
            for k, v in node.items():
                if self._secret_key(str(k)) and v is not None and not isinstance(v, dict | list):
                    out[k] = self.token(json.dumps(v) if not isinstance(v, str) else v)
                    changed = True
                else:
                    out[k], c = self._redact_json(v)
                    changed |= c
            return out, changed
        if isinstance(node, list):
            items = [self._redact_json(v) for v in node]
            return [v for v, _ in items], any(c for _, c in items)
        if (
            isinstance(node, str)
            and self.policy.redact_jwts
            and _JWT.search(node.encode("utf-8", "surrogatepass"))
        ):
            return self.redact_text(node), True
        return node, False

    def redact_body(self, body: bytes, content_type: str | None) -> bytes:
        """Redact a decoded body: JSON keys at any depth, form fields, and JWTs anywhere.

        The body is returned byte-identical when nothing in it is secret.
        """
        if not body:
            return body
        ctype = (content_type or "").lower()
        stripped = body.lstrip()[:1]
        if "json" in ctype or (stripped in (b"{", b"[") and "form" not in ctype):
            try:
                doc = json.loads(body)
            except (ValueError, RecursionError):
                doc = None
            else:
                red, changed = self._redact_json(doc)
                if changed:
                    dumped = json.dumps(red, separators=(",", ":"), ensure_ascii=False)
                    try:
                        return dumped.encode()
                    except UnicodeEncodeError:  # lone surrogates ("\\ud800"): keep them escaped
                        return json.dumps(red, separators=(",", ":")).encode()
                return body
        if "multipart/form-data" in ctype:
            red_parts = self._redact_multipart(body, content_type or "")
            if red_parts is not None:
                body = red_parts
        if "x-www-form-urlencoded" in ctype:
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                text = None
            if text is not None:
                red_text = self.redact_query(text)
                if red_text != text:
                    return red_text.encode()
        if self.policy.redact_jwts:
            return _JWT.sub(lambda m: self.token(m.group(0)).encode(), body)
        return body

    def _redact_multipart(self, body: bytes, content_type: str) -> bytes | None:
        r"""A multipart/form-data body with secret-named fields pseudonymised (parts with a
        ``filename`` are files and only get their own body redaction); None if unchanged.

        >>> r = Redactor(RedactionPolicy(), Pseudonymizer(b"k" * 32))
        >>> body = (b'--XY\r\nContent-Disposition: form-data; name="password"\r\n\r\n'
        ...         b'hunter2\r\n--XY--\r\n')
        >>> out = r._redact_multipart(body, "multipart/form-data; boundary=XY")
        >>> b"hunter2" in out, b"redacted:" in out
        (False, True)
        """
        m = _BOUNDARY.search(content_type)
        if m is None:
            return None
        delimiter = b"--" + m.group(1).strip('"').encode("latin-1", "replace")
        chunks = body.split(delimiter)
        changed = False
        for i, chunk in enumerate(chunks[1:], 1):
            head, sep, content = chunk.partition(b"\r\n\r\n")
            if not sep:
                continue
            disposition = _DISPOSITION_NAME.search(head)
            if disposition is None:
                continue
            name = disposition.group(1).decode("utf-8", "replace")
            value, crlf = (content[:-2], b"\r\n") if content.endswith(b"\r\n") else (content, b"")
            if b"filename=" not in head and self._secret_key(name):
                new = self.token(value).encode()
            else:
                part_type = _PART_TYPE.search(head)
                new = self.redact_body(
                    value, part_type.group(1).decode("latin-1") if part_type else None
                )
            if new != value:
                chunks[i] = head + sep + new + crlf
                changed = True
        return delimiter.join(chunks) if changed else None

    def redact_text(self, text: str) -> str:
        """Replace JWTs inside free text by pseudonyms."""
        data = text.encode("utf-8", "surrogateescape")
        return _JWT.sub(lambda m: self.token(m.group(0)).encode(), data).decode(
            "utf-8", "surrogateescape"
        )
