# ruff: noqa: E501
"""A varied workload for the pg_stat_statements agreement test.

Each entry is ``(label, sql, params)``; ``params`` is ``None`` for the simple query protocol,
else the text values bound through the extended protocol (``$n`` placeholders).
"""

from __future__ import annotations

SCHEMA = """
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
CREATE TABLE users (id int PRIMARY KEY, name text, email text, active bool DEFAULT true,
                    created_at timestamptz DEFAULT now(), org_id int, score numeric);
CREATE TABLE orders (id bigserial PRIMARY KEY, user_id int, total numeric(10, 2),
                     status text, created_at timestamptz DEFAULT now(), data jsonb);
CREATE TABLE "Account" ("Id" int PRIMARY KEY, "Name" text, "orgId" int);
CREATE TABLE items (id int PRIMARY KEY, tags text[], sku text);
CREATE TABLE pgbench_branches (bid int PRIMARY KEY, bbalance int, filler char(88));
CREATE TABLE pgbench_tellers (tid int PRIMARY KEY, bid int, tbalance int, filler char(84));
CREATE TABLE pgbench_accounts (aid int PRIMARY KEY, bid int, abalance int, filler char(84));
CREATE TABLE pgbench_history (tid int, bid int, aid int, delta int, mtime timestamp,
                              filler char(22));
INSERT INTO users (id, name, email, org_id, score)
  SELECT g, 'user' || g, 'u' || g || '@example.com', g % 7, g * 1.5
  FROM generate_series(1, 200) g;
INSERT INTO orders (user_id, total, status, data)
  SELECT g % 200 + 1, g * 2.5, 'new', jsonb_build_object('sku', 'S' || g, 'kind', 'k')
  FROM generate_series(1, 500) g;
INSERT INTO "Account" SELECT g, 'acct' || g, g % 3 FROM generate_series(1, 50) g;
INSERT INTO items SELECT g, ARRAY['a', 'b'], 'sku' || g FROM generate_series(1, 50) g;
INSERT INTO pgbench_branches SELECT g, 0, '' FROM generate_series(1, 5) g;
INSERT INTO pgbench_tellers SELECT g, (g - 1) / 10 + 1, 0, '' FROM generate_series(1, 50) g;
INSERT INTO pgbench_accounts SELECT g, (g - 1) / 1000 + 1, 0, '' FROM generate_series(1, 5000) g;
"""

TP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

Entry = tuple[str, str, "list[str] | None"]

