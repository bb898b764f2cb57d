"""mitmproxy script: record into a tape from plain mitmproxy, mitmdump or mitmweb.

Example::

    mitmdump -s recorder/mitm_addon.py --set understudy_tape=prod.tape \
        --set understudy_redact_header=X-Session --set understudy_max_body=256KiB

Options (``--set NAME=VALUE``): ``understudy_tape`` (required), ``understudy_identity_header``,
``understudy_redact_header``, ``understudy_redact_query``, ``understudy_redact_json_key``
(repeatable), ``understudy_max_body``, ``understudy_flush_interval``. The redaction key is read
like ``understudy record`` reads it (``UNDERSTUDY_KEY`` or ``UNDERSTUDY_KEY_FILE``).

mitmproxy loads scripts asynchronously, so it may already accept connections for a moment
before this addon (and the tape) is loaded: exchanges that complete in that moment are not
recorded. ``understudy record`` has no such window (the tape is open before it listens).
"""

from __future__ import annotations

from recorder.http.addon import Recorder

__all__ = ["addons"]

addons = [Recorder()]
