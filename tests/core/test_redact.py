"""Redaction: secrets become stable keyed pseudonyms; everything else stays byte-identical."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from understudy.errors import ConfigError
from understudy.redact import Pseudonymizer, RedactionPolicy, Redactor, is_secret_name, load_key

KEY = b"k" * 32
R = Redactor(RedactionPolicy(), Pseudonymizer(KEY))
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"


def test_headers_redacted_and_identity_stable() -> None:
    headers = [
        ("Authorization", "Bearer sk_live_abc"),
        ("Accept", "application/json"),
        ("Cookie", "sid=s3cr3t; theme=dark"),
        ("X-Api-Key", "key-123"),
    ]
    out, identity = R.redact_headers(headers)
    text = json.dumps(out)
    assert "sk_live_abc" not in text and "s3cr3t" not in text and "key-123" not in text
    assert out[0][1].startswith("Bearer redacted:")
    assert out[1] == ("Accept", "application/json")
    assert out[2][1].startswith("sid=redacted:") and "theme=redacted:" in out[2][1]
    assert identity == R.token("sk_live_abc")  # the bearer token, not the scheme
    _, again = R.redact_headers([("authorization", "Bearer sk_live_abc")])
    _, other = R.redact_headers([("authorization", "Bearer sk_live_xyz")])
    assert again == identity and other != identity


def test_identity_header_order_follows_policy() -> None:
    policy = RedactionPolicy.build(identity_headers=["X-Tenant"])
    r = Redactor(policy, Pseudonymizer(KEY))
    out, identity = r.redact_headers([("Authorization", "Bearer a"), ("X-Tenant", "acme")])
    assert identity == r.token("acme")
    assert out[1][1] == r.token("acme")  # identity headers are always redacted


def test_set_cookie_keeps_attributes() -> None:
    out, _ = R.redact_headers([("Set-Cookie", "sid=abc; Path=/; HttpOnly")])
    assert out[0][1].startswith("sid=redacted:") and out[0][1].endswith("; Path=/; HttpOnly")


def test_query_redaction_keeps_order_and_other_keys() -> None:
    q = R.redact_query("b=2&access_token=tok&a=1&password=p%40ss&flag")
    assert q.startswith("b=2&access_token=redacted%3A")
    assert "&a=1&password=redacted%3A" in q and q.endswith("&flag")
    assert "tok" not in q.replace("token", "") and "p%40ss" not in q
    assert R.redact_query("page=1&sort=asc") == "page=1&sort=asc"


def test_json_body_redacted_at_any_depth() -> None:
    body = json.dumps(
        {
            "user": {"name": "ann", "password": "hunter2", "cards": [{"card_number": "4111"}]},
            "token": 123,
            "max_tokens": 5,
        }
    ).encode()
    out = R.redact_body(body, "application/json")
    assert b"hunter2" not in out and b"4111" not in out and b'"123"' not in out
    doc = json.loads(out)
    assert doc["user"]["name"] == "ann" and doc["max_tokens"] == 5
    assert doc["user"]["password"] == R.token("hunter2")


def test_untouched_body_is_byte_identical() -> None:
    body = b'{ "a" : 1,\n "b": [1, 2] }'
    assert R.redact_body(body, "application/json") is body
    assert R.redact_body(b"\x00\xff binary", "application/octet-stream") == b"\x00\xff binary"


def test_form_body_and_jwts() -> None:
    out = R.redact_body(b"user=ann&password=hunter2", "application/x-www-form-urlencoded")
    assert b"hunter2" not in out and out.startswith(b"user=ann&password=redacted")
    text = f"<p>token {JWT} here</p>".encode()
    out = R.redact_body(text, "text/html")
    assert JWT.encode() not in out and b"redacted:" in out
    hdrs, _ = R.redact_headers([("X-Debug", f"jwt={JWT}")])
    assert JWT not in hdrs[0][1]


@given(st.text())
def test_pseudonyms_are_stable_and_opaque(secret: str) -> None:
    t = R.token(secret)
    assert t == R.token(secret)
    assert t.startswith("redacted:") and len(t) == len("redacted:") + 16
    if len(secret) > 3:
        assert secret not in t[len("redacted:") :]


def test_secret_names() -> None:
    for name in ["password", "userPassword", "api-key", "client_secret", "cvv", "auth_token"]:
        assert is_secret_name(name), name
    for name in ["name", "max_tokens", "tokenizer", "id", "status"]:
        assert not is_secret_name(name), name


def test_key_file_created_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "cfg" / "key"
    key = load_key({"UNDERSTUDY_KEY_FILE": str(path)})
    assert len(key) == 32 and path.read_bytes() == key
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_key({"UNDERSTUDY_KEY_FILE": str(path)}) == key
    assert load_key({"UNDERSTUDY_KEY": "ab" * 16}) == b"\xab" * 16
    with pytest.raises(ConfigError, match="hex"):
        load_key({"UNDERSTUDY_KEY": "zz"})


def test_policy_summary_lists_names_only() -> None:
    s = RedactionPolicy.build(extra_headers=["X-Custom"], extra_json_keys=["pin"]).summary()
    assert "x-custom" in s["headers"] and "pin" in s["json_keys"]
    assert set(s) == {
        "method",
        "headers",
        "query_keys",
        "json_keys",
        "json_key_words",
        "identity_headers",
        "jwts",
    }
    assert json.loads(json.dumps(s)) == s
