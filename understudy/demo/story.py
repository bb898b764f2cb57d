"""The demo's story, step by step: production, the world, two candidate versions, the diff.

1. a real PostgreSQL with the demo schema (``fixtures/demo_schema.sql``);
2. the plan-limited third-party API (``fixtures/plans_api.py``) on a free loopback port;
3. *production*: ``understudy record`` (HTTP proxy + PostgreSQL relay, one tape) in front
   of the invoice job v1 (``fixtures/demo_service.py``), the support tool and the API's
   other clients (``fixtures/demo_traffic.py``); then the API and the database stop;
4. ``understudy analyze``: the tape becomes a world (limits, classes, SQL) and a report;
5. ``understudy check`` runs v1 against the world alone: it passes;
6. ``understudy check`` runs v2 (N+1 queries, unpaced API calls): it fails, naming both;
7. ``understudy diff`` of the two check session tapes.

Everything runs as child processes (:mod:`understudy.demo.procs`); nothing here imports the
recorder, the analysis or the replayer.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from understudy.demo.console import Progress
from understudy.demo.database import describe, load_schema, start_database
from understudy.demo.procs import Children, DemoError, Finished, wait_for_port
from understudy.demo.workspace import CUSTOMERS, Workspace
from understudy.testing.postgres import PostgresServer, free_port

__all__ = ["STEPS", "Demo"]

STEPS = 7
#: What v2 must be caught doing.
EXPECTED_V2 = ("n_plus_one", "throttled")
#: Children whose tables we show print them this wide.
WIDE = {"COLUMNS": "120"}


@dataclass
class Demo:
    """One run of the demo in ``ws`` (see the module docstring)."""

    ws: Workspace
    repo: Path
    progress: Progress
    kids: Children
    seed: int = 7
    keep: bool = False
    db: PostgresServer | None = None
    api_url: str = ""
    summary: dict[str, Any] = field(default_factory=dict)

    # -- helpers -------------------------------------------------------------------------
    def understudy(self, *args: str | Path) -> list[str]:
        return [sys.executable, "-m", "understudy", *(str(a) for a in args)]

    def fixture(self, name: str, *args: str | Path) -> list[str]:
        return [sys.executable, str(self.repo / "fixtures" / name), *(str(a) for a in args)]

    def service(self, version: str, *args: str | Path) -> list[str]:
        return self.fixture("demo_service.py", "--version", version, "--api", self.api_url, *args)

    def must(self, done: Finished, what: str) -> Finished:
        if done.returncode != 0:
            raise DemoError(
                f"{what} exited with status {done.returncode}; see {done.log}:\n{done.tail()}"
            )
        return done

    def shown(self, argv: Sequence[str]) -> str:
        """``argv`` as a reader would type it (``python``, paths relative to the demo)."""
        out = []
        for a in argv:
            a = "python" if a == sys.executable else a
            for base, name in ((self.ws.root, "$DEMO"), (self.repo, ".")):
                if a.startswith(str(base) + "/"):
                    a = name + a[len(str(base)) :]
            out.append(a)
        return " ".join(out)

    # -- the steps -----------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        self.summary = {"directory": str(self.ws.root), "seed": self.seed}
        try:
            self.start_database()
            api = self.start_api()
            self.record_production(api)
        finally:
            self.stop_production()
        self.analyze()
        verdicts = {v: self.check(v) for v in ("v1", "v2")}
        self.summary["verdicts"] = verdicts
        self.diff(verdicts)
        self.summary["story_holds"] = story_holds(verdicts) and not self.summary.get("problems")
        return self.summary

    def start_database(self) -> None:
        with self.progress.step("Production database: a real PostgreSQL, demo schema loaded") as s:
            self.db = start_database(self.ws.pg)
            load_schema(self.db, self.repo / "fixtures" / "demo_schema.sql")
            counts = self.db.psql(
                "SELECT (SELECT count(*) FROM customers) || ' customers (2 free, 2 pro), ' || "
                "(SELECT count(*) FROM orders) || ' orders, ' || "
                "(SELECT count(*) FROM order_items) || ' order lines, ' || "
                "(SELECT count(*) FROM items) || ' items'"
            )
            s.done(f"{describe(self.db)}; {counts.stdout.decode().strip()}")

    def start_api(self) -> Any:
        title = "Third-party API: fixtures/plans_api.py (free 5/s burst 5, no export; pro 20/s)"
        with self.progress.step(title) as s:
            port = free_port()
            api = self.kids.start("plans-api", self.fixture("plans_api.py", "--port", str(port)))
            wait_for_port(port, api, "the plans API", self.kids.log_path("plans-api"))
            self.api_url = f"http://127.0.0.1:{port}"
            self.summary["api_url"] = self.api_url
            s.done(f"listening on {self.api_url}")
        return api

    def record_production(self, api: Any) -> None:
        assert self.db is not None
        with self.progress.step("Production, recorded: understudy record (HTTP + PostgreSQL)") as s:
            http, pg = free_port(), free_port()
            argv = self.understudy(
                "record", "--tape", self.ws.tape, "--http", f"127.0.0.1:{http}",
                "--pg", f"127.0.0.1:{pg}", "--pg-upstream", f"127.0.0.1:{self.db.port}",
                "--confdir", self.ws.confdir,
            )  # fmt: skip
            self.progress.say(self.shown(argv), "dim")
            rec = self.kids.start("recorder", argv)
            log = self.kids.log_path("recorder")
            wait_for_port(http, rec, "the recorder (HTTP)", log)
            wait_for_port(pg, rec, "the recorder (PostgreSQL)", log)
            wait_for_banner(rec, log)
            env = {
                "HTTP_PROXY": f"http://127.0.0.1:{http}",
                "http_proxy": f"http://127.0.0.1:{http}",
                "DATABASE_URL": f"postgresql://{self.db.user}@127.0.0.1:{pg}/{self.db.database}",
            }
            keys = ("--keys", self.ws.keys)
            runs = [
                ("invoice job v1, all customers", "prod-invoice-1",
                 self.service("v1", *keys, "--customers", CUSTOMERS)),
                ("support tool: show item 7", "prod-support-1", self.service("v1", "--item", "7")),
                ("support tool: show item 23", "prod-support-2",
                 self.service("v1", "--item", "23")),
                ("the API's other clients: partner syncs (free), dashboards (pro)",
                 "prod-traffic", self.fixture("demo_traffic.py", "--api", self.api_url,
                                              "--seconds", "5")),
                ("invoice job v1, re-run for customers 3,4", "prod-invoice-2",
                 self.service("v1", *keys, "--customers", "3,4")),
            ]  # fmt: skip
            for title, name, cmd in runs:
                done = self.must(self.kids.run(name, cmd, env=env), title)
                self.progress.say(f"{title}: ok ({done.duration_s:.1f} s)")
            code = self.kids.stop(rec, signal.SIGINT, grace=60)
            counters = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
            if code != 0:
                raise DemoError(f"the recorder exited with status {code}; see {log}")
            for line in counters[-3:]:
                self.progress.say(line, "dim")
            http_rows, sql_rows = tape_rows(self.ws.tape)
            self.summary["production"] = {"http_exchanges": http_rows, "sql_statements": sql_rows}
            s.done(f"{self.ws.tape.name}: {http_rows} HTTP exchanges, {sql_rows} SQL statements")

    def stop_production(self) -> None:
        """Production is over: stop the API and the database (only the world answers now)."""
        self.kids.close()
        if self.db is not None:
            self.db.stop()
            self.db = None
        if not self.keep:
            shutil.rmtree(self.ws.pg, ignore_errors=True)
        # the server user needed to traverse to its data directory: owner-only again
        os.chmod(self.ws.root, 0o700)

    def analyze(self) -> None:
        with self.progress.step("Mine the world: understudy analyze") as s:
            argv = self.understudy(
                "analyze", self.ws.tape, "--world", self.ws.world, "--report", self.ws.report_html
            )
            self.progress.say(self.shown(argv), "dim")
            done = self.must(self.kids.run("analyze", argv, env=WIDE), "understudy analyze")
            self.progress.block(done.output())
            learnt = world_facts(self.ws.world)
            self.summary["world"] = learnt
            for line in learnt["lines"]:
                self.progress.say(line, "bold")
            s.done(f"{self.ws.world.name} and {self.ws.report_html.name} written")

    def check(self, version: str) -> dict[str, Any]:
        what = {"v1": "v1 (production's code)", "v2": "v2 (the patch: per-item, all at once)"}
        with self.progress.step(f"Check {what[version]}: understudy check against the world") as s:
            if not has_command("check"):
                s.skip("`understudy check` is not in this build yet: step not run")
                self.problem(f"check {version}: `understudy check` is not available")
                return {"skipped": "`understudy check` is not available"}
            verdict_path, out = self.ws.verdict(version), self.ws.check_dir(version)
            candidate = self.service(version, "--keys", self.ws.keys, "--customers", CUSTOMERS)
            argv = self.understudy(
                "check", "--world", self.ws.world, "--report", verdict_path,
                "--seed", str(self.seed), "--out", out, "--", *candidate,
            )  # fmt: skip
            self.progress.say(self.shown(argv), "dim")
            done = self.kids.run(f"check-{version}", argv, env=WIDE)
            self.progress.block(done.output())
            if done.returncode == 2 or not verdict_path.is_file():
                raise DemoError(
                    f"understudy check ({version}) exited with status {done.returncode} and "
                    f"no verdict; see {done.log}:\n{done.tail()}"
                )
            verdict = json.loads(verdict_path.read_text(encoding="utf-8"))
            findings = verdict.get("findings", [])
            result = {
                "verdict": verdict.get("verdict"),
                "exit_code": done.returncode,
                "kinds": sorted({f["kind"] for f in findings}),
                "failing": sorted({f["kind"] for f in findings if f.get("failing")}),
                "verdict_file": verdict_path.name,
                "session_tape": _rel(find_session_tape(out), self.ws.root),
            }
            expected = {"v1": ("pass", 0), "v2": ("fail", 1)}[version]
            if (result["verdict"], result["exit_code"]) != expected:
                self.problem(
                    f"check {version}: expected {expected[0]} (exit {expected[1]}), got "
                    f"{result['verdict']} (exit {result['exit_code']}); see {done.log}"
                )
            if version == "v2" and not all(k in result["failing"] for k in EXPECTED_V2):
                self.problem(f"check v2: expected failing {EXPECTED_V2}, got {result['failing']}")
            kinds = ", ".join(result["failing"]) or "no failing findings"
            s.done(f"{result['verdict']} (exit {done.returncode}): {kinds}; {verdict_path.name}")
            return result

    def diff(self, verdicts: dict[str, dict[str, Any]]) -> None:
        with self.progress.step("What changed: understudy diff of the two sessions") as s:
            tapes = [verdicts[v].get("session_tape") for v in ("v1", "v2")]
            if not has_command("diff"):
                s.skip("`understudy diff` is not in this build yet: step not run")
                self.problem("diff: `understudy diff` is not available")
                self.summary["diff"] = {"skipped": "`understudy diff` is not available"}
                return
            if not all(tapes):
                s.skip("no session tapes to compare (a check did not run)")
                self.summary["diff"] = {"skipped": "no session tapes"}
                return
            a, b = (self.ws.root / str(t) for t in tapes)
            argv = self.understudy("diff", a, b)
            self.progress.say(self.shown(argv), "dim")
            done = self.must(self.kids.run("diff", argv, env=WIDE), "understudy diff")
            self.progress.block(done.output())
            tmp = self.ws.root / ".diff.json.tmp"
            self.must(
                self.kids.run("diff-json", [*argv, "--json"], stdout=tmp), "understudy diff --json"
            )
            doc = json.loads(tmp.read_text(encoding="utf-8"))
            os.replace(tmp, self.ws.diff_json)
            headline = diff_headline(doc, done.output())
            self.summary["diff"] = {"file": self.ws.diff_json.name, "headline": headline}
            s.done(f"{self.ws.diff_json.name}: {headline}")

    def problem(self, text: str) -> None:
        self.summary.setdefault("problems", []).append(text)


def has_command(name: str) -> bool:
    """Whether this build's command line has ``understudy NAME``."""
    from understudy.cli import cli

    return name in cli.commands


