"""The check harness: run candidate code against a world served by a replayer child.

``understudy check`` and the pytest plugin (``understudy.pytest_plugin``) are built from:

- :mod:`~understudy.harness.artefacts` the run's owner-only artefact directory;
- :mod:`~understudy.harness.child` the ``understudy replay`` child: start on port 0, wait
  for its ready file and ports, watch it, stop it with SIGINT and read its report;
- :mod:`~understudy.harness.environment` the candidate's proxy, CA and libpq variables;
- :mod:`~understudy.harness.command` the candidate command (process group, timeout,
  forwarded signals);
- :mod:`~understudy.harness.harness` the pieces together for one run.

The judge (``analysis.judge``) is called by those two front doors, never from here.

Example::

    facts = load_facts(Path("prod.world"))
    with Harness.start(Path("prod.world"), facts, out=None, seed=7) as h:
        result = run_command(["pytest", "-q"], h.candidate_env(os.environ),
                             watch=h.child.failure)
        report = h.stop()
"""

from __future__ import annotations

from understudy.harness.artefacts import Artefacts, check_out_dir, check_output_file
from understudy.harness.child import ReplayerChild, ReplaySettings, log_tail
from understudy.harness.command import CommandResult, resolve_command, run_command
from understudy.harness.environment import Endpoints, WorldFacts, apply, overrides, world_facts
from understudy.harness.errors import HarnessError
from understudy.harness.harness import Harness, draw_seed, load_facts

__all__ = [
    "Artefacts",
    "CommandResult",
    "Endpoints",
    "Harness",
    "HarnessError",
    "ReplaySettings",
    "ReplayerChild",
    "WorldFacts",
    "apply",
    "check_out_dir",
    "check_output_file",
    "draw_seed",
    "load_facts",
    "log_tail",
    "overrides",
    "resolve_command",
    "run_command",
    "world_facts",
]
