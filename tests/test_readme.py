"""The README's tool table is generated from the endpoint table and must be current."""

from __future__ import annotations

from pathlib import Path

from dversum_mcp.tools.docs import END, START, render_tool_table

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_tool_table_is_current() -> None:
    text = README.read_text(encoding="utf-8")
    assert START in text and END in text
    block = text.split(START, 1)[1].split(END, 1)[0].strip()
    assert block == render_tool_table().strip(), "run: python -m dversum_mcp.tools.docs README.md"


def test_readme_names_the_quick_start_and_test_command() -> None:
    text = README.read_text(encoding="utf-8")
    assert "scripts/start.sh" in text and "bash .ci/run" in text
