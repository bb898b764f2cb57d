"""``understudy record``: record HTTP(S) through mitmproxy and PostgreSQL through a relay."""

from __future__ import annotations

from pathlib import Path

import click

from understudy.cli.common import CONTEXT_SETTINGS, BadInput
from understudy.errors import ConfigError, TapeWriteError, UnderstudyError
from understudy.sizes import parse_duration, parse_hostport, parse_size

__all__ = ["record"]


@click.command(context_settings=CONTEXT_SETTINGS)
@click.option(
    "--tape",
    required=True,
    type=click.Path(path_type=Path),
    help="Tape directory to record into (created 0700; parts are appended).",
)
@click.option(
    "--http",
    "http",
    default="127.0.0.1:8080",
    show_default=True,
    metavar="HOST:PORT",
    help="Where the HTTP(S) proxy listens.",
)
@click.option("--no-http", is_flag=True, help="Do not record HTTP (PostgreSQL only).")
@click.option(
    "--mode",
    default="regular",
    show_default=True,
    metavar="regular|reverse:URL|upstream:URL",
    help="mitmproxy mode: an HTTP(S) proxy, or a reverse proxy in front of URL.",
)
@click.option(
    "--identity-header",
    multiple=True,
    metavar="NAME",
    help="Header whose pseudonym identifies the client (repeatable; default "
    "Authorization, X-Api-Key, Api-Key, Proxy-Authorization).",
)
@click.option(
    "--redact-header", multiple=True, metavar="NAME", help="Extra header to redact (repeatable)."
)
@click.option(
    "--redact-query",
    multiple=True,
    metavar="NAME",
    help="Extra query-string key to redact (repeatable).",
)
@click.option(
    "--redact-json-key",
    multiple=True,
    metavar="NAME",
    help="Extra JSON or form key to redact in bodies (repeatable).",
)
@click.option(
    "--max-body",
    default="1MiB",
    show_default=True,
    metavar="BYTES",
    help="Store at most this many decoded bytes of each body (e.g. 64KiB, 1MB).",
)
@click.option(
    "--flush-interval",
    default="1s",
    show_default=True,
    metavar="SECONDS",
    help="Commit a tape part at least this often; a crash loses at most this much.",
)
@click.option(
    "--confdir",
    type=click.Path(path_type=Path),
    metavar="DIR",
    help="mitmproxy's directory: CA certificate and config.yaml [~/.mitmproxy].",
)
@click.option("--listen-any", is_flag=True, help="Allow listening on non-loopback addresses.")
@click.option(
    "--pg", "pg", metavar="HOST:PORT", help="Also record PostgreSQL: where the relay listens."
)
@click.option("--pg-upstream", metavar="HOST:PORT", help="The real PostgreSQL server.")
@click.option(
    "--pg-upstream-tls",
    type=click.Choice(["disable", "prefer", "require"]),
    default="disable",
    show_default=True,
    help="TLS on the relay's upstream leg.",
)
@click.option(
    "--max-result-rows",
    type=int,
    default=1000,
    show_default=True,
    metavar="N",
    help="Store at most N result rows per SQL statement.",
)
@click.option("--quiet", "-q", is_flag=True, help="Only print errors and the final counters.")
def record(
    tape: Path,
    http: str,
    no_http: bool,
    mode: str,
    identity_header: tuple[str, ...],
    redact_header: tuple[str, ...],
    redact_query: tuple[str, ...],
    redact_json_key: tuple[str, ...],
    max_body: str,
    flush_interval: str,
    confdir: Path | None,
    listen_any: bool,
    pg: str | None,
    pg_upstream: str | None,
    pg_upstream_tls: str,
    max_result_rows: int,
    quiet: bool,
) -> None:
    """Record HTTP(S) and PostgreSQL traffic into a tape until Ctrl-C or SIGTERM.

    \b
    Example:
      understudy record --tape prod.tape --mode reverse:http://127.0.0.1:9000
      understudy record --tape prod.tape --http 127.0.0.1:8080   # then, in another shell:
      curl -x http://127.0.0.1:8080 --cacert ~/.mitmproxy/mitmproxy-ca-cert.pem https://example.com
      understudy record --tape prod.tape --no-http --pg 127.0.0.1:6432 --pg-upstream db:5432

    In the default regular mode clients use the recorder as their HTTP(S) proxy and trust
    mitmproxy's CA certificate from --confdir. Secrets in headers, query strings and bodies
    are replaced by keyed pseudonyms before they reach the disk. On exit the counters
    (captured, committed, dropped, truncated) are printed to stderr.
    """
    from recorder.config import RecorderConfig
    from recorder.run import run
    from understudy.redact import RedactionPolicy

    try:
        config = RecorderConfig(
            tape=tape,
            http_listen=None if no_http else parse_hostport(http),
            mode=mode,
            pg_listen=parse_hostport(pg) if pg else None,
            pg_upstream=parse_hostport(pg_upstream) if pg_upstream else None,
            pg_upstream_tls=pg_upstream_tls,
            max_body=parse_size(max_body),
            max_result_rows=max_result_rows,
            flush_interval=parse_duration(flush_interval),
            policy=RedactionPolicy.build(
                extra_headers=redact_header,
                extra_query_keys=redact_query,
                extra_json_keys=redact_json_key,
                identity_headers=identity_header,
            ),
            confdir=confdir,
            allow_remote=listen_any,
            quiet=quiet,
        )
        run(config)
    except TapeWriteError as exc:
        raise click.ClickException(
            f"recording stopped, the tape can no longer be written: {exc}"
        ) from None
    except ConfigError as exc:
        raise BadInput(str(exc)) from None
    except UnderstudyError as exc:  # e.g. TapeError: tape directory not usable
        raise BadInput(str(exc)) from None
