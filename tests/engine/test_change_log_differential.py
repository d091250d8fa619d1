"""The engine's change-log invoices against the reference implementation (oracle_change_log)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import event, given, strategies as st

from plugin.engine import ChangeLogNotAllowed, EarlierCyclesNotInvoiced, EngineError, build_change_log

from . import oracle, oracle_change_log
from .test_differential import DIFFERENTIAL, _engine_line, _oracle_line, contract_rows, engine_data

REFUSALS = {"change_log_not_allowed": ChangeLogNotAllowed, "earlier_cycles_not_invoiced": EarlierCyclesNotInvoiced}


@st.composite
def change_log_cases(draw):
    """(rows, as_of, today): mostly quarterly-or-longer contracts with as_of inside them."""
    rows = draw(contract_rows())
    if draw(st.integers(0, 4)):  # 4 in 5: a contract that offers change logs
        rows["contract"]["w365_type"] = 1
        rows["contract"]["w365_billingfrequency"] = draw(st.sampled_from([3, 12, 36]))
    c = oracle.read_contract(rows["contract"], rows["currency"])
    last = min(c.E, c.S + timedelta(days=5 * 366)) if c.E and c.E >= c.S else c.S + timedelta(days=5 * 366)
    span = max((last - c.S).days, 0)
    as_of = c.S + timedelta(days=draw(st.one_of(st.integers(0, span), st.integers(-30, span + 30))))
    today = as_of + timedelta(days=draw(st.sampled_from([0, 1, 30, 30, 365, -1])))
    return rows, as_of, today


@DIFFERENTIAL
@given(change_log_cases())
def test_engine_change_log_equals_oracle(case):
    rows, as_of, today = case
    try:
        want = oracle_change_log.build_change_log(rows, as_of, today)
    except oracle_change_log.Refused as refused:
        event(refused.code)
        with pytest.raises(EngineError) as err:
            build_change_log(engine_data(rows), as_of, today)
        assert type(err.value) is REFUSALS[refused.code] and err.value.status == 422
        return
    draft = build_change_log(engine_data(rows), as_of, today)
    assert draft.nothing_to_invoice == want.nothing_to_invoice
    event("nothing to invoice" if want.nothing_to_invoice else "invoice")
    if want.nothing_to_invoice:
        return
    assert [_engine_line(l) for l in draft.lines] == [_oracle_line(l) for l in want.lines]
    assert (draft.totals.amount, draft.totals.discount, draft.totals.tax, draft.totals.total) == (
        want.totallineitemamount, want.discountamount, want.totaltax, want.totalamount)
    assert int(draft.invoice_category) == want.category == 3
    assert (draft.period_start, draft.period_end, draft.invoice_date, draft.due_date) == (
        want.cycle_start, want.cycle_end, want.invoice_date, want.due_date)
    assert draft.schedule_date is None
    assert sorted(draft.consumption.change_log_ids) == sorted(want.consumed_lcl_ids)
    assert sorted(draft.consumption.usage_record_ids) == sorted(want.consumed_usage_ids)
    assert sorted(draft.consumption.nri_ids) == sorted(want.consumed_nri_ids)
