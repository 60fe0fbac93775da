"""Discovery that works on every client: search, describe, and run any tool by name.

`search_tools` ranks tools with BM25 over names, titles, descriptions, parameter names and
toolsets, plus a small German/English synonym table (Rechnung → invoice). `call_read_tool`
and `call_write_tool` run any selectable tool of their kind with the same validation and
errors, split so a client's approval prompt for writes still means something. In dynamic
mode only these plus `list_toolsets`/`enable_toolset` are listed.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import mcp_types as types

from dversum_mcp.manifest import TOOLSET_ORDER, ToolsetSpec
from dversum_mcp.registry import GeneratedTool

__all__ = ["DYNAMIC_ONLY", "META_TOOLS", "MetaTool", "SearchIndex", "tokenize"]

_WORD = re.compile(r"[a-zäöüß0-9]+")
_STOP = {
    "a",
    "an",
    "the",
    "to",
    "for",
    "of",
    "on",
    "in",
    "my",
    "me",
    "i",
    "and",
    "or",
    "with",
    "is",
    "it",
    "this",
    "that",
    "what",
    "how",
    "did",
    "do",
    "does",
    "be",
    "by",
    "at",
    "from",
    "all",
    "please",
    "can",
    "you",
    "der",
    "die",
    "das",
    "ein",
    "eine",
    "und",
    "für",
    "mit",
    "von",
    "zu",
    "ich",
    "mir",
    "meine",
    "mein",
}
# Everyday words → the table's vocabulary (German and English).
SYNONYMS: dict[str, tuple[str, ...]] = {
    "rechnung": ("invoice",),
    "rechnungen": ("invoice",),
    "bill": ("invoice",),
    "billing": ("invoice",),
    "angebot": ("quote",),
    "offer": ("quote",),
    "estimate": ("quote",),
    "proposal": ("quote",),
    "kunde": ("client",),
    "kunden": ("client",),
    "customer": ("client",),
    "customers": ("client",),
    "company": ("client",),
    "contact": ("client",),
    "mahnung": ("reminder", "dunning"),
    "dunning": ("reminder",),
    "overdue": ("reminder", "overdue"),
    "chase": ("reminder",),
    "unpaid": ("overdue", "reminder"),
    "zahlung": ("payment",),
    "paid": ("payment",),
    "pay": ("payment",),
    "pays": ("payment",),
    "zeit": ("time",),
    "stunden": ("time", "hours"),
    "hours": ("time",),
    "worked": ("time", "summarize"),
    "work": ("time",),
    "timesheet": ("summarize", "time"),
    "track": ("timer", "start"),
    "tracking": ("timer",),
    "stopp": ("stop",),
    "done": ("done", "toggle", "stop"),
    "finished": ("done", "toggle"),
    "aufgabe": ("task",),
    "aufgaben": ("task",),
    "todo": ("task",),
    "ticket": ("task",),
    "card": ("task",),
    "projekt": ("project",),
    "board": ("column", "kanban"),
    "spalte": ("column",),
    "seite": ("page",),
    "notes": ("page",),
    "doc": ("page",),
    "document": ("page", "file"),
    "wiki": ("page",),
    "datei": ("file",),
    "pdf": ("pdf", "file"),
    "report": ("file",),
    "upload": ("upload",),
    "share": ("share", "link"),
    "teilen": ("share",),
    "password": ("share", "password"),
    "termin": ("calendar", "event", "booking"),
    "meeting": ("calendar", "event"),
    "appointment": ("booking", "event"),
    "slot": ("slots", "booking"),
    "slots": ("booking",),
    "availability": ("slots", "booking"),
    "urlaub": ("absence", "vacation"),
    "vacation": ("absence",),
    "sick": ("absence",),
    "holiday": ("absence",),
    "vertrag": ("contract",),
    "agreement": ("contract",),
    "retainer": ("contract",),
    "gutschrift": ("credit",),
    "refund": ("credit",),
    "storno": ("credit",),
    "cancel": ("cancel", "credit"),
    "mitarbeiter": ("user",),
    "team": ("user",),
    "colleague": ("user",),
    "who": ("user", "current"),
    "assign": ("assign",),
    "comment": ("comment",),
    "kommentar": ("comment",),
    "email": ("send",),
    "mail": ("send",),
    "versenden": ("send",),
    "senden": ("send",),
    "week": ("summarize",),
    "month": ("summarize",),
    "summary": ("summarize",),
    "total": ("summarize",),
    "list": ("list",),
    "show": ("list", "get"),
    "find": ("list", "search"),
    "neu": ("create",),
    "new": ("create",),
    "add": ("create", "append"),
    "erstellen": ("create",),
    "anlegen": ("create",),
    "remove": ("delete",),
    "löschen": ("delete",),
    "edit": ("update",),
    "change": ("update",),
    "rename": ("update",),
    "move": ("move",),
    "verschieben": ("move",),
    "convert": ("convert",),
    "sign": ("sign",),
}


def tokenize(text: str) -> list[str]:
    words = _WORD.findall(text.lower().replace("_", " ").replace("-", " "))
    out: list[str] = []
    for word in words:
        if word in _STOP:
            continue
        out.append(word)
        if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            out.append(word[:-1])
    return out


def _expand(tokens: Iterable[str]) -> list[str]:
    out: list[str] = []
    for token in tokens:
        out.append(token)
        out.extend(SYNONYMS.get(token, ()))
    return out


@dataclass
class _Doc:
    tool: GeneratedTool
    terms: Counter[str]
    length: int


class SearchIndex:
    """BM25 over the tools' names (weighted ×3), titles (×2), descriptions, parameters, toolset."""

    def __init__(self, tools: Iterable[GeneratedTool]) -> None:
        self.docs: list[_Doc] = []
        for tool in tools:
            spec = tool.spec
            terms = Counter(
                tokenize(spec.name) * 3
                + tokenize(spec.title) * 2
                + tokenize(spec.description)
                + tokenize(" ".join(p.name for p in spec.params))
                + tokenize(spec.toolset)
            )
            self.docs.append(_Doc(tool, terms, sum(terms.values())))
        self.avg = sum(d.length for d in self.docs) / max(len(self.docs), 1)
        df: Counter[str] = Counter()
        for doc in self.docs:
            df.update(doc.terms.keys())
        n = len(self.docs)
        self.idf = {t: math.log(1 + (n - c + 0.5) / (c + 0.5)) for t, c in df.items()}

    def search(self, query: str, allowed: set[str] | None = None, limit: int = 5) -> list[tuple[GeneratedTool, float]]:
        terms = _expand(tokenize(query))
        scored: list[tuple[GeneratedTool, float]] = []
        for doc in self.docs:
            if allowed is not None and doc.tool.spec.name not in allowed:
                continue
            score = 0.0
            for term in terms:
                freq = doc.terms.get(term, 0)
                if not freq:
                    continue
                idf = self.idf.get(term, 0.0)
                score += idf * freq * 2.2 / (freq + 1.2 * (0.25 + 0.75 * doc.length / self.avg))
            if score > 0:
                scored.append((doc.tool, score))
        scored.sort(key=lambda pair: (-pair[1], pair[0].spec.name))
        return scored[:limit]