# fmt: off
WORKLOAD: list[Entry] = [
    ("pk-1", "SELECT * FROM users WHERE id = 1", None),
    ("pk-2", "select * from users where id = 2", None),
    ("pk-ws", "SELECT *\n  FROM users\n WHERE id = 42 -- trailing comment", None),
    ('pk-tp', "/*traceparent='00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'*/ SELECT * FROM users WHERE id = 7", None),
    ('pk-sqlcommenter', "SELECT * FROM users WHERE id = 8 /*controller='users',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'*/", None),
    ('pk-strnum', "SELECT * FROM users WHERE id = '3'", None),
    ("pk-upper", "SELECT * FROM USERS WHERE ID = 5", None),
    ('pk-quoted', 'SELECT * FROM "users" WHERE "id" = 6', None),
    ("pk-public", "SELECT * FROM public.users WHERE id = 9", None),
    ("pk-alias", "SELECT * FROM users u WHERE u.id = 10", None),
    ("pk-alias-as", "SELECT * FROM users AS x WHERE x.id = 11", None),
    ("pk-qualified", "SELECT * FROM users WHERE users.id = 12", None),
    ("pk-paren", "SELECT * FROM users WHERE (id = 13)", None),
    ("pk-neg", "SELECT * FROM users WHERE id = -1", None),
    ("pk-block-comment", "SELECT /* hint */ * FROM users /* x */ WHERE id = 14;", None),
    ('email-1', "SELECT id, name FROM users WHERE email = 'a@x.com'", None),
    ('email-2', "SELECT id, name FROM users WHERE email = 'b@y.org'", None),
    ('email-alias', "SELECT id, name AS n FROM users WHERE email = 'c@z.net'", None),
    ('email-qual', "SELECT u.id, u.name FROM users u WHERE u.email = 'd@w.io'", None),
    ("in-2", "SELECT * FROM users WHERE id IN (1, 2)", None),
    ("in-3", "SELECT * FROM users WHERE id IN (1, 2, 3)", None),
    ("in-3b", "SELECT * FROM users WHERE id IN (4,5,6)", None),
    ("in-1", "SELECT * FROM users WHERE id IN (7)", None),
    ("in-10", "SELECT * FROM users WHERE id IN (1,2,3,4,5,6,7,8,9,10)", None),
    ("notin-2", "SELECT * FROM users WHERE id NOT IN (1, 2)", None),
    ('in-str', "SELECT * FROM orders WHERE status IN ('new', 'paid')", None),
    ('in-str3', "SELECT * FROM orders WHERE status IN ('new', 'paid', 'void')", None),
    ("bool-t", "SELECT count(*) FROM users WHERE active = true", None),
    ("bool-f", "SELECT count(*) FROM users WHERE active = FALSE", None),
    ("bool-bare", "SELECT count(*) FROM users WHERE active", None),
    ("is-null", "SELECT count(*) FROM users WHERE email IS NULL", None),
    ("is-not-null", "SELECT count(*) FROM users WHERE email IS NOT NULL", None),
    ("set-null", "UPDATE users SET email = NULL WHERE id = 199", None),
    ('set-str', "UPDATE users SET email = 'z@z.z' WHERE id = 198", None),
    ("pgb-begin", "BEGIN;", None),
    ("pgb-upd-acc", "UPDATE pgbench_accounts SET abalance = abalance + 10 WHERE aid = 5;", None),
    ("pgb-sel-acc", "SELECT abalance FROM pgbench_accounts WHERE aid = 5;", None),
    ("pgb-upd-tel", "UPDATE pgbench_tellers SET tbalance = tbalance + -3 WHERE tid = 1;", None),
    ("pgb-upd-br", "UPDATE pgbench_branches SET bbalance = bbalance + -3 WHERE bid = 1;", None),
    ("pgb-ins-hist", "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (1, 1, 5, -3, CURRENT_TIMESTAMP);", None),
    ("pgb-end", "END;", None),
    ("pgb-begin2", "BEGIN;", None),
    ("pgb-upd-acc2", "UPDATE pgbench_accounts SET abalance = abalance + 77 WHERE aid = 4090;", None),
    ("pgb-sel-acc2", "SELECT abalance FROM pgbench_accounts WHERE aid = 4090;", None),
    ("pgb-ins-hist2", "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (12, 2, 4090, 77, CURRENT_TIMESTAMP);", None),
    ("pgb-end2", "END;", None),
    ('django-1', 'SELECT "users"."id", "users"."name" FROM "users" WHERE ("users"."active" AND "users"."org_id" = 3) ORDER BY "users"."id" ASC LIMIT 21', None),
    ('django-2', 'SELECT "users"."id", "users"."name" FROM "users" WHERE ("users"."active" AND "users"."org_id" = 5) ORDER BY "users"."id" ASC LIMIT 21', None),
    ("django-plain", "SELECT id, name FROM users WHERE active AND org_id = 6 ORDER BY id LIMIT 21", None),
    ("sqla-1", "SELECT users.id AS users_id, users.name AS users_name FROM users WHERE users.id = 5", None),
    ("sqla-2", "SELECT users.id AS users_id, users.name AS users_name \nFROM users \nWHERE users.id = 6", None),
    ('prisma-1', 'SELECT "public"."Account"."Id", "public"."Account"."Name" FROM "public"."Account" WHERE "public"."Account"."Id" = $1 LIMIT $2 OFFSET $3', ['1', '1', '0']),
    ('prisma-2', 'SELECT "public"."Account"."Id", "public"."Account"."Name" FROM "public"."Account" WHERE "public"."Account"."Id" = $1 LIMIT $2 OFFSET $3', ['2', '1', '0']),
    ('prisma-lit', 'SELECT "Account"."Id", "Account"."Name" FROM "Account" WHERE "Account"."Id" = 4 LIMIT 1 OFFSET 0', None),
    ('camel-org', 'SELECT "Name" FROM "Account" WHERE "orgId" = 2', None),
    ('join-1', "SELECT u.name, o.total FROM users u JOIN orders o ON o.user_id = u.id WHERE o.status = 'paid'", None),
    ('join-2', "SELECT users.name, orders.total FROM users INNER JOIN orders ON orders.user_id = users.id WHERE orders.status = 'new'", None),
    ("ljoin-1", "SELECT u.id, count(o.id) FROM users u LEFT JOIN orders o ON o.user_id = u.id GROUP BY u.id", None),
    ("ljoin-2", "SELECT u.id, count(o.id) FROM users u LEFT OUTER JOIN orders o ON o.user_id = u.id GROUP BY u.id", None),
    ('cte-1', "WITH recent AS (SELECT * FROM orders WHERE created_at > now() - interval '1 day') SELECT user_id, count(*) FROM recent GROUP BY user_id", None),
    ('cte-2', "WITH recent AS (SELECT * FROM orders WHERE created_at > now() - interval '2 hours') SELECT user_id, count(*) FROM recent GROUP BY user_id", None),
    ("sub-1", "SELECT * FROM users WHERE id IN (SELECT user_id FROM orders WHERE total > 100)", None),
    ("sub-2", "SELECT * FROM users WHERE id IN (SELECT user_id FROM orders WHERE total > 300)", None),
    ("sub-dec", "SELECT * FROM users WHERE id IN (SELECT user_id FROM orders WHERE total > 250.5)", None),
    ("exists-1", "SELECT name FROM users u WHERE EXISTS (SELECT 1 FROM orders o WHERE o.user_id = u.id AND o.total > 10)", None),
    ("exists-2", "SELECT name FROM users u WHERE EXISTS (SELECT 1 FROM orders o WHERE o.user_id = u.id AND o.total > 20)", None),
    ('derived-1', "SELECT s.n FROM (SELECT count(*) AS n FROM orders WHERE status = 'new') s", None),
    ('derived-2', "SELECT t.n FROM (SELECT count(*) AS n FROM orders WHERE status = 'old') t", None),
    ('ins-1', "INSERT INTO orders (user_id, total, status) VALUES (1, 10.5, 'new')", None),
    ('ins-2', "INSERT INTO orders (user_id, total, status) VALUES (1, 10.5, 'new'), (2, 20.25, 'paid')", None),
    ('ins-3', "INSERT INTO orders (user_id, total, status) VALUES (3, 1.5, 'a'), (4, 2.5, 'b'), (5, 3.5, 'c')", None),
    ('ins-ret', "INSERT INTO orders (user_id, total, status) VALUES (6, 7.5, 'new') RETURNING id", None),
    ('upd-1', "UPDATE orders SET status = 'shipped' WHERE id = 3", None),
    ('upd-2', "update orders set status='void' where id=4", None),
    ("del-1", "DELETE FROM orders WHERE id = 99999", None),
    ("del-2", "DELETE FROM orders WHERE id = 99998", None),
    ("del-using", "DELETE FROM orders o USING users u WHERE o.user_id = u.id AND u.id = 99999", None),
    ('cast-1', "SELECT count(*) FROM orders WHERE created_at > '2024-01-01'::timestamptz", None),
    ('cast-2', "SELECT count(*) FROM orders WHERE created_at > CAST('2024-02-01' AS timestamptz)", None),
    ('cast-int', "SELECT * FROM users WHERE id = '5'::int", None),
    ('func-1', "SELECT lower(name), length(email) FROM users WHERE lower(name) = lower('Bob')", None),
    ('func-2', "SELECT LOWER(name), LENGTH(email) FROM users WHERE LOWER(name) = LOWER('Alice')", None),
    ('coalesce', "SELECT coalesce(email, 'none') FROM users WHERE id = 3", None),
    ('json-1', "SELECT data->>'sku' FROM orders WHERE data->>'kind' = 'k'", None),
    ('json-2', "SELECT data->>'sku' FROM orders WHERE data->>'kind' = 'other'", None),
    ("any-arr", "SELECT * FROM users WHERE id = ANY(ARRAY[1, 2, 3])", None),
    ("any-arr2", "SELECT * FROM users WHERE id = ANY(ARRAY[4, 5, 6])", None),
    ("arith-1", "SELECT (score + 1) * 2 FROM users WHERE id = 1", None),
    ("arith-2", "SELECT score + 1 * 2 FROM users WHERE id = 1", None),
    ("bool-mix-1", "SELECT * FROM users WHERE (active OR org_id = 1) AND id = 5", None),
    ("bool-mix-2", "SELECT * FROM users WHERE active OR (org_id = 1 AND id = 5)", None),
    ("bool-mix-3", "SELECT * FROM users WHERE active OR org_id = 1 AND id = 5", None),
    ("order-1", "SELECT * FROM orders ORDER BY created_at DESC LIMIT 10", None),
    ("order-2", "SELECT * FROM orders ORDER BY created_at DESC LIMIT 50", None),
    ("order-nulls", "SELECT * FROM orders ORDER BY created_at DESC NULLS FIRST LIMIT 5", None),
    ("order-asc", "SELECT * FROM orders ORDER BY created_at ASC LIMIT 5", None),
    ("order-asc-bare", "SELECT * FROM orders ORDER BY created_at LIMIT 5", None),
    ("order-ord1", "SELECT status, count(*) FROM orders GROUP BY 1 ORDER BY 1", None),
    ("order-ord2", "SELECT status, count(*) FROM orders GROUP BY 1 ORDER BY 2", None),
    ("order-alias", "SELECT status AS s, count(*) FROM orders GROUP BY status ORDER BY s", None),
    ("order-expr", "SELECT status, count(*) FROM orders GROUP BY status ORDER BY status", None),
    ("offset-1", "SELECT id FROM users ORDER BY id LIMIT 10 OFFSET 20", None),
    ("offset-2", "SELECT id FROM users ORDER BY id LIMIT 10 OFFSET 30", None),
    ('case-1', "SELECT CASE WHEN score > 10 THEN 'hi' ELSE 'lo' END FROM users WHERE id < 5", None),
    ('case-2', "SELECT CASE WHEN score > 20 THEN 'x' ELSE 'y' END FROM users WHERE id < 9", None),
    ("window-1", "SELECT id, row_number() OVER (PARTITION BY org_id ORDER BY id) FROM users LIMIT 5", None),
    ("window-2", "SELECT id, row_number() OVER (PARTITION BY org_id ORDER BY id) FROM users LIMIT 6", None),
    ("lock-1", "SELECT * FROM orders WHERE id = 1 FOR UPDATE", None),
    ("lock-2", "SELECT * FROM orders WHERE id = 2 FOR UPDATE SKIP LOCKED", None),
    ('upsert-1', "INSERT INTO users (id, name) VALUES (500, 'a') ON CONFLICT (id) DO NOTHING", None),
    ('upsert-2', "INSERT INTO users (id, name) VALUES (501, 'b') ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name", None),
    ('upsert-3', "INSERT INTO users (id, name) VALUES (502, 'c') ON CONFLICT (id) DO UPDATE SET name = excluded.name", None),
    ("distinct", "SELECT DISTINCT org_id FROM users", None),
    ('like-1', "SELECT id FROM users WHERE name LIKE 'user1%'", None),
    ('like-2', "SELECT id FROM users WHERE name LIKE 'user2%'", None),
    ("typmod-10", "SELECT name::varchar(10) FROM users WHERE id = 1", None),
    ("typmod-20", "SELECT name::varchar(20) FROM users WHERE id = 1", None),
    ("between", "SELECT id FROM users WHERE id BETWEEN 1 AND 5", None),
    ("between-ops", "SELECT id FROM users WHERE id >= 1 AND id <= 5", None),
    ('star', 'SELECT * FROM "Account" WHERE "Id" = 1', None),
    ('star-cols', 'SELECT "Id", "Name", "orgId" FROM "Account" WHERE "Id" = 2', None),
    ('collate', 'SELECT name FROM users ORDER BY name COLLATE "C" LIMIT 3', None),
    ("neq-1", "SELECT id FROM users WHERE org_id != 3", None),
    ("neq-2", "SELECT id FROM users WHERE org_id <> 4", None),
    ('array-col', "SELECT id FROM items WHERE tags @> ARRAY['a']", None),
    ('array-col2', "SELECT id FROM items WHERE tags @> ARRAY['a', 'b']", None),
    ("now-fn", "SELECT count(*) FROM orders WHERE created_at < now()", None),
    ("now-kw", "SELECT count(*) FROM orders WHERE created_at < CURRENT_TIMESTAMP", None),
    ("const-1", "SELECT 1", None),
    ("const-2", "select 2", None),
    ('const-str', "SELECT 'a'", None),
    ("const-big", "SELECT * FROM users WHERE id = 3000000000", None),
    ("param-1", "SELECT * FROM users WHERE id = $1", ["1"]),
    ("param-2", "SELECT * FROM users WHERE id = $1", ["2"]),
    ("param-ws", "SELECT *   FROM users WHERE id = $1 /* orm */", ["3"]),
    ("param-2col", "SELECT * FROM users WHERE id = $1 AND active = $2", ["1", "t"]),
    ("param-any", "SELECT * FROM users WHERE id = ANY($1)", ["{1,2,3}"]),
    ("param-in-2", "SELECT * FROM users WHERE id IN ($1, $2)", ["1", "2"]),
    ("param-in-3", "SELECT * FROM users WHERE id IN ($1, $2, $3)", ["1", "2", "3"]),
    ("param-ins", "INSERT INTO orders (user_id, total, status) VALUES ($1, $2, $3)", ["9", "1.25", "new"]),
    ("param-upd", "UPDATE users SET name = $1 WHERE id = $2", ["n", "3"]),
    ("begin-lower", "begin", None),
    ("commit", "COMMIT", None),
    ("begin-upper", "BEGIN", None),
    ("commit-lower", "commit", None),
    ("set-1", "SET statement_timeout = 1000", None),
    ("set-2", "SET statement_timeout = 2000", None),
    ("show", "SHOW work_mem", None),
]
# fmt: on
