# mitmproxy is not fully annotated:
# mypy: disallow-untyped-calls=False
"""mitmproxy flow files (``mitmdump -w FILE``, the console's save) to flows.

They are read with :class:`mitmproxy.io.FlowReader`: tnetstring records (never pickle),
migrated from older mitmproxy versions by mitmproxy itself. The records are complete flows,
so they go to the recorder's row builder unchanged, with their real times and addresses.
Non-HTTP flows (TCP, UDP, DNS) are skipped and counted. A file that is not a flow file, or
is truncated or corrupt anywhere, raises :class:`~understudy.errors.ConfigError`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from mitmproxy import http
from mitmproxy.io import FlowReader

from recorder.importers.flows import Imported, Skip
from recorder.importers.source import BoundedReader, open_checked
from understudy.errors import ConfigError

__all__ = ["read_flows"]


def _tunnel(flow: http.HTTPFlow) -> bool:
    """An established CONNECT tunnel: live capture records only the ones that failed."""
    resp = flow.response
    return flow.request.method == "CONNECT" and resp is not None and 200 <= resp.status_code < 300


def read_flows(path: Path, max_size: int) -> Iterator[Imported | Skip]:
    """Flows (or skips) of the mitmproxy flow file ``path``, in file order."""
    with open_checked(path, max_size) as f:
        size = f.seek(0, 2)
        f.seek(0)
        head = f.read(4).lstrip(b"\xef\xbb\xbf")[:1]
        f.seek(0)
        if head in (b"{", b"["):
            raise ConfigError(
                f"{path}: looks like JSON, not a mitmproxy flow file (a HAR? use "
                "`understudy import har`)"
            )
        stream = iter(FlowReader(BoundedReader(f, size)).stream())  # type: ignore[arg-type]
        n = 0
        while True:
            try:
                flow = next(stream)
            except StopIteration:
                return
            except RecursionError:
                raise ConfigError(f"{path}: flow {n}: records nested too deeply") from None
            except Exception as exc:  # a third-party parser fed hostile bytes: translate all
                detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
                raise ConfigError(
                    f"{path}: not a readable mitmproxy flow file (flow {n}: {detail}; "
                    "truncated or corrupt?)"
                ) from None
            n += 1
            if not isinstance(flow, http.HTTPFlow):
                yield Skip(f"{flow.type} flow (not HTTP)")
            elif _tunnel(flow):
                yield Skip("CONNECT tunnel (its exchanges are separate flows)")
            else:
                yield Imported(flow)
