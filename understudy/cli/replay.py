"""``understudy replay``: serve a world to candidate code over HTTP(S) (and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import click

from understudy.cli.common import CONTEXT_SETTINGS, BadInput, print_table
from understudy.errors import ConfigError, TapeWriteError, UnderstudyError, WorldError
from understudy.sizes import parse_duration, parse_hostport, parse_size

__all__ = ["replay"]


@click.command(context_settings=CONTEXT_SETTINGS)
@click.option(
    "--world",
    required=True,
    type=click.Path(path_type=Path),
    metavar="DIR",
    help="World bundle to serve (built by `understudy analyze`).",
)
@click.option(
    "--http",
    "http",
    default=None,
    metavar="HOST:PORT",
    help="Where HTTP is served [127.0.0.1:8080]. Giving it serves HTTP even for a "
    "world without HTTP traffic.",
)
@click.option(
    "--mode",
    default="regular",
    show_default=True,
    metavar="regular|reverse:URL",
    help="regular: an HTTP(S) proxy that answers for every host in the world; "
    "reverse:URL: the candidate's base URL points here and we stand in for URL.",
)
@click.option(
    "--on-miss",
    type=click.Choice(["error", "forward"]),
    default="error",
    show_default=True,
    help="A request the world cannot answer: a 599 naming the nearest recorded "
    "requests, or forwarded to the real upstream (and taped).",
)
@click.option(
    "--latency",
    type=click.Choice(["recorded", "off"]),
    default="recorded",
    show_default=True,
    help="Delay answers by latencies drawn from the recording.",
)
@click.option(
    "--faults",
    type=click.Choice(["off", "observed"]),
    default="off",
    show_default=True,
    help="Inject each route's observed 5xx, timeouts and resets at their rate.",
)
@click.option(
    "--limits",
    type=click.Choice(["on", "off"]),
    default="on",
    show_default=True,
    help="Enforce the rate limits the world measured.",
)
@click.option(
    "--default-class",
    metavar="NAME",
    help="Identity class of unknown clients [the most common class].",
)
@click.option(
    "--seed",
    type=int,
    metavar="N",
    help="Seed of latency and fault draws; the same seed replays the same session.",
)
@click.option(
    "--session-tape",
    type=click.Path(path_type=Path),
    metavar="DIR",
    help="Tape everything the candidate sent and received (tape format).",
)
@click.option(
    "--report",
    type=click.Path(path_type=Path),
    metavar="FILE",
    help="Write the session report here as JSON (see docs/session-report.md).",
)
@click.option("--no-http", is_flag=True, help="Do not serve HTTP.")
@click.option("--no-pg", is_flag=True, help="Do not serve PostgreSQL.")
@click.option(
    "--pg",
    "pg",
    metavar="HOST:PORT",
    help="Serve PostgreSQL here (when this build has the PostgreSQL replayer).",
)
@click.option(
    "--pg-password",
    metavar="SECRET",
    envvar="UNDERSTUDY_PG_PASSWORD",
    help="Require this password from PostgreSQL clients (env UNDERSTUDY_PG_PASSWORD).",
)
@click.option(
    "--pg-auth",
    type=click.Choice(["scram-sha-256", "md5"]),
    default="scram-sha-256",
    show_default=True,
    help="How --pg-password is checked.",
)
@click.option(
    "--pg-on-miss",
    default="error",
    show_default=True,
    metavar="error|forward:HOST:PORT",
    help="Unrecorded statements: SQLSTATE UN001, or run them on a shadow database.",
)
@click.option("--listen-any", is_flag=True, help="Allow listening on non-loopback addresses.")
@click.option(
    "--confdir",
    type=click.Path(path_type=Path),
    metavar="DIR",
    help="mitmproxy's directory: CA certificate and config.yaml [~/.mitmproxy].",
)
@click.option(
    "--identity-header",
    multiple=True,
    metavar="NAME",
    help="Header whose pseudonym identifies the client, as at record time "
    "(repeatable; default: the world's, else Authorization, X-Api-Key...).",
)
@click.option(
    "--redact-header",
    multiple=True,
    metavar="NAME",
    help="Extra header redacted at record time (repeatable).",
)
@click.option(
    "--redact-query",
    multiple=True,
    metavar="NAME",
    help="Extra query-string key redacted at record time (repeatable).",
)
@click.option(
    "--redact-json-key",
    multiple=True,
    metavar="NAME",
    help="Extra JSON or form key redacted at record time (repeatable).",
)
@click.option(
    "--fault-timeout",
    default="10s",
    show_default=True,
    metavar="SECONDS",
    help="How long an injected timeout holds the connection before closing it.",
)
@click.option(
    "--header-timeout",
    default="10s",
    show_default=True,
    metavar="SECONDS",
    help="Reverse mode: a client must send a request head within this time (slow clients "
    "are cut off; a body gets 30 s, an idle connection 60 s).",
)
@click.option(
    "--max-body",
    default="16MiB",
    show_default=True,
    metavar="BYTES",
    help="Largest request body accepted (413 beyond).",
)
@click.option("--quiet", "-q", is_flag=True, help="Only print errors and the summary.")
@click.option("--ready-file", type=click.Path(path_type=Path), hidden=True)  # understudy check
def replay(
    world: Path,
    http: str | None,
    mode: str,
    on_miss: str,
    latency: str,
    faults: str,
    limits: str,
    default_class: str | None,
    seed: int | None,
    session_tape: Path | None,
    report: Path | None,
    no_http: bool,
    no_pg: bool,
    pg: str | None,
    pg_password: str | None,
    pg_auth: str,
    pg_on_miss: str,
    listen_any: bool,
    confdir: Path | None,
    identity_header: tuple[str, ...],
    redact_header: tuple[str, ...],
    redact_query: tuple[str, ...],
    redact_json_key: tuple[str, ...],
    fault_timeout: str,
    header_timeout: str,
    max_body: str,
    quiet: bool,
    ready_file: Path | None = None,
) -> None:
    """Serve a world to candidate code until Ctrl-C: recorded answers, latencies, limits.

    \b
    Example:
      understudy replay --world prod.world --mode reverse:https://api.example.com --http :8080
      understudy replay --world prod.world --http 127.0.0.1:8080   # then, in another shell:
      curl -x http://127.0.0.1:8080 --cacert ~/.mitmproxy/mitmproxy-ca-cert.pem \\
           https://api.example.com/v1/items/42
      understudy replay --world prod.world --seed 7 --report session.json --session-tape s.tape

    Requests are matched by method, host, route and its parameters, normalized query and
    canonical body, after the redaction the recorder applied. Nothing reaches a real upstream
    unless --on-miss forward is given: a miss answers 599 with X-Understudy-Miss: 1 and a
    JSON body naming the nearest recorded requests. On exit a summary table is printed.
    """
    from replayer.config import DEFAULT_HTTP, ReplayConfig
    from replayer.run import run
    from replayer.session import summary_rows
    from replayer.session.report import KINDS

    try:
        config = ReplayConfig(
            world=world,
            http_listen=None if no_http else (parse_hostport(http) if http else DEFAULT_HTTP),
            http_explicit=http is not None and not no_http,
            mode=mode,
            on_miss="forward" if on_miss == "forward" else "error",
            latency=latency == "recorded",
            faults=faults == "observed",
            limits=limits == "on",
            default_class=default_class,
            seed=seed,
            session_tape=session_tape,
            report=report,
            no_pg=no_pg,
            pg_listen=parse_hostport(pg) if pg else None,
            pg_options={"password": pg_password, "auth": pg_auth, "on_miss": pg_on_miss},
            allow_remote=listen_any,
            confdir=confdir,
            identity_headers=identity_header,
            redact_headers=redact_header,
            redact_query=redact_query,
            redact_json_keys=redact_json_key,
            fault_timeout=parse_duration(fault_timeout),
            header_timeout=parse_duration(header_timeout),
            max_body=parse_size(max_body),
            quiet=quiet,
        )
        on_serving = None
        if ready_file is not None:
            from understudy.harness.ready import ready_writer

            on_serving = ready_writer(ready_file)
        result = run(config, on_serving=on_serving)
    except TapeWriteError as exc:
        raise click.ClickException(f"replay stopped: {exc}") from None
    except (ConfigError, WorldError) as exc:
        raise BadInput(str(exc)) from None
    except UnderstudyError as exc:
        raise BadInput(str(exc)) from None
    totals = result["totals"]
    print_table(
        f"understudy replay: {totals['requests']} requests "
        + ", ".join(f"{totals[k]} {k}" for k in KINDS),
        ["route", "requests", *KINDS, "p50 ms", "p99 ms"],
        summary_rows(result),
        err=True,
    )
    unknown = result["unknown_identities"]
    if unknown:
        n = sum(u["count"] for u in unknown)
        click.echo(f"understudy: {n} requests from {len(unknown)} unknown identities were "
                   f"served as class {unknown[0]['class_used']!r}", err=True)  # fmt: skip
    if report is not None:
        click.echo(f"understudy: session report written to {report}", err=True)
