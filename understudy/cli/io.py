"""``understudy import`` and ``understudy export``: meet users where their traffic already is.

Imports turn HAR files, vcrpy cassettes and mitmproxy flow files into a tape, redacted as
the recorder redacts; exports turn a world into a vcrpy cassette or a HAR file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from understudy.cli.common import CONTEXT_SETTINGS, echo_json, json_option, print_table
from understudy.sizes import parse_size

__all__ = ["export", "import_"]


def _import_options[F: Callable[..., Any]](f: F) -> F:
    """Options shared by every ``import`` subcommand."""
    decorators = [
        click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path)),
        click.option(
            "--tape",
            required=True,
            type=click.Path(path_type=Path),
            help="Tape to write: created (0700) if absent, else appended to (whole parts only).",
        ),
        click.option(
            "--max-size",
            default="2GiB",
            show_default=True,
            metavar="BYTES",
            help="Refuse input files (and decompressed HAR files) larger than this.",
        ),
        click.option(
            "--max-body",
            default="1MiB",
            show_default=True,
            metavar="BYTES",
            help="Store at most this many decoded bytes of each body, as `record` does.",
        ),
        click.option(
            "--identity-header",
            multiple=True,
            metavar="NAME",
            help="Header whose pseudonym identifies the client (repeatable; default "
            "Authorization, X-Api-Key, Api-Key, Proxy-Authorization).",
        ),
        click.option(
            "--redact-header", multiple=True, metavar="NAME", help="Extra header to redact."
        ),
        click.option(
            "--redact-query", multiple=True, metavar="NAME", help="Extra query key to redact."
        ),
        click.option(
            "--redact-json-key",
            multiple=True,
            metavar="NAME",
            help="Extra JSON or form key to redact in bodies (repeatable).",
        ),
        json_option,
    ]
    for decorator in reversed(decorators):
        f = decorator(f)
    return f


def _n(count: int, noun: str) -> str:
    """``1 file``, ``2 files``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _run_import(fmt: str, files: tuple[Path, ...], tape: Path, as_json: bool, **kw: Any) -> None:
    from recorder.http.rows import CaptureSettings
    from recorder.importers import import_files
    from understudy.redact import Pseudonymizer, RedactionPolicy, Redactor, load_key

    max_size = parse_size(kw["max_size"])
    capture = CaptureSettings(max_body=parse_size(kw["max_body"]))
    policy = RedactionPolicy.build(
        extra_headers=kw["redact_header"],
        extra_query_keys=kw["redact_query"],
        extra_json_keys=kw["redact_json_key"],
        identity_headers=kw["identity_header"],
    )
    redactor = Redactor(policy, Pseudonymizer(load_key()))
    report = import_files(
        fmt, list(files), tape, redactor=redactor, capture=capture, max_size=max_size
    )
    if as_json:
        echo_json(report.as_dict())
        return
    print_table(
        f"import {fmt} -> {report.tape}",
        ["file", "exchanges", "skipped", "reasons"],
        [
            (
                f.path,
                f.exchanges,
                sum(f.skipped.values()),
                "; ".join(f"{n} {why}" for why, n in f.skipped.most_common()),
            )
            for f in report.files
        ],
    )
    how = "new tape" if report.created else "appended"
    click.echo(
        f"imported {_n(report.exchanges, 'exchange')} ({report.skipped} skipped) from "
        f"{_n(len(report.files), 'file')} into {report.tape} ({how}, {_n(report.parts, 'part')})"
    )
    if report.synthetic_timestamps:
        click.echo(
            "note: cassettes carry no times; timestamps are synthesized (1 ms apart, zero "
            "latency) and tape.json says so: latencies mined from them are not real"
        )


@click.group("import", context_settings=CONTEXT_SETTINGS)
def import_() -> None:
    """Turn HAR files, vcrpy cassettes or mitmproxy flow files into a tape.

    \b
    Example:
      understudy import har session.har --tape prod.tape
    """


@import_.command("har", context_settings=CONTEXT_SETTINGS)
@_import_options
def import_har(files: tuple[Path, ...], tape: Path, as_json: bool, **kw: Any) -> None:
    """Import HAR 1.2 files (dev tools, mitmproxy --set hardump=FILE) with their real times.

    \b
    Example:
      understudy import har session.har more.har.gz --tape prod.tape
    """
    _run_import("har", files, tape, as_json, **kw)


@import_.command("vcr", context_settings=CONTEXT_SETTINGS)
@_import_options
def import_vcr(files: tuple[Path, ...], tape: Path, as_json: bool, **kw: Any) -> None:
    """Import vcrpy cassettes (YAML read safely, or JSON); their times are synthesized.

    \b
    Example:
      understudy import vcr tests/cassettes/*.yaml --tape prod.tape
    """
    _run_import("vcr", files, tape, as_json, **kw)


