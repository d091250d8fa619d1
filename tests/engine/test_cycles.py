"""Cycles (DESIGN §4.1, §4.9): anchoring, clipping, the cycle list, default, keys, one-time."""

from datetime import date

import pytest

from plugin.engine import (
    ONE_TIME,
    ContractType,
    CycleStatus,
    NoCycleAvailable,
    ScheduleStatus,
    UnknownCycle,
    add_months,
    build_invoice,
    cycle_at,
    cycle_containing,
    cycle_for_key,
    cycle_index,
    list_cycles,
    resolve_cycle,
)

from .builders import contract, d, data, nri, schedule


def spans(c, n):
    return [(str(x.start), str(x.end)) for x in (cycle_at(c, i) for i in range(n)) if x]


@pytest.mark.parametrize(
    "start, n, expected",
    [
        ("2026-01-31", 1, "2026-02-28"),
        ("2028-01-31", 1, "2028-02-29"),
        ("2026-01-31", 2, "2026-03-31"),
        ("2026-01-31", 3, "2026-04-30"),
        ("2028-02-29", 12, "2029-02-28"),
        ("2028-02-29", 48, "2032-02-29"),
        ("2026-11-15", 3, "2027-02-15"),
        ("2026-12-31", 1, "2027-01-31"),
        ("2026-03-31", -1, "2026-02-28"),
        ("2026-01-30", 1, "2026-02-28"),
        ("2026-01-29", 1, "2026-02-28"),
        ("2026-01-01", 36, "2029-01-01"),
    ],
)
def test_add_months_clamps_to_month_end(start, n, expected):
    assert add_months(d(start), n) == d(expected)


def test_worked_example_anchoring_on_the_31st():
    assert spans(contract("2026-01-31"), 3) == [
        ("2026-01-31", "2026-02-27"),
        ("2026-02-28", "2026-03-30"),
        ("2026-03-31", "2026-04-29"),
    ]


def test_start_on_the_29th_and_30th():
    assert spans(contract("2026-01-29"), 3) == [
        ("2026-01-29", "2026-02-27"),
        ("2026-02-28", "2026-03-28"),
        ("2026-03-29", "2026-04-28"),
    ]
    assert spans(contract("2026-01-30"), 3) == [
        ("2026-01-30", "2026-02-27"),
        ("2026-02-28", "2026-03-29"),
        ("2026-03-30", "2026-04-29"),
    ]


def test_leap_years():
    assert spans(contract("2028-01-31"), 2) == [
        ("2028-01-31", "2028-02-28"),
        ("2028-02-29", "2028-03-30"),
    ]
    assert spans(contract("2028-01-29"), 2) == [
        ("2028-01-29", "2028-02-28"),
        ("2028-02-29", "2028-03-28"),
    ]
    assert spans(contract("2024-02-29", months=12), 5) == [
        ("2024-02-29", "2025-02-27"),
        ("2025-02-28", "2026-02-27"),
        ("2026-02-28", "2027-02-27"),
        ("2027-02-28", "2028-02-28"),
        ("2028-02-29", "2029-02-27"),
    ]


def test_each_frequency():
    assert spans(contract("2026-01-01", months=1), 2) == [
        ("2026-01-01", "2026-01-31"),
        ("2026-02-01", "2026-02-28"),
    ]
    assert spans(contract("2025-11-30", months=3), 2) == [
        ("2025-11-30", "2026-02-27"),
        ("2026-02-28", "2026-05-29"),
    ]
    assert spans(contract("2026-07-01", months=12), 2) == [
        ("2026-07-01", "2027-06-30"),
        ("2027-07-01", "2028-06-30"),
    ]
    assert spans(contract("2026-01-01", months=36), 2) == [
        ("2026-01-01", "2028-12-31"),
        ("2029-01-01", "2031-12-31"),
    ]


def test_cycles_are_anchored_never_chained():
    c = contract("2026-01-31")
    for i in range(60):
        assert cycle_at(c, i).start == add_months(d("2026-01-31"), i)
        assert cycle_at(c, i + 1).start == cycle_at(c, i).full_end.__add__(date.resolution)


def test_end_date_clips_and_removes_cycles():
    c = contract("2026-01-01", end="2026-03-15")
    assert spans(c, 5) == [
        ("2026-01-01", "2026-01-31"),
        ("2026-02-01", "2026-02-28"),
        ("2026-03-01", "2026-03-15"),
    ]
    last = cycle_at(c, 2)
    assert last.is_clipped and last.full_end == d("2026-03-31")
    assert not cycle_at(c, 1).is_clipped
    assert cycle_at(c, 3) is None and cycle_at(c, -1) is None