def find_session_tape(out: Path) -> Path | None:
    """The session tape ``understudy check`` left under ``out``: ``session.tape``, else the
    first directory holding a ``tape.json``."""
    if (out / "session.tape" / "tape.json").is_file():
        return out / "session.tape"
    found = sorted(p.parent for p in out.rglob("tape.json")) if out.is_dir() else []
    return found[0] if found else None


def _rel(path: Path | None, root: Path) -> str | None:
    return None if path is None else str(path.relative_to(root))


def diff_headline(doc: dict[str, Any], text: str) -> str:
    """The diff's one-line headline: its ``headline`` key, else the first line it printed."""
    for key in ("headline", "summary"):
        if isinstance(doc.get(key), str) and doc[key]:
            return str(doc[key])
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[0] if lines else "no differences reported"


def wait_for_banner(proc: Any, log: Path, timeout: float = 60.0) -> None:
    """Wait for the recorder's ``writing to`` line (start-up complete)."""
    deadline = time.monotonic() + timeout
    while "writing to" not in log.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise DemoError(f"the recorder did not finish start-up; see {log}")
        time.sleep(0.05)


def tape_rows(tape: Path) -> tuple[int, int]:
    """HTTP and SQL rows of a tape."""
    from understudy.tape import open_tape

    t = open_tape(tape)
    return (
        t.count("http") if "http" in t.parts else 0,
        t.count("sql") if "sql" in t.parts else 0,
    )


