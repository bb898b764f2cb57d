"""Describe, for the extended protocol: what a statement takes and returns, before it runs.

A statement is described with ParameterDescription (types from Parse, else the world's
``param_types``, else inferred from recorded values, else text) and the RowDescription of its
fingerprint's representative result (NoData when it returns no rows). A portal is described
with the columns of the answer chosen for its parameters, in the result formats of its Bind.
An unrecorded statement is a miss here already (UN001), or, with ``--pg-on-miss forward``,
it is described (or run) by the shadow database.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from replayer.pg.behaviour import Answer
from replayer.pg.errors import StatementFailed
from replayer.pg.events import ForwardCall, Outcome
from replayer.pg.results import CANCELLED, Result
from replayer.pg.state import Portal, Prepared
from understudy.pgwire import Describe, ParameterDescription, SqlState, TargetKind, encode

if TYPE_CHECKING:
    from replayer.pg.connection import Gen
    from replayer.pg.extended import Extended

__all__ = ["Describer"]

assert CANCELLED.error is not None
CANCELLED_ERROR = CANCELLED.error


class Describer:
    """The Describe handler of one connection's :class:`~replayer.pg.extended.Extended`."""

    __slots__ = ("ext",)

    def __init__(self, ext: Extended) -> None:
        self.ext = ext

    def describe(self, msg: Describe) -> Gen | None:
        """Describe a statement (``S``) or a portal (``P``)."""
        state = self.ext.conn.state
        assert state is not None
        if msg.kind == TargetKind.STATEMENT:
            prep = state.statements.get(msg.name)
            if prep is None:
                self.ext.fail(
                    SqlState.INVALID_SQL_STATEMENT_NAME,
                    f'prepared statement "{msg.name}" does not exist',
                )
                return None
            return self._describe_statement(msg.name, prep)
        portal = state.portals.get(msg.name)
        if portal is None:
            self.ext.fail(SqlState.INVALID_CURSOR_NAME, f'portal "{msg.name}" does not exist')
            return None
        return self._describe_portal(msg.name, portal)

    def _describe_statement(self, name: str, prep: Prepared) -> Gen | None:
        conn = self.ext.conn
        plan = prep.plan
        params = encode(ParameterDescription(self.ext.param_oids(prep)))
        if plan is None:
            rows = Result().describe()
        elif plan.native is not None:
            rows = Result(plan.native.columns).describe()
        elif plan.entry is not None:
            rows = (plan.entry.describe_result or Result()).describe()
        elif plan.fallback is not None:
            rows = Result(plan.fallback.columns).describe()
        elif conn.behaviour.forwarding:
            return self._forward_describe(name, prep)
        else:
            miss = conn.behaviour.answer(plan)
            assert miss.result is not None
            t0, wall = time.perf_counter(), time.time()
            conn.note(
                plan,
                "miss",
                miss.result,
                t0,
                wall,
                "extended",
                name,
                None,
                (),
                prep.param_types,
                (),
                miss.nearest,
            )
            assert miss.result.error is not None
            self.ext.error(miss.result.error)
            return None
        conn.send(params + rows)
        return None

    def _forward_describe(self, name: str, prep: Prepared) -> Gen:
        conn = self.ext.conn
        request = conn.forward_request("describe", prep.sql, param_types=prep.param_types)
        outcome = yield ForwardCall(request)
        if outcome is Outcome.CANCELLED:
            self.ext.error(CANCELLED_ERROR)
            return None
        result: Result = outcome.result
        if result.error is not None:
            self.ext.error(result.error)
            return None
        oids = outcome.param_types or self.ext.param_oids(prep)
        conn.send(encode(ParameterDescription(oids)) + result.describe())
        return None

    def _describe_portal(self, name: str, portal: Portal) -> Gen | None:
        plan = portal.prepared.plan
        fmts = portal.result_formats
        try:
            if plan is None:
                rows = Result().describe()
            elif plan.native is not None:
                rows = Result(plan.native.columns).describe(fmts)
            else:
                answer = self.ext.answer(portal)
                if answer.kind == "native":
                    assert plan.fallback is not None
                    rows = Result(plan.fallback.columns).describe(fmts)
                elif answer.result is None:  # forward: run it now to learn its columns
                    return self._forward_portal(name, portal)
                elif answer.kind == "miss":
                    self._portal_miss(name, portal, answer)
                    return None
                else:
                    result = answer.result
                    if result.error is not None and plan.entry is not None:
                        result = plan.entry.describe_result or result
                    rows = result.describe(fmts)
        except StatementFailed as exc:
            self.ext.error(exc.response)
            return None
        self.ext.conn.send(rows)
        return None

    def _portal_miss(self, name: str, portal: Portal, answer: Answer) -> None:
        assert answer.result is not None and answer.result.error is not None
        self.ext.note(
            name, portal, answer.kind, answer.result, time.perf_counter(), time.time(), answer
        )
        self.ext.error(answer.result.error)

    def _forward_portal(self, name: str, portal: Portal) -> Gen:
        answer = self.ext.answer(portal)
        outcome = yield ForwardCall(self.ext.forward_execute(portal))
        if outcome is Outcome.CANCELLED:
            self.ext.error(CANCELLED_ERROR)
            return None
        portal.answer = answer._replace(result=outcome.result)
        result: Result = outcome.result
        if result.error is not None:
            self.ext.error(result.error)
            return None
        try:
            self.ext.conn.send(result.describe(portal.result_formats))
        except StatementFailed as exc:
            self.ext.error(exc.response)
        return None
