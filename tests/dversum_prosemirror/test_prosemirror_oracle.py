"""markdown_to_doc against Tiptap's own parser (committed oracle fixtures; no Node needed)."""

from __future__ import annotations

from typing import Any

import pytest

from dversum_prosemirror import markdown_to_doc, validate_doc

from .prosemirror_testlib import PAGES, load_json, pm_check

CORPUS: dict[str, dict[str, Any]] = load_json("corpus_expected.json")["cases"]
PAGES_EXPECTED: dict[str, dict[str, Any]] = load_json("pages_expected.json")["pages"]
KNOWN: dict[str, str] = load_json("known_differences.json")


@pytest.fixture(scope="module")
def corpus_docs() -> dict[str, dict[str, Any]]:
    return {case_id: markdown_to_doc(case["markdown"]) for case_id, case in CORPUS.items()}


def test_corpus_size() -> None:
    assert len(CORPUS) == 1367
    assert sum("error" not in case["result"] for case in CORPUS.values()) == 1287


def test_corpus_matches_oracle_except_known_differences(corpus_docs: dict[str, dict[str, Any]]) -> None:
    differing = {
        case_id
        for case_id, case in CORPUS.items()
        if "error" not in case["result"] and corpus_docs[case_id] != case["result"]
    }
    # both directions: a new difference is a regression, a vanished one must leave the list
    assert sorted(differing - KNOWN.keys()) == [], "new differences from Tiptap"
    assert sorted(KNOWN.keys() - differing) == [], "known differences that no longer differ"
    valid = sum("error" not in case["result"] for case in CORPUS.values())
    assert (valid - len(differing)) / valid >= 0.97


def test_known_differences_have_reasons() -> None:
    assert all(reason.strip() for reason in KNOWN.values())
    assert all(case_id in CORPUS and "error" not in CORPUS[case_id]["result"] for case_id in KNOWN)


def test_every_corpus_output_is_schema_valid(corpus_docs: dict[str, dict[str, Any]]) -> None:
    problems = {case_id: validate_doc(doc) for case_id, doc in corpus_docs.items()}
    assert {case_id: p for case_id, p in problems.items() if p} == {}
    pm_problems = {case_id: pm_check(doc) for case_id, doc in corpus_docs.items()}
    assert {case_id: p for case_id, p in pm_problems.items() if p} == {}


def test_invalid_oracle_results_become_valid(corpus_docs: dict[str, dict[str, Any]]) -> None:
    invalid = [case_id for case_id, case in CORPUS.items() if "error" in case["result"]]
    assert len(invalid) == 80
    for case_id in invalid:
        assert validate_doc(CORPUS[case_id]["result"]["doc"]), case_id  # Tiptap's own result is invalid
        assert validate_doc(corpus_docs[case_id]) == [], case_id


def test_enough_realistic_pages() -> None:
    assert len(list(PAGES.glob("*.md"))) >= 40
    assert sorted(PAGES_EXPECTED) == sorted(p.name for p in PAGES.glob("*.md"))


@pytest.mark.parametrize("name", sorted(PAGES_EXPECTED))
def test_page_matches_oracle(name: str) -> None:
    expected = PAGES_EXPECTED[name]["result"]
    assert "error" not in expected
    doc = markdown_to_doc((PAGES / name).read_text(encoding="utf-8"))
    assert doc == expected
    assert validate_doc(doc) == []
    assert pm_check(doc) is None


@pytest.mark.parametrize("name", sorted(PAGES_EXPECTED))
def test_reads_tiptap_serialized_page_like_tiptap(name: str) -> None:
    """Markdown written by Tiptap's serializer (what the editor stores) reads back as in Tiptap."""
    entry = PAGES_EXPECTED[name]
    assert markdown_to_doc(entry["tiptap_markdown"]) == entry["tiptap_markdown_result"]
