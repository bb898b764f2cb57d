"""A world bundle out to formats other tools replay: vcrpy cassettes and HAR files.

``understudy export vcr|har`` is the command line; see docs/import-export.md.
"""

from __future__ import annotations

from replayer.export.har import dump_har, har_document
from replayer.export.source import BaseUrls, Recorded, Response, load_recorded, write_atomic
from replayer.export.vcr import CASSETTE_VERSION, cassette, dump_cassette

__all__ = [
    "CASSETTE_VERSION",
    "BaseUrls",
    "Recorded",
    "Response",
    "cassette",
    "dump_cassette",
    "dump_har",
    "har_document",
    "load_recorded",
    "write_atomic",
]
