"""Roman numerals for ordered-list markers (``iv.``): written by to_markdown, read by the list rule."""

from __future__ import annotations

__all__ = ["from_roman", "to_roman"]

_ROMAN: tuple[tuple[int, str], ...] = (
    *((1000, "m"), (900, "cm"), (500, "d"), (400, "cd"), (100, "c"), (90, "xc"), (50, "l")),
    *((40, "xl"), (10, "x"), (9, "ix"), (5, "v"), (4, "iv"), (1, "i")),
)


def to_roman(num: int) -> str:
    """4 → ``iv`` (lower case; empty for 0)."""
    out = []
    for value, numeral in _ROMAN:
        while num >= value:
            out.append(numeral)
            num -= value
    return "".join(out)


def from_roman(marker: str) -> int:
    """``iv`` / ``IV`` → 4; 0 when the letters are not numerals."""
    lower = marker.lower()
    index = result = 0
    while index < len(lower):
        for value, numeral in _ROMAN:
            if lower.startswith(numeral, index):
                result += value
                index += len(numeral)
                break
        else:
            return 0
    return result
