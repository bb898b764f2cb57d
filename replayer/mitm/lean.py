# mitmproxy is not fully annotated:
# mypy: disallow-untyped-calls=False
"""mitmproxy's addons for the proxy-mode replayer, without the ones a replayer never uses.

``ADDONS`` is mitmdump's default addon list, in its order, without the onboarding app
(``mitm.it``: flask, werkzeug, jinja2), proxy authentication (ldap3) and ``map_local``
(serving local files): a replayer answers from its world only, and importing those costs
about 13 MiB of RSS. ``mitmproxy.addons`` imports every addon in its ``__init__`` (and
``mitmproxy.master`` imports that package), so importing this module, which
``replayer.mitm`` does before anything imports ``mitmproxy.master``, registers the package
without running its ``__init__``: an addon module is imported when asked for, and the
first time anyone asks the package for another name it lacks (``default_addons``) it runs
its ``__init__``, so code that uses the whole package later still gets it. Nothing changes
when ``mitmproxy.addons`` was imported already (a recorder in the same process).

Example::

    master.addons.add(*replay_addons())
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from types import ModuleType
from typing import Any, Final

__all__ = ["ADDONS", "LEFT_OUT", "addon_modules", "replay_addons"]

#: ``mitmproxy.addons.default_addons()`` in its order, without onboarding, proxyauth and
#: maplocal: (module, class).
ADDONS: Final = (
    ("core", "Core"), ("browser", "Browser"), ("block", "Block"),
    ("strip_dns_https_records", "StripDnsHttpsRecords"), ("blocklist", "BlockList"),
    ("anticache", "AntiCache"), ("anticomp", "AntiComp"),
    ("clientplayback", "ClientPlayback"), ("command_history", "CommandHistory"),
    ("comment", "Comment"), ("cut", "Cut"), ("disable_h2c", "DisableH2C"),
    ("export", "Export"), ("proxyserver", "Proxyserver"), ("script", "ScriptLoader"),
    ("dns_resolver", "DnsResolver"), ("next_layer", "NextLayer"),
    ("serverplayback", "ServerPlayback"), ("mapremote", "MapRemote"),
    ("modifybody", "ModifyBody"), ("modifyheaders", "ModifyHeaders"),
    ("stickyauth", "StickyAuth"), ("stickycookie", "StickyCookie"), ("save", "Save"),
    ("savehar", "SaveHar"), ("tlsconfig", "TlsConfig"), ("upstream_auth", "UpstreamAuth"),
    ("update_alt_svc", "UpdateAltSvc"),
)  # fmt: skip
#: Options of the addons left out: a config.yaml setting one is refused.
LEFT_OUT: Final = frozenset({"onboarding", "onboarding_host", "proxyauth", "map_local"})


def addon_modules() -> ModuleType:
    """The ``mitmproxy.addons`` package, its ``__init__`` not run unless it already was.

    The package object gets a module ``__getattr__``: asked for an addon module, it imports
    that module; asked for anything else it lacks (``default_addons``), it runs the real
    ``__init__`` first, so code that later uses the whole package still gets it.
    """
    name = "mitmproxy.addons"
    loaded = sys.modules.get(name)
    if loaded is not None:
        return loaded
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:  # pragma: no cover - a broken mitmproxy install
        return importlib.import_module(name)
    package = importlib.util.module_from_spec(spec)
    loader = spec.loader

    def complete(attr: str) -> Any:
        if not attr.startswith("__") and importlib.util.find_spec(f"{name}.{attr}") is not None:
            return importlib.import_module(f"{name}.{attr}")  # ``from . import termlog``
        if "__getattr__" in package.__dict__:
            del package.__dict__["__getattr__"]
            loader.exec_module(package)
        return package.__dict__[attr] if attr in package.__dict__ else _missing(name, attr)

    package.__dict__["__getattr__"] = complete
    sys.modules[name] = package
    return package


def _missing(module: str, attr: str) -> Any:
    raise AttributeError(f"module {module!r} has no attribute {attr!r}")


def replay_addons() -> list[Any]:
    """Instances of :data:`ADDONS`."""
    package = addon_modules()
    out = []
    for module, cls in ADDONS:
        mod = importlib.import_module(f"{package.__name__}.{module}")
        out.append(getattr(mod, cls)())
    return out


addon_modules()
