"""search_tools' ranking, measured on the evaluation set, and the search words' data.

`tests/fixtures/search_eval.jsonl` holds natural requests (English and German: everyday words,
typos, requests naming a result or state, colloquial ones sharing a word with the wrong tool, short
German ones), each with the tool that should come first. The split into "tune" and "heldout" was
fixed and committed before any tuning; the ranker and `tool_manifests/_search.toml` were tuned on the
tune rows only. The floors below are the measured held-out scores (README, "Token cost").
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dversum_mcp.server.search import SearchIndex, SearchWords
from dversum_mcp.tools.registry import Registry

EVAL = Path(__file__).parents[1] / "fixtures" / "search_eval.jsonl"
HELD_OUT_TOP1 = 0.87  # measured: 113 of 128 (88.3 %)
HELD_OUT_TOP3 = 0.96  # measured: 123 of 128 (96.1 %)
TUNE_TOP1 = 0.85  # measured: 888 of 1,036 (85.7 %); of the 289 "oblique" rows added last, 189


def _rows() -> list[dict[str, Any]]:
    return [json.loads(line) for line in EVAL.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def index() -> SearchIndex:
    return SearchIndex(Registry().tools.values())


def _ranks(index: SearchIndex, rows: list[dict[str, Any]]) -> dict[str, int]:
    ranks: dict[str, int] = {}
    for row in rows:
        hits = [tool.spec.name for tool, _ in index.search(row["query"], limit=10)]
        ranks[row["query"]] = hits.index(row["tool"]) + 1 if row["tool"] in hits else 99
    return ranks


def test_the_evaluation_set_is_what_it_says() -> None:
    rows = _rows()
    tools = Registry().tools
    assert len(rows) >= 150
    assert len({r["query"] for r in rows}) == len(rows)
    assert all(r["tool"] in tools for r in rows), [r for r in rows if r["tool"] not in tools]
    held_out = [r for r in rows if r["split"] == "heldout"]
    assert len(held_out) == 128  # the split committed before tuning; rows added later are all "tune"
    assert not any("added" in r for r in held_out)
    assert {r["lang"] for r in held_out} == {"de", "en"}
    assert {r["kind"] for r in held_out} == {"everyday", "typo", "result", "colloquial", "short_de"}


def test_held_out_requests_find_their_tool(index: SearchIndex) -> None:
    rows = [r for r in _rows() if r["split"] == "heldout"]
    ranks = _ranks(index, rows)
    first = sum(r == 1 for r in ranks.values()) / len(rows)
    top3 = sum(r <= 3 for r in ranks.values()) / len(rows)
    # Only the scores: a held-out request must not be read while tuning, so a failure does not name any.
    assert first >= HELD_OUT_TOP1, (first, top3)
    assert top3 >= HELD_OUT_TOP3, (first, top3)


def test_tuning_requests_find_their_tool(index: SearchIndex) -> None:
    rows = [r for r in _rows() if r["split"] == "tune"]
    ranks = _ranks(index, rows)
    misses = {q: r for q, r in ranks.items() if r != 1}
    assert sum(r == 1 for r in ranks.values()) / len(rows) >= TUNE_TOP1, misses


@pytest.mark.parametrize(
    ("query", "wanted"),
    [
        ("Zahlungseingang", "record_invoice_payment"),  # compound: Zahlung + s + Eingang
        ("Projektspalten", "list_project_columns"),  # Projekt + Spalten
        ("Rechnungen", "list_invoices"),  # German plural, by stem
        ("Rechung verschicken", "send_invoice"),  # typo
        ("stpo the timer", "stop_timer"),  # transposition
        ("sned a remider for the invoce", "send_invoice_reminder"),  # three typos
        ("Mahnen", "send_invoice_reminder"),  # one German word
        ("stop sharing the file", "revoke_share_link"),  # shares "stop" with stop_timer
        ("Max is sick tomorrow", "create_absence"),  # a state, not an action
        ("who's out next week", "list_absences"),
        # Each of these ranked another tool first before the reading they name (seen failing):
        ("put Jonas on the invoice task", "assign_task"),  # a person's name in a phrase ("put someone on")
        ("Jonas is off next Monday", "create_absence"),  # … and as the clause's subject
        ("call the Thursday workshop off", "delete_calendar_event"),  # particle apart from its verb
        ("take the share link for the brochure down", "revoke_share_link"),  # … across a long object
        ("tick the SEO task off", "toggle_task_done"),
        ("Lad das Logo hoch", "upload_file"),  # German separable verb: hochladen
        ("Sag das Meeting am Freitag ab", "delete_calendar_event"),  # absagen
        ("show me the contract with ATAS", "get_contract"),  # one thing: get_…
        ("give the project a new name", "update_project"),  # a new field changes the thing
        ("the standup is cancelled", "delete_calendar_event"),  # a participle leans to its verb
        ("asign the ticket to Max", "assign_task"),  # typo ties: same first letter (not "sign")
        ("Rechnungen vom März", "list_invoices"),  # a month says when (März is no typo of "mark")
        ("when does the SEO contract end", "get_contract"),  # after a question word "end" asks less
        ("Jonas soll die Website machen", "assign_task"),  # a verb only one tool does names its things
        ("the quote we sent last week needs a new price", "update_quote"),
        ("the Slack webhook is switched off", "update_webhook"),  # a phrasal verb as inflected
    ],
)
def test_words_are_read_through_stems_compounds_and_typos(index: SearchIndex, query: str, wanted: str) -> None:
    assert index.search(query, limit=1)[0][0].spec.name == wanted


def test_no_answer_is_empty_when_a_word_resembles_a_tool(index: SearchIndex) -> None:
    registry = Registry()
    words = {w for name in registry.tools for w in name.split("_") if len(w) >= 3}
    words |= {w for tool in registry.tools.values() for w in tool.spec.title.lower().split() if len(w) >= 4}
    for word in sorted(words):
        assert index.search(word), word
        assert index.search(word.capitalize() + "x"), word  # one letter too many
        if len(word) >= 5:
            assert index.search(word[:2] + word[3] + word[2] + word[4:]), word  # two letters swapped
    for query in ("Rechnungsübersicht", "Kundenverwaltung", "Zeiterfassungsbericht", "invoicez", "kalendar"):
        assert index.search(query), query
    assert index.search("xq zz") == []  # nothing resembles any tool: an empty answer is honest


def test_selection_is_respected(index: SearchIndex) -> None:
    allowed = {"list_invoices", "get_invoice"}
    hits = index.search("Rechnung an ATAS schicken", allowed, limit=10)
    assert hits and {tool.spec.name for tool, _ in hits} <= allowed
    assert index.search("xq zz invoicez", {"get_invoice"}) and not index.search("invoicez", set())


def test_the_search_words_speak_the_tables_language(index: SearchIndex) -> None:
    index.search("warm up")
    words = SearchWords.load()
    verbs = {tool.spec.name.split("_")[0] for tool in Registry().tools.values()}
    unknown: list[str] = []
    for key, meanings in words.words.items():
        for meaning in meanings:
            if meaning.startswith("@"):
                assert meaning[1:] in verbs, (key, meaning)
            else:
                unknown += [f"{key} → {t}" for t in index.tokens(meaning) if t not in index.idf]
    assert not unknown, unknown
    for table in (words.verbs, words.leading, words.attributes):
        for key, readings in table.items():
            assert set(readings) <= verbs, (key, readings)
    for phrase, meaning in words.phrases.items():
        for word in meaning.split():
            assert index.understands(word), (phrase, word)


def test_the_index_is_built_at_the_first_search_only() -> None:
    index = SearchIndex(Registry().tools.values())
    assert not hasattr(index, "docs")
    assert index.search("send the invoice", limit=1)[0][0].spec.name == "send_invoice"
