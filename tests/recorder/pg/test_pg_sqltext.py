"""The SQL-aware splitter, traceparent extraction and SQL redaction."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recorder.pg import SqlRedactor, split_statements
from recorder.pg.sqltext import find_traceparent, traceparent_of_app_name
from understudy import redact
from understudy.redact import Pseudonymizer, RedactionPolicy, Redactor, is_secret_name
from understudy.sqlredact import HINT_WORDS

TOK = Redactor(RedactionPolicy(), Pseudonymizer(b"k" * 32)).token
SQL = SqlRedactor(Redactor(RedactionPolicy(), Pseudonymizer(b"k" * 32)))
TP = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SELECT 1", ["SELECT 1"]),
        ("SELECT 1;", ["SELECT 1;"]),
        ("  SELECT 1 ;  ", ["  SELECT 1 ;  "]),
        ("SELECT 1; SELECT 2;", ["SELECT 1", "SELECT 2"]),
        ("SELECT 'a;b'; SELECT 'it''s;'", ["SELECT 'a;b'", "SELECT 'it''s;'"]),
        ("SELECT E'\\';'; SELECT 2", ["SELECT E'\\';'", "SELECT 2"]),
        ('SELECT 1 AS "x;y"; SELECT 2', ['SELECT 1 AS "x;y"', "SELECT 2"]),
        ("DO $$BEGIN PERFORM 1; END$$; SELECT 2", ["DO $$BEGIN PERFORM 1; END$$", "SELECT 2"]),
        ("SELECT $a$;$b$;$a$; SELECT 2", ["SELECT $a$;$b$;$a$", "SELECT 2"]),
        ("SELECT $1; SELECT a$b; SELECT 3", ["SELECT $1", "SELECT a$b", "SELECT 3"]),
        ("SELECT 1 -- c;\n; SELECT 2", ["SELECT 1 -- c;", "SELECT 2"]),
        (
            "/* a /* nested; */ ; */ SELECT 1; SELECT 2",
            ["/* a /* nested; */ ; */ SELECT 1", "SELECT 2"],
        ),
        ("SELECT 1;; ;", ["SELECT 1;; ;"]),
        ("SELECT 1; -- only a comment", ["SELECT 1; -- only a comment"]),
        ("", []),
        ("  -- nothing\n", []),
        (";", []),
        ("SELECT 'unterminated; SELECT 2", ["SELECT 'unterminated; SELECT 2"]),
    ],
)
def test_split_statements(text, expected):
    assert split_statements(text) == expected


_PIECES = st.sampled_from(
    ["SELECT 1", "SELECT 'a;b'", "SELECT E'x\\'y;'", 'SELECT "q;"', "SELECT $t$;$t$",
     "SELECT 1 /* ; */", "SELECT 2 -- ;\n", "DO $$BEGIN NULL; END$$", "SELECT $1"]
)  # fmt: skip


@given(st.lists(_PIECES, min_size=2, max_size=6))
def test_split_round_trip(pieces):
    assert split_statements("; ".join(pieces)) == [p.strip() for p in pieces]


@given(st.text(max_size=200))
def test_split_never_fails(text):
    for piece in split_statements(text):
        assert piece in text


def test_traceparent():
    assert find_traceparent(f"SELECT 1 /*traceparent='{TP}'*/") == TP
    assert find_traceparent(f"SELECT 1 /*action='x',traceparent='{TP.upper()}'*/") == TP
    assert find_traceparent("SELECT 1 /* traceparent=nothing */") is None
    assert find_traceparent("SELECT 1") is None
    assert traceparent_of_app_name(TP) == TP
    assert traceparent_of_app_name(f"svc traceparent={TP}") == TP
    assert traceparent_of_app_name("psql") is None and traceparent_of_app_name(None) is None


def test_hint_words_cover_every_secret_word():
    """The cheap pre-filter must not miss a name is_secret_name calls secret."""
    for word in (*redact._SECRET_WORDS, *redact._SECRET_PHRASES, *redact.DEFAULT_JSON_KEYS):
        assert SQL.may_hold_secrets(f"SELECT {word} FROM t"), word
        assert SQL.may_hold_secrets(f"SELECT x{word.title().replace('_', '')}Y FROM t"), word
    assert not SQL.may_hold_secrets("SELECT abalance FROM pgbench_accounts WHERE aid = 1")
    assert set(HINT_WORDS) >= set(redact._SECRET_WORDS) - {"apikey"} | {"apikey"}


@pytest.mark.parametrize(
    ("sql", "secret"),
    [
        ("UPDATE users SET password = $1 WHERE id = $2", {0}),
        ("SELECT * FROM u WHERE u.api_token = $2 AND name = $1", {1}),
        ('SELECT * FROM u WHERE $1::text = "Password"', {0}),
        ("SELECT * FROM u WHERE secret_code IN ($1, $2) OR id IN ($3)", {0, 1}),
        ("SELECT * FROM u WHERE token = ANY($1)", {0}),
        ("INSERT INTO u (id, name, password) VALUES ($1, $2, crypt($3, gen_salt('bf')))", {2}),
        ("INSERT INTO u (password, id) VALUES ($1, $2), ($3, $4)", {0, 2}),
        ("SELECT login($1, $2)", set()),  # not covered: no column in sight
        ("SELECT * FROM t WHERE id = $1", set()),
    ],
)
def test_secret_params(sql, secret):
    assert SQL.secret_params(sql) == secret


_LITERALS = [
    ("UPDATE u SET password = 'pw1' WHERE id = 3",
     "UPDATE u SET password = {} WHERE id = 3", ["pw1"]),
    ("SELECT 1 FROM u WHERE 'it''s' = api_key", "SELECT 1 FROM u WHERE {} = api_key", ["it's"]),
    ("SELECT 1 FROM u WHERE ssn IN ('1', '2')",
     "SELECT 1 FROM u WHERE ssn IN ({}, {})", ["1", "2"]),
    ("INSERT INTO u (id, cvv) VALUES (1, 123), (2, 456)",
     "INSERT INTO u (id, cvv) VALUES (1, {}), (2, {})", ["123", "456"]),
    ("CREATE ROLE r LOGIN PASSWORD 'x1'", "CREATE ROLE r LOGIN PASSWORD {}", ["x1"]),
    ("SELECT name FROM u WHERE id = 5", "SELECT name FROM u WHERE id = 5", []),
    ("SELECT password FROM u WHERE id = 5", "SELECT password FROM u WHERE id = 5", []),
]  # fmt: skip


@pytest.mark.parametrize(("sql", "template", "secrets"), _LITERALS)
def test_redact_literals(sql, template, secrets):
    assert SQL.redact_sql(sql) == template.format(*(f"'{TOK(s)}'" for s in secrets))


def test_secret_columns_use_the_policy_extras():
    custom = SqlRedactor(
        Redactor(RedactionPolicy.build(extra_json_keys=["pin"]), Pseudonymizer(b"k" * 32))
    )
    assert custom.secret_columns(["id", "pin", "PasswordHash", "max_tokens"]) == (1, 2)
    assert custom.secret_params("UPDATE cards SET pin = $1") == {0}
    assert is_secret_name("password_hash")
