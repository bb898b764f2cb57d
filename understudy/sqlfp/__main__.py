"""``python -m understudy.sqlfp``: fingerprint statements, or regenerate golden fixtures.

Example::

    python -m understudy.sqlfp "SELECT * FROM users WHERE id = 42"
    python -m understudy.sqlfp --regen-golden fixtures/sql/fingerprints.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from understudy.sqlfp import fingerprint_with_params
from understudy.sqlfp.golden import check_golden, read_golden, write_golden

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m understudy.sqlfp",
        description="Fingerprint SQL statements the way understudy groups them.",
    )
    parser.add_argument("sql", nargs="*", help="statement texts to fingerprint (JSON out)")
    parser.add_argument("--regen-golden", type=Path, metavar="PATH", help="rewrite a golden file")
    parser.add_argument("--check-golden", type=Path, metavar="PATH", help="compare a golden file")
    args = parser.parse_args(argv)
    if args.regen_golden:
        _, cases = read_golden(args.regen_golden)
        n = write_golden(args.regen_golden, [c["sql"] for c in cases])
        print(f"wrote {n} cases to {args.regen_golden}; review the diff before committing")
        return 0
    if args.check_golden:
        problems = check_golden(args.check_golden)
        for p in problems:
            print(p)
        return 1 if problems else 0
    for sql in args.sql:
        fp, params = fingerprint_with_params(sql)
        record = {
            "fingerprint": fp.fingerprint,
            "normalized": fp.normalized,
            "statement_type": fp.statement_type,
            "tables": list(fp.tables),
            "parsed": fp.parsed,
            "params": list(params),
        }
        print(json.dumps(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