def world_facts(world: Path) -> dict[str, Any]:
    """What the world learnt, in a few lines: limits per class, refusals, SQL."""
    doc = json.loads((world / "world.json").read_text(encoding="utf-8"))
    lines = []
    for lim in sorted(doc.get("rate_limits", []), key=lambda x: x.get("rate_per_s", 0)):
        lines.append(
            f"limit: {lim.get('identity_class') or lim.get('scope')} "
            f"{lim['rate_per_s']:.2f}/s burst {lim['burst']} on {lim['host']} "
            f"{lim['route']} (answers {lim.get('limit_status')}, confidence "
            f"{lim.get('confidence')})"
        )
    for perm in doc.get("permissions", []):
        if not perm.get("allowed"):
            lines.append(
                f"refused: {perm['identity_class']} on {perm['method']} {perm['route']} "
                f"({perm['status']})"
            )
    classes = {c["name"]: len(c.get("identities", [])) for c in doc.get("identity_classes", [])}
    lines.append(
        "classes: "
        + ", ".join(f"{k} ({v} keys)" for k, v in sorted(classes.items()))
        + f"; {len(doc.get('sql', []))} SQL fingerprints, "
        f"{len(doc.get('n_plus_one', []))} N+1 patterns"
    )
    return {
        "rate_limits": doc.get("rate_limits", []),
        "classes": classes,
        "sql_fingerprints": len(doc.get("sql", [])),
        "n_plus_one": len(doc.get("n_plus_one", [])),
        "lines": lines,
    }


def story_holds(verdicts: dict[str, dict[str, Any]]) -> bool:
    """v1 passed, v2 failed on (at least) the N+1 and the throttling."""
    v1, v2 = verdicts.get("v1", {}), verdicts.get("v2", {})
    return (
        v1.get("verdict") == "pass"
        and v1.get("exit_code") == 0
        and v2.get("verdict") == "fail"
        and all(k in v2.get("failing", []) for k in EXPECTED_V2)
    )
