"""The replayer's lean paths serve exactly what the full paths serve.

- The reverse server's fast lane: a repeated request whose answer can no longer change is
  sent the bytes it got before, without the behaviour core; the session report must be the
  one a replayer without the fast lane (it is off while a session tape is written) reports.
- ``Session.note_instant`` counts what ``Session.note`` counts, latency thinning included.
- The proxy-mode replayer loads mitmproxy without three addons; a config.yaml that relies
  on one is refused, and ``mitmproxy.addons`` stays whole for whoever needs it.
"""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest
from http_worlds import HOST, auth, env

from replayer.core.types import Decision, RequestFacts, StoredResponse
from replayer.session.log import Session

REVERSE = f"reverse:https://{HOST}"


def _request(method: str, path: str, headers: dict[str, str] | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _read_response(sock: socket.socket, buf: bytearray) -> bytes:
    """One whole response (Content-Length framed) from ``sock``; leftovers stay in ``buf``."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        assert chunk, "connection closed before a response"
        buf += chunk
    end = buf.index(b"\r\n\r\n") + 4
    length = 0
    for line in bytes(buf[:end]).decode("latin-1").split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.lower() == "content-length":
            length = int(value)
    while len(buf) < end + length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed inside a body"
        buf += chunk
    whole = bytes(buf[: end + length])
    del buf[: end + length]
    return whole


#: (request bytes, how often): exact (own sequence), route answer with a carried parameter,
#: an unknown client (default class), a refusal, a miss; each over one keep-alive connection.
SCRIPT = [
    (_request("GET", "/api/items/2", auth("pro-key-1")), 30),
    (_request("GET", "/api/items/314", auth("free-key-1")), 20),
    (_request("GET", "/api/items/2"), 10),
    (_request("GET", "/api/admin/stats", auth("free-key-1")), 5),
    (_request("GET", "/api/nowhere"), 5),
]


def _drive(port: int) -> list[list[bytes]]:
    answers = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        buf = bytearray()
        for raw, times in SCRIPT:
            got = []
            for _ in range(times):
                sock.sendall(raw)
                got.append(_read_response(sock, buf))
            answers.append(got)
    return answers


def test_fast_lane_serves_and_reports_what_the_full_path_does(
    world_dir, start_replayer, tmp_path
) -> None:
    lean = start_replayer(world_dir, "--mode", REVERSE, "--latency", "off")
    full = start_replayer(world_dir, "--mode", REVERSE, "--latency", "off",
                          "--session-tape", str(tmp_path / "session.tape"))  # fmt: skip
    lean_answers, full_answers = _drive(lean.port), _drive(full.port)
    assert lean_answers == full_answers
    for got in lean_answers:
        assert len(set(got)) == 1  # the answer no longer changes: the same bytes every time
    exact, route, unknown, refused, miss = (got[0] for got in lean_answers)
    assert exact.startswith(b"HTTP/1.1 200") and exact.endswith(b'"name": "item 2", "tags": ["x"]}')
    assert route.startswith(b"HTTP/1.1 200") and b'"id":314' in route
    assert unknown.startswith(b"HTTP/1.1 200")
    assert refused.startswith(b"HTTP/1.1 403")
    assert miss.startswith(b"HTTP/1.1 599") and b"x-understudy-miss: 1" in miss.lower()
    a, b = lean.stop(), full.stop()
    for part in ("totals", "routes", "misses", "refusals", "unknown_identities"):
        assert a[part] == b[part], part
    assert a["totals"]["requests"] == sum(times for _, times in SCRIPT)
    assert a["totals"]["exact"] == 40 and a["totals"]["route"] == 20
    assert {u["identity"]: u["count"] for u in a["unknown_identities"]} == {None: 15}


def _decision(known: bool) -> Decision:
    facts = RequestFacts(HOST, "GET", "/a", "", "", None if not known else "id1", "free",
                         known, "/a")  # fmt: skip
    return Decision("exact", StoredResponse(200, (), b"{}"), 0.0, facts)


@pytest.mark.parametrize("known", [False, True])
def test_note_instant_counts_what_note_counts(known: bool) -> None:
    n = 250_001  # past two thinnings of the latency samples (every 100,000 kept)
    decision = _decision(known)
    full, lean = Session(), Session()
    for _ in range(n):
        full.note(None, decision, 1.0, 1.0)  # type: ignore[arg-type]
    lean.note(None, decision, 1.0, 1.0)  # type: ignore[arg-type]
    inst = lean.instant(decision)
    assert lean.instant(_decision(known)) is inst  # one counter per tally and identity
    for _ in range(n - 1):
        lean.note_instant(inst)
    assert lean.counts == full.counts and lean.requests == n
    assert lean.latencies == full.latencies and lean.strides == full.strides
    assert lean.seen == full.seen
    assert lean.unknown == full.unknown and lean.unknown_class == full.unknown_class


def test_proxy_refuses_a_config_that_needs_a_left_out_addon(
    world_dir, start_replayer, tmp_path
) -> None:
    confdir = tmp_path / "mitm"
    confdir.mkdir(mode=0o700)
    (confdir / "config.yaml").write_text("proxyauth: any\n")
    with pytest.raises(RuntimeError) as err:
        start_replayer(world_dir, confdir=confdir)
    assert "proxyauth" in str(err.value) and "Traceback" not in str(err.value)


def test_mitmproxy_addons_stay_whole_after_the_lean_import() -> None:
    code = (
        "import sys, replayer.mitm\n"
        "assert 'flask' not in sys.modules and 'ldap3' not in sys.modules\n"
        "from mitmproxy.addons import core, termlog\n"
        "from mitmproxy import addons\n"
        "names = {type(a).__name__ for a in addons.default_addons()}\n"
        "assert {'Onboarding', 'ProxyAuth', 'MapLocal', 'Core'} <= names, names\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env(), timeout=120)  # fmt: skip
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
