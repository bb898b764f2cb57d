"""SQLSTATE codes we send or recognise, and builders for ErrorResponse and NoticeResponse.

Example::

    >>> from understudy.pgwire import SqlState, error_response
    >>> err = error_response(SqlState.INVALID_SQL_STATEMENT_NAME,
    ...                      'prepared statement "s1" does not exist')
    >>> err.fields
    {'S': 'ERROR', 'V': 'ERROR', 'C': '26000', 'M': 'prepared statement "s1" does not exist'}
"""

from __future__ import annotations

from enum import StrEnum

from understudy.pgwire.backend import ErrorResponse, NoticeResponse

__all__ = ["ERROR_FIELDS", "SqlState", "error_response", "notice_response"]


class SqlState(StrEnum):
    """SQLSTATE codes (PostgreSQL Appendix A) that understudy sends or looks for."""

    SUCCESSFUL_COMPLETION = "00000"
    WARNING = "01000"
    CONNECTION_EXCEPTION = "08000"
    CONNECTION_FAILURE = "08006"
    PROTOCOL_VIOLATION = "08P01"
    FEATURE_NOT_SUPPORTED = "0A000"
    DATA_EXCEPTION = "22000"
    NUMERIC_VALUE_OUT_OF_RANGE = "22003"
    INVALID_PARAMETER_VALUE = "22023"
    INVALID_TEXT_REPRESENTATION = "22P02"
    INVALID_BINARY_REPRESENTATION = "22P03"
    UNIQUE_VIOLATION = "23505"
    ACTIVE_SQL_TRANSACTION = "25001"
    NO_ACTIVE_SQL_TRANSACTION = "25P01"
    IN_FAILED_SQL_TRANSACTION = "25P02"
    INVALID_SQL_STATEMENT_NAME = "26000"
    INVALID_AUTHORIZATION_SPECIFICATION = "28000"
    INVALID_PASSWORD = "28P01"  # noqa: S105 (a SQLSTATE, not a password)
    INVALID_CURSOR_NAME = "34000"
    INVALID_CATALOG_NAME = "3D000"
    SERIALIZATION_FAILURE = "40001"
    DEADLOCK_DETECTED = "40P01"
    SYNTAX_ERROR = "42601"
    UNDEFINED_COLUMN = "42703"
    UNDEFINED_FUNCTION = "42883"
    UNDEFINED_TABLE = "42P01"
    UNDEFINED_OBJECT = "42704"
    DUPLICATE_CURSOR = "42P03"
    DUPLICATE_PREPARED_STATEMENT = "42P05"
    TOO_MANY_CONNECTIONS = "53300"
    QUERY_CANCELED = "57014"
    ADMIN_SHUTDOWN = "57P01"
    CANNOT_CONNECT_NOW = "57P03"
    INTERNAL_ERROR = "XX000"


#: Keyword of :func:`error_response` -> field code on the wire.
ERROR_FIELDS = {
    "detail": "D",
    "hint": "H",
    "position": "P",
    "internal_position": "p",
    "internal_query": "q",
    "where": "W",
    "schema_name": "s",
    "table_name": "t",
    "column_name": "c",
    "data_type_name": "d",
    "constraint_name": "n",
    "file": "F",
    "line": "L",
    "routine": "R",
}


def _fields(
    sqlstate: str, message: str, severity: str, extra: dict[str, str | int]
) -> dict[str, str]:
    # Field order as PostgreSQL sends it: severity (localized, then not), code, message, ...
    fields = {"S": severity, "V": severity, "C": str(sqlstate), "M": message}
    for name, value in extra.items():
        code = ERROR_FIELDS.get(name)
        if code is None:
            raise TypeError(f"unknown error field {name!r}; known: {', '.join(ERROR_FIELDS)}")
        fields[code] = str(value)
    return fields


def error_response(
    sqlstate: str, message: str, severity: str = "ERROR", **extra: str | int
) -> ErrorResponse:
    """An ErrorResponse as PostgreSQL builds it; ``extra`` takes the :data:`ERROR_FIELDS`.

    ``severity`` is ``ERROR``, ``FATAL`` (the server then closes the connection) or
    ``PANIC``. ``position`` may be given as an int.
    """
    return ErrorResponse(_fields(sqlstate, message, severity, extra))


def notice_response(
    message: str,
    severity: str = "NOTICE",
    sqlstate: str = SqlState.SUCCESSFUL_COMPLETION,
    **extra: str | int,
) -> NoticeResponse:
    """A NoticeResponse (``WARNING``, ``NOTICE``, ``INFO``, ``LOG``, ``DEBUG``)."""
    return NoticeResponse(_fields(sqlstate, message, severity, extra))
