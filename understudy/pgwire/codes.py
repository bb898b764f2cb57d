"""Named codes of the PostgreSQL frontend/backend protocol v3.

Message codes are ``bytes`` enums, so a member compares and hashes like the one byte on the
wire: ``FrontendCode.QUERY == b"Q"`` and ``table[b"Q"]`` finds ``table[FrontendCode.QUERY]``.
The same byte means different messages in each direction (``b"D"`` is Describe from a client
and DataRow from a server), which is why there are two enums and two decoder tables.
"""

from __future__ import annotations

from enum import Enum, IntEnum, StrEnum

__all__ = [
    "CANCEL_REQUEST_CODE",
    "GSSENC_REQUEST_CODE",
    "MAX_FRAME",
    "MAX_STARTUP_PACKET",
    "PROTOCOL_3_0",
    "PROTOCOL_3_2",
    "SSL_REQUEST_CODE",
    "AuthType",
    "BackendCode",
    "FormatCode",
    "FrontendCode",
    "PseudoCode",
    "TargetKind",
    "TransactionStatus",
]

#: Largest frame accepted by default, as PostgreSQL itself (``PQ_LARGE_MESSAGE_LIMIT``).
MAX_FRAME = 1 << 30
#: Largest untyped startup-phase packet, as PostgreSQL (``MAX_STARTUP_PACKET_LENGTH``).
MAX_STARTUP_PACKET = 10_000

PROTOCOL_3_0 = 3 << 16
PROTOCOL_3_2 = (3 << 16) | 2
#: The "protocol versions" 1234.5678, 1234.5679 and 1234.5680 that open special packets.
CANCEL_REQUEST_CODE = (1234 << 16) | 5678
SSL_REQUEST_CODE = (1234 << 16) | 5679
GSSENC_REQUEST_CODE = (1234 << 16) | 5680


class FrontendCode(bytes, Enum):
    """Type byte of a message sent by a client (frontend)."""

    BIND = b"B"
    CLOSE = b"C"
    COPY_DATA = b"d"
    COPY_DONE = b"c"
    COPY_FAIL = b"f"
    DESCRIBE = b"D"
    EXECUTE = b"E"
    FLUSH = b"H"
    FUNCTION_CALL = b"F"
    PARSE = b"P"
    #: PasswordMessage, SASLInitialResponse, SASLResponse and GSSResponse all share ``p``.
    AUTHENTICATION_RESPONSE = b"p"
    QUERY = b"Q"
    SYNC = b"S"
    TERMINATE = b"X"


class BackendCode(bytes, Enum):
    """Type byte of a message sent by a server (backend)."""

    AUTHENTICATION = b"R"
    BACKEND_KEY_DATA = b"K"
    BIND_COMPLETE = b"2"
    CLOSE_COMPLETE = b"3"
    COMMAND_COMPLETE = b"C"
    COPY_BOTH_RESPONSE = b"W"
    COPY_DATA = b"d"
    COPY_DONE = b"c"
    COPY_IN_RESPONSE = b"G"
    COPY_OUT_RESPONSE = b"H"
    DATA_ROW = b"D"
    EMPTY_QUERY_RESPONSE = b"I"
    ERROR_RESPONSE = b"E"
    FUNCTION_CALL_RESPONSE = b"V"
    NEGOTIATE_PROTOCOL_VERSION = b"v"
    NO_DATA = b"n"
    NOTICE_RESPONSE = b"N"
    NOTIFICATION_RESPONSE = b"A"
    PARAMETER_DESCRIPTION = b"t"
    PARAMETER_STATUS = b"S"
    PARSE_COMPLETE = b"1"
    PORTAL_SUSPENDED = b"s"
    READY_FOR_QUERY = b"Z"
    ROW_DESCRIPTION = b"T"


class PseudoCode(bytes, Enum):
    """Frame codes for packets that have no type byte on the wire.

    They are never one byte long, so they cannot clash with a real message code.
    """

    #: A length-prefixed startup-phase packet from a client: StartupMessage, SSLRequest,
    #: GSSENCRequest or CancelRequest (told apart by the Int32 that opens the payload).
    STARTUP = b"startup"
    #: The single byte a server answers an SSLRequest with (``S``, ``N``).
    SSL_RESPONSE = b"ssl-response"
    #: The single byte a server answers a GSSENCRequest with (``G``, ``N``).
    GSSENC_RESPONSE = b"gssenc-response"


class AuthType(IntEnum):
    """The Int32 that tells the Authentication (``R``) messages apart."""

    OK = 0
    KERBEROS_V5 = 2
    CLEARTEXT_PASSWORD = 3
    MD5_PASSWORD = 5
    SCM_CREDENTIAL = 6
    GSS = 7
    GSS_CONTINUE = 8
    SSPI = 9
    SASL = 10
    SASL_CONTINUE = 11
    SASL_FINAL = 12


class TransactionStatus(bytes, Enum):
    """The status byte of ReadyForQuery."""

    IDLE = b"I"
    IN_TRANSACTION = b"T"
    FAILED = b"E"


class TargetKind(StrEnum):
    """What a Describe or Close names: a prepared statement or a portal."""

    STATEMENT = "S"
    PORTAL = "P"


class FormatCode(IntEnum):
    """Format of a parameter or result value."""

    TEXT = 0
    BINARY = 1
