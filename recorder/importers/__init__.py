"""Foreign captures into tapes: HAR files, vcrpy cassettes, mitmproxy flow files.

Every imported exchange goes through the recorder's own row builder
(:func:`recorder.http.rows.flow_to_row`), so it is redacted, pseudonymised and capped
exactly as live capture would have done. Imports are all or nothing (see
:mod:`recorder.importers.staging`). ``understudy import har|vcr|mitm`` is the command line.
"""

from __future__ import annotations

from recorder.importers.flows import Exchange, Imported, Skip, build_flow
from recorder.importers.har import read_har
from recorder.importers.mitmflows import read_flows
from recorder.importers.run import FORMATS, FileReport, ImportReport, import_files
from recorder.importers.source import DEFAULT_MAX_SIZE, check_inputs
from recorder.importers.staging import StagedTape
from recorder.importers.vcr import SyntheticClock, read_vcr

__all__ = [
    "DEFAULT_MAX_SIZE",
    "FORMATS",
    "Exchange",
    "FileReport",
    "ImportReport",
    "Imported",
    "Skip",
    "StagedTape",
    "SyntheticClock",
    "build_flow",
    "check_inputs",
    "import_files",
    "read_flows",
    "read_har",
    "read_vcr",
]
