"""The candidate's environment: every client library pointed at the replayer.

HTTP clients get the replayer's proxy (``HTTP(S)_PROXY`` in both cases, as curl only reads
the lower-case ``http_proxy``) and its mitmproxy CA as their only trust anchor (nothing real
is reached during a check, so the CA alone is the right bundle). ``NO_PROXY`` keeps the
loopback names a local helper may listen on, minus any host the world recorded HTTP for: a
world recorded against an API on 127.0.0.1 must still be served by the replayer.
PostgreSQL clients get libpq's variables and ``DATABASE_URL`` for the replayer's server.

Example::

    facts = world_facts(load_world("prod.world"))
    env = {**os.environ, **{k: v for k, v in overrides(endpoints, facts).items() if v}}
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from understudy.world import World

__all__ = [
    "CA_VARS",
    "LOOPBACK_NAMES",
    "PROXY_VARS",
    "Endpoints",
    "WorldFacts",
    "apply",
    "no_proxy",
    "overrides",
    "world_facts",
]

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")
CA_VARS = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS")
#: Removed from the candidate's environment: they would route around the replayer.
_DROPPED = ("ALL_PROXY", "all_proxy", "SSL_CERT_DIR")
_PG_DEFAULT = "postgres"


@dataclass(frozen=True)
class WorldFacts:
    """What the runner needs to know about a world before serving it."""

    hosts: tuple[str, ...]
    has_http: bool
    has_sql: bool
    pg_user: str = _PG_DEFAULT
    pg_database: str = _PG_DEFAULT


@dataclass(frozen=True)
class Endpoints:
    """Where the replayer child serves: the HTTP proxy, PostgreSQL (or None), the CA."""

    http: tuple[str, int]
    pg: tuple[str, int] | None
    ca_cert: Path
    seed: int
    artefacts: Path


def world_facts(world: World) -> WorldFacts:
    """Hosts the world answers for, whether it holds SQL, and the PostgreSQL user/database.

    The user and database are the most common ones production logged in as (world.json
    ``pg_sessions``, else the SQL tables' ``user``/``database`` columns when present), else
    ``postgres`` (the replayer accepts any).
    """
    hosts = sorted({str(r["host"]) for r in world.doc.get("routes") or [] if r.get("host")})
    table = world.table("http_exchanges")
    if "host" in table.column_names:
        hosts = sorted({*hosts, *(str(h) for h in table.column("host").unique().to_pylist())})
    calls = world.table("sql_calls")
    sessions = world.doc.get("pg_sessions")
    if isinstance(sessions, dict):  # worlds built since pg_sessions exists
        users, dbs = sessions.get("users") or {}, sessions.get("databases") or {}
        return WorldFacts(
            hosts=tuple(h for h in hosts if h),
            has_http=world.has_http,
            has_sql=world.has_sql,
            pg_user=next(iter(users), _PG_DEFAULT) if isinstance(users, dict) else _PG_DEFAULT,
            pg_database=next(iter(dbs), _PG_DEFAULT) if isinstance(dbs, dict) else _PG_DEFAULT,
        )
    return WorldFacts(
        hosts=tuple(h for h in hosts if h),
        has_http=world.has_http,
        has_sql=world.has_sql,
        pg_user=_most_common(calls.column("user").to_pylist())
        if "user" in calls.column_names
        else _PG_DEFAULT,
        pg_database=_most_common(calls.column("database").to_pylist())
        if "database" in calls.column_names
        else _PG_DEFAULT,
    )


def _most_common(values: Iterable[object]) -> str:
    """
    >>> _most_common(["app", None, "app", "ro"]), _most_common([])
    ('app', 'postgres')
    """
    counts = Counter(str(v) for v in values if v)
    return counts.most_common(1)[0][0] if counts else _PG_DEFAULT


def no_proxy(hosts: Iterable[str]) -> str:
    """Loopback names minus the hosts the world recorded.

    >>> no_proxy(["api.example.com"]), no_proxy(["127.0.0.1"]), no_proxy(LOOPBACK_NAMES)
    ('localhost,127.0.0.1,::1', 'localhost,::1', '')
    """
    recorded = {h.lower().strip("[]") for h in hosts}
    return ",".join(n for n in LOOPBACK_NAMES if n not in recorded)


def overrides(endpoints: Endpoints, facts: WorldFacts) -> dict[str, str | None]:
    """The variables to set (a value) or remove (None) in the candidate's environment.

    >>> e = Endpoints(("127.0.0.1", 8080), ("127.0.0.1", 6432), Path("/o/ca.pem"), 7, Path("/o"))
    >>> env = overrides(e, WorldFacts(("127.0.0.1",), True, True))
    >>> env["https_proxy"], env["NO_PROXY"], env["ALL_PROXY"]
    ('http://127.0.0.1:8080', 'localhost,::1', None)
    >>> env["DATABASE_URL"]
    'postgresql://postgres@127.0.0.1:6432/postgres'
    """
    host, port = endpoints.http
    proxy = f"http://{_url_host(host)}:{port}"
    out: dict[str, str | None] = dict.fromkeys(_DROPPED)
    out.update(dict.fromkeys(PROXY_VARS, proxy))
    exempt = no_proxy(facts.hosts)
    out.update(NO_PROXY=exempt, no_proxy=exempt)
    out.update(dict.fromkeys(CA_VARS, str(endpoints.ca_cert)))
    if endpoints.pg is not None:
        pg_host, pg_port = endpoints.pg
        user, db = facts.pg_user, facts.pg_database
        out.update(
            PGHOST=pg_host, PGPORT=str(pg_port), PGUSER=user, PGDATABASE=db,
            PGSSLMODE="disable",
            DATABASE_URL=f"postgresql://{user}@{_url_host(pg_host)}:{pg_port}/{db}",
        )  # fmt: skip
    out.update(UNDERSTUDY_CHECK="1", UNDERSTUDY_CHECK_DIR=str(endpoints.artefacts))
    return out


def apply(base: Mapping[str, str], changes: Mapping[str, str | None]) -> dict[str, str]:
    """``base`` with ``changes`` applied (None removes a variable).

    >>> apply({"A": "1", "B": "2"}, {"A": None, "C": "3"})
    {'B': '2', 'C': '3'}
    """
    env = {k: v for k, v in base.items() if k not in changes}
    env.update({k: v for k, v in changes.items() if v is not None})
    return env


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
