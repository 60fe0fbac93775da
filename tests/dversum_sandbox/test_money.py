"""Line items and VAT: half-up rounding per line, tax per rate group, validation paths, formatting."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from dversum_sandbox.billing.money import (
    compute_totals,
    format_cents,
    negate_lines,
    parse_line_items,
    round_half_up,
)
from dversum_sandbox.errors import SandboxError


def line(**fields: Any) -> dict[str, Any]:
    return {"description": "Posten", "quantity": 1, "unit_price_cents": 100, "tax_rate": 19, **fields}


def test_round_half_up_is_commercial_and_symmetric() -> None:
    assert round_half_up(Decimal("0.5")) == 1
    assert round_half_up(Decimal("2.5")) == 3  # not banker's rounding
    assert round_half_up(Decimal("-2.5")) == -3
    assert round_half_up(Decimal("2.4999")) == 2


def test_three_times_33_33_euro() -> None:
    totals = parse_line_items([line(quantity=3, unit_price_cents=3333)])
    assert totals.line_items[0]["net_cents"] == 9999
    assert totals.tax_groups == [{"tax_rate": 19, "net_cents": 9999, "tax_cents": 1900}]  # 1899,81 → 1900
    assert (totals.total_net_cents, totals.total_tax_cents, totals.total_gross_cents) == (9999, 1900, 11899)


def test_fractional_quantities_round_once_per_line() -> None:
    totals = parse_line_items([line(quantity=1.5, unit_price_cents=3333), line(quantity=0.333, unit_price_cents=100)])
    assert [item["net_cents"] for item in totals.line_items] == [5000, 33]  # 4999,5 → 5000; 33,3 → 33
    assert totals.line_items[0]["quantity"] == 1.5


def test_mixed_7_and_19_percent_tax_per_group_not_per_line() -> None:
    lines = [line(unit_price_cents=2) for _ in range(5)] + [
        line(description="Buch", quantity=3, unit_price_cents=3333, tax_rate=7)
    ]
    totals = parse_line_items(lines)
    # per line 19 % of 2 ct would round to 0 five times; per group 19 % of 10 ct = 1,9 → 2
    assert totals.tax_groups == [
        {"tax_rate": 7, "net_cents": 9999, "tax_cents": 700},
        {"tax_rate": 19, "net_cents": 10, "tax_cents": 2},
    ]
    assert totals.total_gross_cents == 9999 + 10 + 700 + 2


def test_discount_lines_and_zero_rate() -> None:
    totals = parse_line_items(
        [line(unit_price_cents=10000), line(description="Rabatt", unit_price_cents=-1000), line(tax_rate=0)]
    )
    assert totals.tax_groups == [
        {"tax_rate": 0, "net_cents": 100, "tax_cents": 0},
        {"tax_rate": 19, "net_cents": 9000, "tax_cents": 1710},
    ]


def test_rates_group_regardless_of_spelling() -> None:
    totals = parse_line_items([line(tax_rate=19), line(tax_rate=19.0), line(tax_rate=5.5, unit_price_cents=1000)])
    assert [g["tax_rate"] for g in totals.tax_groups] == [5.5, 19]
    assert totals.tax_groups[0]["tax_cents"] == 55


def test_negated_lines_negate_every_total() -> None:
    totals = parse_line_items(
        [line(quantity=1.5, unit_price_cents=3333), line(quantity=3, unit_price_cents=333, tax_rate=7)]
    )
    mirrored = negate_lines(totals.line_items)
    assert mirrored.total_net_cents == -totals.total_net_cents
    assert mirrored.total_tax_cents == -totals.total_tax_cents
    assert mirrored.total_gross_cents == -totals.total_gross_cents
    assert [g["tax_cents"] for g in mirrored.tax_groups] == [-g["tax_cents"] for g in totals.tax_groups]
    assert compute_totals(totals.line_items) == totals


@pytest.mark.parametrize(
    ("lines", "status", "field"),
    [
        ([], 422, "line_items"),
        ({"description": "x"}, 422, "line_items"),
        (["x"], 422, "line_items"),
        ([line(), line(description=None)], 400, "line_items[1].description"),
        ([line(description="  ")], 422, "line_items[0].description"),
        ([line(description="x" * 501)], 422, "line_items[0].description"),
        ([line(quantity="1")], 422, "line_items[0].quantity"),
        ([line(quantity=True)], 422, "line_items[0].quantity"),
        ([line(quantity=-1)], 422, "line_items[0].quantity"),
        ([line(quantity=1.0001)], 422, "line_items[0].quantity"),
        ([line(quantity=10**7)], 422, "line_items[0].quantity"),
        ([line(), line(), line(unit_price_cents=1.5)], 422, "line_items[2].unit_price_cents"),
        ([line(unit_price_cents="100")], 422, "line_items[0].unit_price_cents"),
        ([line(unit_price_cents=10**20)], 422, "line_items[0].unit_price_cents"),
        ([line(tax_rate=101)], 422, "line_items[0].tax_rate"),
        ([line(tax_rate=-1)], 422, "line_items[0].tax_rate"),
        ([line(tax_rate=19.001)], 422, "line_items[0].tax_rate"),
        ([line(unit=5)], 422, "line_items[0].unit"),
        ([line(quantity=1_000_000, unit_price_cents=10**12)] * 20, 422, "line_items"),
    ],
)
def test_invalid_lines_name_the_field(lines: Any, status: int, field: str) -> None:
    with pytest.raises(SandboxError) as info:
        parse_line_items(lines)
    assert (info.value.status, info.value.field) == (status, field)


def test_whole_float_price_is_accepted_as_integer() -> None:
    assert parse_line_items([line(unit_price_cents=100.0)]).line_items[0]["unit_price_cents"] == 100


def test_format_cents() -> None:
    assert format_cents(119000, "de") == "1.190,00 €"
    assert format_cents(119000, "en") == "€1,190.00"
    assert format_cents(-5, "de") == "-0,05 €"
    assert format_cents(123456789, "de") == "1.234.567,89 €"
