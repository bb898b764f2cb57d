"""Arrow schemas of the tape: the columns every reader may rely on.

A tape is a directory::

    TAPE/
      tape.json            schema version, recorder version, time span, redaction summary
      http/part-*.parquet  one row per HTTP exchange      (HTTP_SCHEMA)
      sql/part-*.parquet   one row per SQL statement run  (SQL_SCHEMA)

Each Parquet file carries ``understudy.schema_version`` and ``understudy.kind`` in its
key-value metadata. Bump :data:`SCHEMA_VERSION` whenever a column changes meaning or type and
add a ``migrate_N_to_M`` step in :mod:`understudy.tape.migrate`.
"""

from __future__ import annotations

from typing import Final

import pyarrow as pa

__all__ = [
    "HEADER_TYPE",
    "HTTP_SCHEMA",
    "KINDS",
    "META_KIND",
    "META_SCHEMA_VERSION",
    "SCHEMA_VERSION",
    "SQL_COLUMN_TYPE",
    "SQL_SCHEMA",
    "TS_TYPE",
    "schema_for",
]

SCHEMA_VERSION: Final = 1
META_SCHEMA_VERSION: Final = b"understudy.schema_version"
META_KIND: Final = b"understudy.kind"

TS_TYPE: Final = pa.timestamp("us", tz="UTC")
HEADER_TYPE: Final = pa.list_(pa.struct([("name", pa.string()), ("value", pa.string())]))
SQL_COLUMN_TYPE: Final = pa.list_(pa.struct([("name", pa.string()), ("type_oid", pa.int64())]))

HTTP_SCHEMA: Final = pa.schema(
    [
        ("exchange_id", pa.string()),  # unique per exchange (uuid4 hex)
        ("ts_start", TS_TYPE),  # first byte of the request seen by the proxy
        ("ts_end", TS_TYPE),  # last byte of the response (or the failure)
        ("duration_ms", pa.float64()),
        ("method", pa.string()),
        ("scheme", pa.string()),
        ("host", pa.string()),
        ("port", pa.int32()),
        ("path", pa.string()),  # without the query string
        ("query", pa.string()),  # raw query string after redaction ("" when absent)
        ("http_version", pa.string()),
        ("status", pa.int32()),  # null when the exchange failed before a response
        ("request_headers", HEADER_TYPE),  # order and duplicates kept, secrets redacted
        ("response_headers", HEADER_TYPE),
        ("request_body", pa.binary()),  # decoded from Content-Encoding, capped at --max-body
        ("response_body", pa.binary()),
        ("request_body_size", pa.int64()),  # decoded size before the cap
        ("response_body_size", pa.int64()),
        ("request_body_truncated", pa.bool_()),
        ("response_body_truncated", pa.bool_()),
        ("request_content_encoding", pa.string()),  # Content-Encoding as sent on the wire
        ("response_content_encoding", pa.string()),
        ("identity", pa.string()),  # pseudonym of the identity header(s), null if none
        ("client_addr", pa.string()),  # "ip:port"
        ("server_addr", pa.string()),  # "ip:port" of the upstream actually dialled
        ("traceparent", pa.string()),  # W3C traceparent request header, if any
        ("flow_kind", pa.string()),  # "http", "websocket", "stream"
        ("error", pa.string()),  # why the exchange failed; null when it did not
    ]
)

SQL_SCHEMA: Final = pa.schema(
    [
        ("statement_id", pa.string()),  # unique per statement execution
        ("conn_id", pa.string()),  # unique per client connection
        ("seq", pa.int64()),  # 0-based order of the statement within its connection
        ("ts_start", TS_TYPE),  # first byte of the request carrying the statement
        ("ts_end", TS_TYPE),  # CommandComplete / ErrorResponse / EmptyQueryResponse
        ("duration_ms", pa.float64()),
        ("database", pa.string()),
        ("user", pa.string()),
        ("application_name", pa.string()),
        ("client_addr", pa.string()),
        ("protocol", pa.string()),  # "simple" or "extended"
        ("statement_name", pa.string()),  # prepared statement name ("" = unnamed), null if simple
        ("portal_name", pa.string()),
        ("sql", pa.string()),  # statement text (from Parse for the extended protocol)
        ("params", pa.list_(pa.string())),  # bound parameters as text (binary decoded or hex)
        ("param_types", pa.list_(pa.int64())),  # type OIDs (Parse, else 0 = unspecified)
        ("param_formats", pa.list_(pa.int16())),  # 0 text, 1 binary, as bound
        ("command_tag", pa.string()),  # e.g. "SELECT 3", "INSERT 0 1"
        ("rows", pa.int64()),  # from the tag, else counted DataRows
        ("columns", SQL_COLUMN_TYPE),  # RowDescription names and type OIDs
        ("result_formats", pa.list_(pa.int16())),  # per column, 0 text / 1 binary
        ("result_rows", pa.list_(pa.list_(pa.binary()))),  # DataRow values as on the wire
        ("result_truncated", pa.bool_()),  # more rows than --max-result-rows
        ("sqlstate", pa.string()),
        ("error_message", pa.string()),
        ("tx_status", pa.string()),  # "idle", "in_transaction", "failed" (ReadyForQuery)
        ("traceparent", pa.string()),  # from a sqlcommenter comment or application_name
        ("copy_bytes", pa.int64()),  # COPY payload bytes (data itself never stored)
        ("error", pa.string()),  # relay-level marker: truncated frame, upstream closed...
    ]
)

KINDS: Final = {"http": HTTP_SCHEMA, "sql": SQL_SCHEMA}


def schema_for(kind: str) -> pa.Schema:
    """Return the current schema for a tape ``kind`` (``"http"`` or ``"sql"``)."""
    try:
        return KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown tape kind {kind!r}; expected one of {sorted(KINDS)}") from None
