"""Line items and VAT for invoices and quotes: validation, per-line net, tax per rate group, formatting.

German practice (and EN 16931): each line's net is rounded once (half-up, away from zero), the
VAT is computed per tax rate on the group's net sum and rounded once per group, never per line.
Everything is `Decimal` so 3 × 33,33 € is exactly 99,99 € and credit notes negate to the cent.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from dversum_sandbox.db import dumps
from dversum_sandbox.errors import bad_request, validation

__all__ = [
    "MAX_LINES",
    "Totals",
    "compute_totals",
    "format_cents",
    "format_decimal",
    "negate_lines",
    "parse_line_items",
    "round_half_up",
]

MAX_LINES = 500
MAX_QUANTITY = Decimal(1_000_000)
MAX_UNIT_PRICE_CENTS = 10**12
MAX_TOTAL_CENTS = 10**15
"""Bounds that keep every sum far inside SQLite's 64-bit integers."""

_REQUIRED = ("description", "quantity", "unit_price_cents", "tax_rate")


@dataclass(frozen=True)
class Totals:
    """A document's line items (JSON-ready, each with `net_cents`) and its tax groups and sums."""

    line_items: list[dict[str, Any]]
    tax_groups: list[dict[str, Any]]
    total_net_cents: int
    total_tax_cents: int
    total_gross_cents: int

    def columns(self) -> dict[str, Any]:
        """The database columns a document stores for these totals (lines and groups as JSON)."""
        return {
            "line_items": dumps(self.line_items),
            "tax_groups": dumps(self.tax_groups),
            "total_net_cents": self.total_net_cents,
            "total_tax_cents": self.total_tax_cents,
            "total_gross_cents": self.total_gross_cents,
        }


def round_half_up(value: Decimal) -> int:
    """Commercial rounding to whole cents: .5 goes away from zero, so negation is exact."""
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _json_number(value: Decimal) -> int | float:
    """A Decimal as the plainest JSON number: 8 stays 8, 1.5 stays 1.5."""
    return int(value) if value == value.to_integral_value() else float(value)


def _parse_line(raw: dict[str, Any], index: int) -> tuple[str, Decimal, int, Decimal, str | None]:
    path = f"line_items[{index}]"
    for name in _REQUIRED:
        if raw.get(name) is None:
            raise bad_request(f"{path}.{name} is required", f"{path}.{name}")
    description = raw["description"]
    if not isinstance(description, str) or not description.strip():
        raise validation(f"{path}.description", f"{path}.description must be a non-empty string")
    if len(description) > 500:
        raise validation(f"{path}.description", f"{path}.description is longer than 500 characters")
    quantity = _number(raw["quantity"])
    if quantity is None:
        raise validation(f"{path}.quantity", f"{path}.quantity must be a number")
    if quantity < 0 or quantity > MAX_QUANTITY:
        raise validation(f"{path}.quantity", f"{path}.quantity must be between 0 and {MAX_QUANTITY}")
    if quantity != quantity.quantize(Decimal("0.001")):
        raise validation(f"{path}.quantity", f"{path}.quantity has more than 3 decimals")
    price = raw["unit_price_cents"]
    if isinstance(price, float) and price.is_integer():
        price = int(price)
    if isinstance(price, bool) or not isinstance(price, int):
        raise validation(
            f"{path}.unit_price_cents", f"{path}.unit_price_cents must be an integer number of cents (12500 = 125,00 €)"
        )
    if abs(price) > MAX_UNIT_PRICE_CENTS:
        raise validation(f"{path}.unit_price_cents", f"{path}.unit_price_cents is out of range")
    rate = _number(raw["tax_rate"])
    if rate is None or rate < 0 or rate > 100:
        raise validation(f"{path}.tax_rate", f"{path}.tax_rate must be a percentage between 0 and 100, e.g. 19")
    if rate != rate.quantize(Decimal("0.01")):
        raise validation(f"{path}.tax_rate", f"{path}.tax_rate has more than 2 decimals")
    unit = raw.get("unit")
    if unit is not None and (not isinstance(unit, str) or len(unit) > 50):
        raise validation(f"{path}.unit", f"{path}.unit must be a string of at most 50 characters")
    return description, quantity, price, rate, (unit.strip() or None) if isinstance(unit, str) else None


def _line_json(description: str, quantity: Decimal, price: int, rate: Decimal, unit: str | None) -> dict[str, Any]:
    return {
        "description": description,
        "quantity": _json_number(quantity),
        "unit": unit,
        "unit_price_cents": price,
        "tax_rate": _json_number(rate),
        "net_cents": round_half_up(quantity * price),
    }


def parse_line_items(raw: Any, field: str = "line_items") -> Totals:
    """Validate the API's `line_items` (400 for a missing field, 422 naming `line_items[i].x`) and total them."""
    if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
        raise validation(field, f"{field} must be a list of line objects")
    if not raw:
        raise validation(field, f"{field} needs at least one line")
    if len(raw) > MAX_LINES:
        raise validation(field, f"{field} has more than {MAX_LINES} lines")
    lines = [_line_json(*_parse_line(item, i)) for i, item in enumerate(raw)]
    return compute_totals(lines, field)


def compute_totals(lines: list[dict[str, Any]], field: str = "line_items") -> Totals:
    """Tax groups and sums for already valid lines (their `net_cents` recomputed from quantity × price)."""
    groups: dict[Decimal, int] = {}
    out = []
    for line in lines:
        quantity = Decimal(str(line["quantity"]))
        net = round_half_up(quantity * int(line["unit_price_cents"]))
        rate = Decimal(str(line["tax_rate"]))
        groups[rate] = groups.get(rate, 0) + net
        out.append({**line, "net_cents": net})
    tax_groups = [
        {"tax_rate": _json_number(rate), "net_cents": net, "tax_cents": round_half_up(net * rate / 100)}
        for rate, net in sorted(groups.items())
    ]
    total_net = sum(groups.values())
    total_tax = sum(int(g["tax_cents"]) for g in tax_groups)
    if abs(total_net) + abs(total_tax) > MAX_TOTAL_CENTS:
        raise validation(field, f"{field} add up to more than the sandbox supports (10 trillion €)")
    return Totals(out, tax_groups, total_net, total_tax, total_net + total_tax)


def negate_lines(lines: list[dict[str, Any]]) -> Totals:
    """The mirrored lines of a credit note: quantities negated, so every total is the exact negative."""
    mirrored = [{**line, "quantity": _json_number(-Decimal(str(line["quantity"])))} for line in lines]
    return compute_totals(mirrored)


def format_decimal(value: Decimal, lang: str, places: int = 2) -> str:
    """`1.234,5` style for German, `1,234.5` for English, with a fixed number of decimals."""
    text = f"{value:,.{places}f}"
    if lang == "de":
        text = text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")
    return text


def format_cents(cents: int, lang: str) -> str:
    """`1.190,00 €` (German) or `€1,190.00` (English); negative amounts keep a leading minus."""
    sign = "-" if cents < 0 else ""
    amount = format_decimal(Decimal(abs(cents)) / 100, lang)
    return f"{sign}{amount} €" if lang == "de" else f"{sign}€{amount}"
