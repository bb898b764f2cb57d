"""The world bundle: what production *is*, mined from tapes, served by the replayer.

A world is a directory::

    WORLD/
      world.json               small, human-readable, versioned model (see docs/world-format.md)
      http_exchanges.parquet   recorded requests by match key -> response id, latency
      http_responses.parquet   deduplicated responses (status, headers, body)
      sql_calls.parquet        recorded statements by fingerprint + params -> result id, latency
      sql_results.parquet      deduplicated results (columns, rows, tag or error)

Tables are deduplicated by content hash, so a world is much smaller than its tapes.
"""

from __future__ import annotations

from typing import Final

import pyarrow as pa

from understudy.tape.schema import HEADER_TYPE, SQL_COLUMN_TYPE
from understudy.world.meta import REQUIRED_KEYS, WORLD_FORMAT, WORLD_JSON, WORLD_SCHEMA_VERSION

__all__ = [
    "HTTP_EXCHANGES_SCHEMA",
    "HTTP_RESPONSES_SCHEMA",
    "REQUIRED_KEYS",
    "SQL_CALLS_SCHEMA",
    "SQL_RESULTS_SCHEMA",
    "TABLES",
    "WORLD_FORMAT",
    "WORLD_JSON",
    "WORLD_SCHEMA_VERSION",
]

HTTP_EXCHANGES_SCHEMA: Final = pa.schema(
    [
        ("host", pa.string()),
        ("method", pa.string()),
        ("route", pa.string()),  # template, e.g. /api/items/{id}
        ("path", pa.string()),
        ("query", pa.string()),  # normalized: redacted, keys sorted
        ("body_key", pa.string()),  # hash of the canonical (redacted) request body, "" if none
        ("identity", pa.string()),
        ("identity_class", pa.string()),
        ("seq", pa.int32()),  # order among recorded exchanges with the same key
        ("status", pa.int32()),
        ("error", pa.string()),
        ("response_id", pa.string()),
        ("duration_ms", pa.float64()),
    ]
)

HTTP_RESPONSES_SCHEMA: Final = pa.schema(
    [
        ("response_id", pa.string()),
        ("status", pa.int32()),
        ("headers", HEADER_TYPE),
        ("body", pa.binary()),
        ("body_truncated", pa.bool_()),
    ]
)

SQL_CALLS_SCHEMA: Final = pa.schema(
    [
        ("fingerprint", pa.string()),
        ("params", pa.list_(pa.string())),
        ("seq", pa.int32()),
        ("result_id", pa.string()),
        ("duration_ms", pa.float64()),
    ]
)

SQL_RESULTS_SCHEMA: Final = pa.schema(
    [
        ("result_id", pa.string()),
        ("command_tag", pa.string()),
        ("columns", SQL_COLUMN_TYPE),
        ("result_formats", pa.list_(pa.int16())),
        ("result_rows", pa.list_(pa.list_(pa.binary()))),
        ("result_truncated", pa.bool_()),
        ("rows", pa.int64()),
        ("sqlstate", pa.string()),
        ("error_message", pa.string()),
    ]
)

TABLES: Final = {
    "http_exchanges": HTTP_EXCHANGES_SCHEMA,
    "http_responses": HTTP_RESPONSES_SCHEMA,
    "sql_calls": SQL_CALLS_SCHEMA,
    "sql_results": SQL_RESULTS_SCHEMA,
}