def test_end_date_on_a_cycle_start_gives_a_one_day_cycle():
    c = contract("2026-01-01", end="2026-02-01")
    assert spans(c, 4) == [("2026-01-01", "2026-01-31"), ("2026-02-01", "2026-02-01")]


def test_end_date_on_a_cycle_end_is_not_clipped():
    c = contract("2026-01-01", end="2026-02-28")
    assert spans(c, 4) == [("2026-01-01", "2026-01-31"), ("2026-02-01", "2026-02-28")]
    assert not cycle_at(c, 1).is_clipped


def test_end_before_start_has_no_cycles():
    c = contract("2026-01-01", end="2025-12-31")
    assert spans(c, 3) == []
    assert list_cycles(data(c), d("2026-06-01")).options == ()


def test_cycle_index_and_containing():
    c = contract("2026-01-31")
    assert cycle_index(c, d("2026-01-30")) == -1
    assert cycle_index(c, d("2026-01-31")) == 0
    assert cycle_index(c, d("2026-02-27")) == 0
    assert cycle_index(c, d("2026-02-28")) == 1
    assert cycle_index(c, d("2036-05-01")) == cycle_index(c, d("2036-04-30"))
    assert cycle_containing(c, d("2026-03-30")).key == "2026-02-28"
    assert cycle_containing(contract("2026-01-01", end="2026-01-10"), d("2026-01-20")) is None


def test_cycle_list_range_and_as_of():
    cd = data(contract("2026-01-01"))
    keys = lambda **kw: [o.key for o in list_cycles(cd, **kw).options]
    assert keys(as_of=d("2025-06-01")) == ["2026-01-01", "2026-02-01"]  # k = -1
    assert keys(as_of=d("2026-01-01")) == ["2026-01-01", "2026-02-01", "2026-03-01"]
    assert keys(as_of=d("2026-03-31")) == [
        "2026-01-01",
        "2026-02-01",
        "2026-03-01",
        "2026-04-01",
        "2026-05-01",
    ]
    assert keys(as_of=d("2026-03-31"), cycle_range=0) == ["2026-01-01", "2026-02-01", "2026-03-01"]
    assert keys(as_of=d("2025-12-31"), cycle_range=0) == []


def test_cycle_list_uses_the_unclipped_cycle_and_stops_at_the_end():
    cd = data(contract("2026-01-01", end="2026-02-10"))
    listing = list_cycles(cd, d("2026-02-20"))
    assert [(o.key, str(o.end)) for o in listing.options] == [
        ("2026-01-01", "2026-01-31"),
        ("2026-02-01", "2026-02-10"),
    ]


def test_status_invoices_and_default():
    cd = data(
        contract("2026-01-01"),
        schedules=[
            schedule("2026-01-01", ScheduleStatus.INVOICED, invoice_id="inv-2"),
            schedule("2026-02-01", ScheduleStatus.ERROR),
            schedule("2026-03-01", ScheduleStatus.PENDING),
        ],
        invoices={"2026-01-01": [("inv-1", "INV-00001"), ("inv-2", "INV-00007")]},
    )
    listing = list_cycles(cd, d("2026-03-05"))
    assert [o.status for o in listing.options] == [
        CycleStatus.INVOICED,
        CycleStatus.ERROR,
        CycleStatus.UNINVOICED,
        CycleStatus.UNINVOICED,
        CycleStatus.UNINVOICED,
    ]
    assert listing.default == "2026-02-01"  # error counts as not invoiced
    body = listing.as_json()
    assert body["cycles"][0] == {
        "key": "2026-01-01",
        "start": "2026-01-01",
        "end": "2026-01-31",
        "status": "invoiced",
        "invoices": [
            {"id": "inv-1", "number": "INV-00001"},
            {"id": "inv-2", "number": "INV-00007"},
        ],
    }
    assert body["default"] == "2026-02-01"


def test_schedule_invoice_missing_from_the_invoice_rows_is_still_listed():
    cd = data(contract("2026-01-01"), schedules=[schedule("2026-01-01", invoice_id="inv-9")])
    assert list_cycles(cd, d("2026-01-05")).options[0].invoices[0].id == "inv-9"