@import_.command("mitm", context_settings=CONTEXT_SETTINGS)
@_import_options
def import_mitm(files: tuple[Path, ...], tape: Path, as_json: bool, **kw: Any) -> None:
    """Import mitmproxy flow files (mitmdump -w FILE) with their real times and addresses.

    \b
    Example:
      understudy import mitm traffic.flows --tape prod.tape
    """
    _run_import("mitm", files, tape, as_json, **kw)


def _export_options[F: Callable[..., Any]](f: F) -> F:
    """Options shared by every ``export`` subcommand."""
    decorators = [
        click.option(
            "--world",
            "world_dir",
            required=True,
            type=click.Path(path_type=Path),
            help="World bundle to export (built by `understudy analyze`).",
        ),
        click.option(
            "--out",
            required=True,
            type=click.Path(path_type=Path),
            help="File to write (atomically, 0600).",
        ),
        click.option(
            "--host",
            "hosts",
            multiple=True,
            metavar="HOST",
            help="Export only this recorded host (repeatable; default: all).",
        ),
        click.option(
            "--base-url",
            "base_urls",
            multiple=True,
            metavar="[HOST=]URL",
            help="Where a host is reached, e.g. http://127.0.0.1:8080 (default https://HOST).",
        ),
        json_option,
    ]
    for decorator in reversed(decorators):
        f = decorator(f)
    return f


def _prepare(world_dir: Path, hosts: tuple[str, ...], base_urls: tuple[str, ...]) -> Any:
    from replayer.export import BaseUrls, load_recorded

    doc, recorded = load_recorded(world_dir, hosts)
    exported_hosts = list(hosts) or sorted({r.host for r in recorded})
    return doc, recorded, BaseUrls.parse(base_urls, exported_hosts)


def _summary(what: str, out: Path, count: int, urls: Any, as_json: bool, **extra: Any) -> None:
    data = {"out": str(out), what: count, "base_urls": urls.by_host, **extra}
    if as_json:
        echo_json(data)
        return
    print_table(f"export -> {out}", ["host", "reached at"], sorted(urls.by_host.items()))
    tail = "".join(f", {v} {k.replace('_', ' ')}" for k, v in extra.items() if v)
    click.echo(f"wrote {count} {what} to {out}{tail}")


@click.group("export", context_settings=CONTEXT_SETTINGS)
def export() -> None:
    """Write a world out as a vcrpy cassette or a HAR file.

    \b
    Example:
      understudy export vcr --world prod.world --out tests/cassettes/prod.yaml
    """


@export.command("vcr", context_settings=CONTEXT_SETTINGS)
@_export_options
@click.option(
    "--all",
    "all_exchanges",
    is_flag=True,
    help="One interaction per recorded exchange (production's sequence), not per distinct one.",
)
def export_vcr(
    world_dir: Path,
    out: Path,
    hosts: tuple[str, ...],
    base_urls: tuple[str, ...],
    all_exchanges: bool,
    as_json: bool,
) -> None:
    """Write a vcrpy cassette (YAML, version 1) that vcr.use_cassette plays back.

    \b
    Example:
      understudy export vcr --world prod.world --out prod.yaml --base-url https://api.example.com
      # then, in a test: with vcr.use_cassette("prod.yaml", record_mode="none"): ...
    """
    from replayer.export import cassette, dump_cassette, write_atomic

    _doc, recorded, urls = _prepare(world_dir, hosts, base_urls)
    doc, left_out = cassette(recorded, urls, all_exchanges=all_exchanges)
    write_atomic(out, dump_cassette(doc))
    _summary(
        "interactions", out, len(doc["interactions"]), urls, as_json,
        left_out_without_response=left_out,
    )  # fmt: skip


@export.command("har", context_settings=CONTEXT_SETTINGS)
@_export_options
def export_har(
    world_dir: Path,
    out: Path,
    hosts: tuple[str, ...],
    base_urls: tuple[str, ...],
    as_json: bool,
) -> None:
    """Write a HAR 1.2 file: every recorded exchange with its response and latency.

    \b
    Example:
      understudy export har --world prod.world --out prod.har
    """
    from replayer.export import dump_har, har_document, write_atomic

    doc, recorded, urls = _prepare(world_dir, hosts, base_urls)
    har = har_document(recorded, urls, doc)
    write_atomic(out, dump_har(har))
    _summary("entries", out, len(har["log"]["entries"]), urls, as_json)
