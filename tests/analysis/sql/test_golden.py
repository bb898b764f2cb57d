"""Golden SQL -> fingerprint fixtures: any change in sqlglot's output fails here, loudly."""

from __future__ import annotations

from pathlib import Path

from understudy.sqlfp._sqlglot import SQLGLOT_VERSION
from understudy.sqlfp.golden import REGEN_COMMAND, check_golden, golden_case, read_golden

GOLDEN = Path(__file__).resolve().parents[3] / "fixtures" / "sql" / "fingerprints.jsonl"


def test_golden_fixtures_have_enough_cases() -> None:
    meta, cases = read_golden(GOLDEN)
    assert meta["regenerate"] == REGEN_COMMAND
    assert len(cases) >= 60
    assert len({c["sql"] for c in cases}) == len(cases)


def test_golden_fingerprints_unchanged() -> None:
    meta, _ = read_golden(GOLDEN)
    problems = check_golden(GOLDEN)
    if problems:
        raise AssertionError(
            f"{len(problems)} golden SQL fingerprint(s) changed (fixtures made with sqlglot "
            f"{meta.get('sqlglot')}, running {SQLGLOT_VERSION}).\n"
            "Fingerprints key recorded worlds: a change orphans every recorded SQL call.\n"
            "If the change is intended (a deliberate normalisation change or a reviewed "
            f"sqlglot upgrade), regenerate with\n    {REGEN_COMMAND}\n"
            "and re-record or migrate worlds.\n\n" + "\n\n".join(problems)
        )


def test_golden_case_round_trips_through_check(tmp_path: Path) -> None:
    path = tmp_path / "g.jsonl"
    case = golden_case("SELECT 1")
    case["fingerprint"] = "0" * 16
    import json

    path.write_text(json.dumps(case) + "\n")
    [problem] = check_golden(path)
    assert "fingerprint" in problem