def test_default_is_none_when_every_listed_cycle_is_invoiced():
    cd = data(
        contract("2026-01-01"),
        schedules=[schedule(k) for k in ("2026-01-01", "2026-02-01", "2026-03-01")],
    )
    assert list_cycles(cd, d("2026-01-15")).default is None
    with pytest.raises(NoCycleAvailable) as err:
        resolve_cycle(cd, None, d("2026-01-15"))
    assert err.value.code == "no_cycle_available" and 400 <= err.value.status < 500
    # an explicit later (unlisted) cycle is still accepted
    assert resolve_cycle(cd, "2026-07-01", d("2026-01-15")).status == CycleStatus.UNINVOICED


def test_item_based_has_only_one_time_as_default():
    cd = data(contract("2026-01-01", type=ContractType.ITEM_BASED))
    listing = list_cycles(cd, d("2026-05-05"))
    assert [(o.key, str(o.start), str(o.end), o.status) for o in listing.options] == [
        (ONE_TIME, "2026-05-05", "2026-05-05", CycleStatus.UNINVOICED)
    ]
    assert listing.default == ONE_TIME
    with pytest.raises(UnknownCycle):
        resolve_cycle(cd, "2026-01-01", d("2026-05-05"))
    assert resolve_cycle(cd, None, d("2026-05-05")).key == ONE_TIME


def test_otp_immediately_lists_one_time_after_cycles_only_with_unbilled_nris():
    c = contract("2026-01-01", otp_immediately=True)
    with_nri = list_cycles(data(c, nris=[nri("2026-01-10")]), d("2026-01-15"))
    assert [o.key for o in with_nri.options][-1] == ONE_TIME
    assert with_nri.default == "2026-01-01"
    billed = data(c, nris=[nri("2026-01-10", unbilled=False)])
    assert ONE_TIME not in [o.key for o in list_cycles(billed, d("2026-01-15")).options]
    # accepted anyway (nothing to invoice)
    assert build_invoice(billed, ONE_TIME, d("2026-01-15")).nothing_to_invoice
    all_invoiced = data(
        c,
        nris=[nri("2026-01-10")],
        schedules=[schedule("2026-01-01"), schedule("2026-02-01"), schedule("2026-03-01")],
    )
    assert (
        list_cycles(all_invoiced, d("2026-01-15")).default is None
    )  # one-time is never the default


def test_one_time_without_otp_immediately_is_unknown():
    cd = data(contract("2026-01-01"), nris=[nri("2026-01-10")])
    assert ONE_TIME not in [o.key for o in list_cycles(cd, d("2026-01-15")).options]
    with pytest.raises(UnknownCycle):
        resolve_cycle(cd, ONE_TIME, d("2026-01-15"))


@pytest.mark.parametrize(
    "key",
    [
        "2026-01-02",
        "2025-12-01",
        "2026-13-01",
        "2026-02-30",
        "20260101",
        "2026-1-1",
        "abc",
        "",
        " 2026-01-01",
        "2026-01-01T00:00:00",
        "ONE-TIME",
    ],
)
def test_unknown_keys(key):
    cd = data(contract("2026-01-01", end="2026-06-30"))
    with pytest.raises(UnknownCycle) as err:
        resolve_cycle(cd, key, d("2026-01-15"))
    assert err.value.code == "unknown_cycle" and 400 <= err.value.status < 500
    assert err.value.details == {"cycle": key}


def test_keys_past_the_end_are_unknown_but_far_future_without_end_are_fine():
    assert cycle_for_key(contract("2026-01-01"), "2040-01-01").index == 168
    with pytest.raises(UnknownCycle):
        cycle_for_key(contract("2026-01-01", end="2026-06-30"), "2026-07-01")
    assert cycle_for_key(contract("2026-01-31"), "2026-02-28").end == d("2026-03-30")


def test_inactive_contracts_still_have_cycles():
    cd = data(contract("2026-01-01", statecode=1))
    assert list_cycles(cd, d("2026-01-05")).default == "2026-01-01"


def test_dates_at_the_end_of_the_calendar_are_handled():
    cd = data(contract("2026-01-01"))
    with pytest.raises(UnknownCycle):
        resolve_cycle(cd, "9999-12-01", d("2026-01-01"))
    assert cycle_index(cd.contract, d("9999-12-31")) == (9999 - 2026) * 12 + 11
    listing = list_cycles(cd, d("9999-12-31"))
    assert listing.options[-1].key == "9999-11-01" and listing.default == "2026-01-01"
    with pytest.raises(UnknownCycle):
        resolve_cycle(cd, "0001-01-01", d("2026-01-01"))