@dataclass(frozen=True)
class MetaTool:
    definition: types.Tool
    read_only: bool


def _meta(
    name: str, title: str, description: str, schema: dict[str, Any], *, read_only: bool, destructive: bool
) -> MetaTool:
    return MetaTool(
        types.Tool(
            name=name,
            title=title,
            description=description,
            input_schema=schema,
            annotations=types.ToolAnnotations(
                read_only_hint=read_only,
                destructive_hint=destructive,
                idempotent_hint=read_only,
                open_world_hint=not read_only,
            ),
        ),
        read_only,
    )


_PROXY_SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "description": "Tool name from search_tools"},
        "arguments": {"type": "object", "description": "The tool's arguments"},
    },
    "required": ["name"],
}

META_TOOLS: dict[str, MetaTool] = {
    m.definition.name: m
    for m in (
        _meta(
            "search_tools",
            "Search tools",
            "Find tools beyond those listed (122 in all) by what you want to do; returns names and input schemas.",
            {
                "type": "object",
                "properties": {
                    "query": {"type": "string", "description": "e.g. share a file with a password"},
                    "limit": {"type": "integer", "minimum": 1, "maximum": 20},
                },
                "required": ["query"],
            },
            read_only=True,
            destructive=False,
        ),
        _meta(
            "describe_tool",
            "Describe tool",
            "The full definition (description, input schema, annotations) of one tool by name.",
            {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
            read_only=True,
            destructive=False,
        ),
        _meta(
            "call_read_tool",
            "Run a read-only tool",
            "Run any read-only tool by name (from search_tools) with its arguments.",
            _PROXY_SCHEMA,
            read_only=True,
            destructive=False,
        ),
        _meta(
            "call_write_tool",
            "Run a write tool",
            "Run any tool that changes data by name (from search_tools) with its arguments.",
            _PROXY_SCHEMA,
            read_only=False,
            destructive=True,
        ),
        _meta(
            "list_toolsets",
            "List toolsets",
            "The toolsets with their tool counts and whether they are enabled.",
            {"type": "object", "properties": {}, "required": []},
            read_only=True,
            destructive=False,
        ),
        _meta(
            "enable_toolset",
            "Enable toolset",
            "List a toolset's tools directly (dynamic mode); clients that ignore list changes use call_*_tool.",
            {
                "type": "object",
                "properties": {"toolset": {"type": "string", "enum": list(TOOLSET_ORDER)}},
                "required": ["toolset"],
            },
            read_only=False,
            destructive=False,
        ),
    )
}
DYNAMIC_ONLY = frozenset({"list_toolsets", "enable_toolset"})


def toolset_rows(toolsets: Iterable[ToolsetSpec], counts: dict[str, int], enabled: set[str]) -> list[dict[str, Any]]:
    return [
        {
            "toolset": t.name,
            "title": t.title,
            "description": t.description,
            "tools": counts.get(t.name, 0),
            "enabled": t.name in enabled,
        }
        for t in toolsets
    ]
