"""Hostile and broken inputs: exit 2, one line, nothing written, nothing executed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from io_helpers import rows

from understudy.cli import cli


def _invoke(fmt: str, src: Path, tape: Path, key_hex: str, *extra: str):
    return CliRunner().invoke(
        cli, ["import", fmt, str(src), "--tape", str(tape), *extra],
        env={"UNDERSTUDY_KEY": key_hex, "UNDERSTUDY_KEY_FILE": ""},
    )  # fmt: skip


GOOD_ENTRY = {
    "startedDateTime": "2026-01-02T03:04:05.000Z",
    "time": 3,
    "request": {"method": "GET", "url": "http://h/x", "headers": []},
    "response": {"status": 200, "headers": [], "content": {"text": "ok"}},
}


def _har(tmp: Path, doc: object) -> Path:
    p = tmp / "in.har"
    p.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return p


CASES = {
    "malformed JSON HAR": ("har", lambda t: _har(t, '{"log": {"entries": [{"startedDa'),
                           "not a HAR file: invalid JSON at line 1"),
    "HAR without entries": ("har", lambda t: _har(t, {"log": {"version": "1.2"}}),
                            "not a HAR file: no log.entries list"),
    "HAR entry without URL": (
        "har",
        lambda t: _har(t, {"log": {"entries": [
            GOOD_ENTRY, {**GOOD_ENTRY, "request": {"method": "GET"}}]}}),
        "entry 1: request.url is missing or not a string",
    ),
    "HAR entry with bad base64": (
        "har",
        lambda t: _har(t, {"log": {"entries": [{**GOOD_ENTRY, "response": {
            "status": 200, "content": {"text": "%%%", "encoding": "base64"}}}]}}),
        "entry 0: response.content.text is not valid base64",
    ),
    "YAML with a Python tag": (
        "vcr",
        lambda t: _write(t / "evil.yaml",
                         f'!!python/object/apply:os.system ["touch {t}/PWNED"]\n'),
        "refused: YAML tag !!python/object/apply:os.system is not allowed",
    ),
    "cassette of another version": (
        "vcr",
        lambda t: _write(t / "old.yaml", "- request: {}\n  response: {}\n"),
        "no 'interactions' list",
    ),
    "tnetstring claiming a terabyte": (
        "mitm",
        lambda t: _write(t / "huge.flows", "999999999999:xx"),
        "not a readable mitmproxy flow file",
    ),
    "HAR given to import mitm": ("mitm", lambda t: _har(t, {"log": {"entries": []}}),
                                 "looks like JSON, not a mitmproxy flow file"),
    "non-existent file": ("har", lambda t: t / "missing.har", "missing.har: no such file"),
    "directory instead of file": ("vcr", lambda t: _mkdir(t / "cassettes"),
                                  "is a directory, not a file"),
    "no exchange at all": ("har", lambda t: _har(t, {"log": {"entries": []}}),
                           "no HTTP exchange found"),
}  # fmt: skip


def _write(p: Path, text: str) -> Path:
    p.write_text(text)
    return p


def _mkdir(p: Path) -> Path:
    p.mkdir()
    return p


def _assert_refused(result, message: str, tmp: Path, before: set[str]) -> None:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert message in lines[0]
    assert {p.name for p in tmp.iterdir()} == before  # no tape, no staging directory


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_input_is_refused_cleanly(case, tmp_path, test_key) -> None:
    fmt, make, message = CASES[case]
    src = make(tmp_path)
    before = {p.name for p in tmp_path.iterdir()}
    tape = tmp_path / "new" / "dirs" / "out.tape"  # made for the tape, removed with it
    result = _invoke(fmt, src, tape, test_key.hex())
    _assert_refused(result, message, tmp_path, before)
    assert not (tmp_path / "PWNED").exists()


def test_truncated_flow_file(mitm_capture, tmp_path, test_key) -> None:
    data = mitm_capture.flows.read_bytes()
    src = _write(tmp_path / "cut.flows", "")
    src.write_bytes(data[: len(data) * 2 // 3])
    before = {p.name for p in tmp_path.iterdir()}
    result = _invoke("mitm", src, tmp_path / "out.tape", test_key.hex())
    _assert_refused(result, "truncated or corrupt?", tmp_path, before)


def test_oversized_input(tmp_path, test_key) -> None:
    src = _har(tmp_path, {"log": {"entries": [GOOD_ENTRY] * 50}})
    before = {p.name for p in tmp_path.iterdir()}
    result = _invoke("har", src, tmp_path / "out.tape", test_key.hex(), "--max-size", "1KiB")
    _assert_refused(result, "larger than --max-size 1024", tmp_path, before)


def test_a_bad_file_leaves_an_existing_tape_untouched(tmp_path, test_key) -> None:
    tape = tmp_path / "kept.tape"
    good = _har(tmp_path, {"log": {"entries": [GOOD_ENTRY]}})
    assert _invoke("har", good, tape, test_key.hex()).exit_code == 0
    parts = sorted(p.name for p in (tape / "http").iterdir())
    meta = (tape / "tape.json").read_bytes()
    bad = _write(tmp_path / "bad.har", '{"log": {"entries": [')
    result = CliRunner().invoke(
        cli, ["import", "har", str(good), str(bad), "--tape", str(tape)],
        env={"UNDERSTUDY_KEY": test_key.hex()},
    )  # fmt: skip
    assert result.exit_code == 2 and "bad.har: not a HAR file" in result.output
    assert sorted(p.name for p in (tape / "http").iterdir()) == parts
    assert (tape / "tape.json").read_bytes() == meta
    assert sorted(p.name for p in tape.iterdir()) == ["http", "tape.json"]
    assert len(rows(tape)) == 1


def test_a_real_process_prints_one_line(tmp_path, understudy_env) -> None:
    from io_helpers import run_cli

    res = run_cli("import", "vcr", str(tmp_path), "--tape", str(tmp_path / "t"),
                  env=understudy_env)  # fmt: skip
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        f"Error: {tmp_path} is a directory, not a file; name the capture files inside it"
    ]
    assert not (tmp_path / "t").exists()


def test_non_http_entries_are_skipped_with_reasons(tmp_path, test_key) -> None:
    import gzip

    entries = [
        GOOD_ENTRY,
        {**GOOD_ENTRY, "request": {"method": "GET", "url": "data:image/png;base64,AAAA"}},
        {**GOOD_ENTRY, "request": {"method": "CONNECT", "url": "https://h:443/"}},
        {**GOOD_ENTRY, "response": {"status": 0, "_error": "net::ERR_CONNECTION_REFUSED"}},
    ]
    src = tmp_path / "in.har.gz"
    src.write_bytes(gzip.compress(json.dumps({"log": {"entries": entries}}).encode()))
    tape = tmp_path / "t.tape"
    result = _invoke("har", src, tape, test_key.hex(), "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["exchanges"] == 2 and summary["skipped"] == 2
    assert summary["files"][0]["skipped"] == {
        "data URL (not HTTP)": 1,
        "CONNECT tunnel (its exchanges are separate entries)": 1,
    }
    failed = next(r for r in rows(tape) if r["status"] is None)
    assert "ERR_CONNECTION_REFUSED" in failed["error"]
