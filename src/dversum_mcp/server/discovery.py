"""Discovery that works on every client: search, describe, and run any tool by name.

`search_tools` ranks tools with BM25 over names, titles, descriptions, parameter names, short
enums and toolsets, with a German/English synonym table (Rechnung → invoice), plus two
bonuses: the request's verb is the tool's verb (schicken → send_invoice), and the request
names what the tool's name names (task → create_task). `call_read_tool`
and `call_write_tool` run any selectable tool of their kind with the same validation and
errors, split so a client's approval prompt for writes still means something. In dynamic
mode only these plus `list_toolsets`/`enable_toolset` are listed.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import mcp_types as types

from dversum_mcp.tools.manifest import ToolsetSpec, default_manifest
from dversum_mcp.tools.registry import GeneratedTool

__all__ = ["DYNAMIC_ONLY", "META_TOOLS", "MetaTool", "SearchIndex", "tokenize"]

_WORD = re.compile(r"[a-zäöüß0-9]+")
# fmt: off
_STOP = frozenset({
    "a", "an", "s", "the", "to", "for", "of", "on", "in", "my", "me", "i", "and", "or", "with", "is", "are", "it",
    "this", "that", "what", "how", "did", "do", "does", "be", "by", "at", "from", "all", "please", "can", "you", "we",
    "our", "there", "any", "some", "as", "into", "about", "when", "der", "die", "das", "den", "dem", "des", "ein",
    "eine", "einen", "einem", "und", "für", "mit", "von", "zu", "zum", "zur", "ich", "mir", "mich", "meine", "mein",
    "meinen", "am", "im", "auf", "bitte", "wie", "was", "ist", "sind", "habe",
})
# Everyday words (German and English) → the table's vocabulary. A word the table does not
# use weighs its expansions fully (Rechnung → invoice); a word it uses, at half (notes → page).
SYNONYMS: dict[str, tuple[str, ...]] = {
    "rechnung": ("invoice",), "rechnungen": ("invoice",), "bill": ("invoice",), "invoicing": ("invoice",),
    "billing": ("invoice",), "faktura": ("invoice",), "angebot": ("quote",), "angebote": ("quote",),
    "offer": ("quote",), "accept": ("sign",), "accepted": ("sign",), "estimate": ("quote",), "proposal": ("quote",),
    "kostenvoranschlag": ("quote",), "kunde": ("client",), "kunden": ("client",), "customer": ("client",),
    "company": ("client",), "firma": ("client",), "mahnung": ("reminder", "dunning"),
    "zahlungserinnerung": ("reminder",), "overdue": ("overdue", "reminder"), "chase": ("reminder",),
    "unpaid": ("overdue", "reminder"), "offene": ("overdue",), "zahlung": ("payment",),
    "bezahlt": ("payment", "paid"), "paid": ("payment",), "pay": ("payment",), "zeit": ("time",), "zeiten": ("time",),
    "stunden": ("time", "hours"), "hour": ("time",), "worked": ("time", "summarize"), "work": ("time",),
    "gearbeitet": ("time", "summarize"), "timesheet": ("summarize", "time"), "stundenzettel": ("summarize", "time"),
    "track": ("timer",), "tracking": ("timer",), "erfassen": ("time",), "running": ("running", "timer"),
    "läuft": ("running", "timer"), "aufgabe": ("task",), "aufgaben": ("task",), "todo": ("task",),
    "checklist": ("subtask",), "ticket": ("task",), "card": ("task",), "karte": ("task",), "erledigt": ("done",),
    "finished": ("done",), "complete": ("done",), "projekt": ("project",), "projekte": ("project",),
    "board": ("kanban",), "spalte": ("column",), "seite": ("page",), "seiten": ("page",), "notes": ("page",),
    "notizen": ("page",), "doc": ("page",), "document": ("page", "file"), "dokument": ("page", "file"),
    "wiki": ("page",), "datei": ("file",), "dateien": ("file",), "pdf": ("pdf", "file"), "report": ("file",),
    "bericht": ("file",), "ordner": ("folder",), "teilen": ("share",), "password": ("share", "password"),
    "passwort": ("share", "password"), "freigabe": ("share",), "freigeben": ("share",),
    "termin": ("calendar", "event"), "termine": ("calendar", "event"), "meeting": ("calendar", "event"),
    "besprechung": ("calendar", "event"), "kalender": ("calendar",), "appointment": ("booking",),
    "call": ("booking",), "slot": ("slots",), "availability": ("slots",), "verfügbar": ("slots",),
    "frei": ("free", "slots"), "buchung": ("booking",), "urlaub": ("absence", "vacation"), "vacation": ("absence",),
    "sick": ("absence",), "krank": ("absence", "sick"), "krankmeldung": ("absence", "sick"), "holiday": ("absence",),
    "leave": ("absence",), "abwesenheit": ("absence",), "off": ("absence",), "vertrag": ("contract",),
    "verträge": ("contract",), "agreement": ("contract",), "retainer": ("contract",),
    "wartungsvertrag": ("contract",), "gutschrift": ("credit",), "refund": ("credit",), "storno": ("credit",),
    "stornieren": ("credit", "cancel"), "mitarbeiter": ("user",), "member": ("user",), "team": ("user",),
    "colleague": ("user",), "kollege": ("user",), "who": ("user",), "logged": ("current", "user"),
    "account": ("current", "user"), "archive": ("archived", "status"), "archivieren": ("archived", "status"),
    "signed": ("sign",), "kommentar": ("comment",), "notify": ("webhook", "event"), "notification": ("webhook",),
    "callback": ("webhook",), "server": ("webhook",), "endpoint": ("webhook", "url"), "benachrichtigen": ("webhook",),
    "integration": ("webhook",), "zapier": ("webhook",), "week": ("summarize",), "woche": ("summarize",),
    "month": ("summarize",), "monat": ("summarize",), "summary": ("summarize",), "total": ("summarize",),
    "long": ("summarize",), "disable": ("active",), "enable": ("active",), "deactivate": ("active",),
    "pause": ("active",), "mistake": ("wrongly",), "wrong": ("wrongly",), "history": ("log",), "verlauf": ("log",),
}
# Words that say what to do → the verbs that begin tool names (send_invoice, create_task…).
VERBS: dict[str, tuple[str, ...]] = {
    "send": ("send",), "schicken": ("send",), "verschicken": ("send",), "senden": ("send",), "versenden": ("send",),
    "email": ("send",), "mail": ("send",), "remind": ("send",), "erinnern": ("send",), "create": ("create",),
    "add": ("create", "append"), "new": ("create",), "neu": ("create",), "neuen": ("create",), "neues": ("create",),
    "neue": ("create",), "make": ("create",), "write": ("create",), "put": ("create",), "schedule": ("create",),
    "plan": ("create",), "log": ("create",), "leave": ("create",), "post": ("create",), "erstellen": ("create",),
    "anlegen": ("create",), "eintragen": ("create",), "hinzufügen": ("create", "append"), "schreiben": ("create",),
    "planen": ("create",), "show": ("list", "get"), "find": ("list",), "which": ("list",), "welche": ("list",),
    "list": ("list",), "anzeigen": ("list", "get"), "auflisten": ("list",), "history": ("list",),
    "verlauf": ("list",), "zeigen": ("list", "get"), "get": ("get",), "open": ("get",), "read": ("get",),
    "lesen": ("get",), "view": ("get",), "see": ("get", "list"), "who": ("list", "get"), "archive": ("set",),
    "archivieren": ("set",), "delete": ("delete",), "remove": ("delete",), "erase": ("delete",), "undo": ("delete",),
    "drop": ("delete",), "löschen": ("delete",), "entfernen": ("delete",), "edit": ("update",), "change": ("update",),
    "rename": ("update",), "ändern": ("update",), "umbenennen": ("update",), "update": ("update",),
    "disable": ("update",), "enable": ("update",), "deactivate": ("update",), "pause": ("update",),
    "bill": ("create",), "move": ("move",), "verschieben": ("move",), "convert": ("convert",), "turn": ("convert",),
    "umwandeln": ("convert",), "sign": ("sign",), "unterschreiben": ("sign",), "reject": ("reject",),
    "ablehnen": ("reject",), "cancel": ("cancel",), "terminate": ("cancel",), "kündigen": ("cancel",),
    "absagen": ("cancel",), "revoke": ("revoke",), "widerrufen": ("revoke",), "assign": ("assign",),
    "zuweisen": ("assign",), "start": ("start",), "starten": ("start",), "track": ("start",), "stop": ("stop",),
    "stoppen": ("stop",), "anhalten": ("stop",), "mark": ("toggle",), "abhaken": ("toggle",), "done": ("toggle",),
    "erledigt": ("toggle",), "record": ("record",), "erfassen": ("create", "record"), "buchen": ("book",),
    "book": ("book",), "reschedule": ("reschedule",), "verlegen": ("reschedule",), "upload": ("upload",),
    "hochladen": ("upload",), "download": ("download",), "herunterladen": ("download",), "append": ("append",),
    "insert": ("insert",), "replace": ("replace",), "ersetzen": ("replace",), "summarize": ("summarize",),
    "zusammenfassen": ("summarize",), "share": ("create",), "notify": ("create",),
}
# Two-word phrases read as one word before the rest (meeting notes are a page, not an event).
PHRASES: dict[str, str] = {
    "meeting notes": "page notes", "sick leave": "absence sick", "time off": "absence", "day off": "absence",
    "credit note": "credit", "how long": "summarize time", "wie lange": "summarize time",
    "meeting minutes": "page notes", "clock in": "start timer", "clock out": "stop timer", "tick off": "done",
    "check off": "done", "how much": "summarize", "booking page": "booking type", "share link": "share",
    "to do": "task", "logged in": "current user", "who am i": "current user",
}
# Word forms read as their base form, in requests and tool texts alike (signed → sign).
_FORMS: dict[str, str] = {
    "signed": "sign", "signing": "sign", "signer": "sign", "archived": "archive", "shared": "share",
    "cancelled": "cancel", "canceled": "cancel", "assigned": "assign", "assignee": "assign", "assignees": "assign",
    "rejected": "reject", "converted": "convert", "uploaded": "upload", "booked": "book", "moved": "move",
}
# fmt: on
_MISMATCH = 0.8  # × the score of a tool whose verb is not one the request asks for
_VERB_BONUS = 1.0  # × the verb's rarity among tool names, when the tool's verb is one the request asks for
_NAME_BONUS = 3.0  # × the share of the tool name's other words that the request names
_PAGING = frozenset({"page", "per_page", "all_pages"})  # on every list tool: not what a tool is about
_ENUM_MAX = 12  # index enum values of short enums (status: overdue …); long ones are noise


def _stem(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us")):
        return word[:-1]
    return word


_SYNONYMS = {_stem(k): v for k, v in SYNONYMS.items()}
_VERBS = {_stem(k): v for k, v in VERBS.items()}


def _words(text: str) -> list[str]:
    words = _WORD.findall(text.lower().replace("_", " ").replace("-", " ").replace(".", " "))
    return [_stem(w) for w in words if w not in _STOP]


def tokenize(text: str) -> list[str]:
    """Lower-case words without stop words; plurals and a few word forms folded (invoices → invoice)."""
    return [_FORMS.get(w, w) for w in _words(text)]


def _query_words(query: str) -> list[str]:
    """The request's words (phrases read first), before word forms are folded: "signed" is no command."""
    text = " ".join(_WORD.findall(query.lower().replace("_", " ").replace("-", " ")))
    for phrase, meaning in PHRASES.items():
        text = re.sub(rf"\b{phrase}s?\b", meaning, text)
    return _words(text)


def _query_terms(tokens: list[str], vocabulary: Mapping[str, float]) -> dict[str, float]:
    """Each query word and its synonyms, with weights (the highest weight wins for a term)."""
    weights: dict[str, float] = {}
    for token in tokens:
        weights[token] = max(weights.get(token, 0.0), 1.0)
        expansion = 0.5 if token in vocabulary else 1.0
        for term in _SYNONYMS.get(token, ()):
            for part in tokenize(term):
                weights[part] = max(weights.get(part, 0.0), expansion)
    return weights


@dataclass
class _Doc:
    tool: GeneratedTool
    verb: str
    nouns: tuple[str, ...]
    terms: Counter[str]
    length: int


class SearchIndex:
    """BM25 over the tools' names (weighted ×3), titles (×2), descriptions, parameters, short enums and
    toolset; plus a bonus when the request's verb (send, anlegen…) is the tool's verb, a smaller score
    when the request asks for another verb, and a bonus for the share of the name's nouns it names."""

    def __init__(self, tools: Iterable[GeneratedTool]) -> None:
        self.docs: list[_Doc] = []
        for tool in tools:
            spec = tool.spec
            enums = [v for p in spec.params if p.enum and len(p.enum) <= _ENUM_MAX for v in p.enum]
            terms = Counter(
                tokenize(spec.name) * 3
                + tokenize(spec.title) * 2
                + tokenize(spec.description)
                + tokenize(" ".join(p.name for p in spec.params if p.name not in _PAGING))
                + tokenize(" ".join(enums))
                + tokenize(spec.toolset)
            )
            verb, *nouns = tokenize(spec.name) or [spec.name]
            self.docs.append(_Doc(tool, verb, tuple(nouns), terms, sum(terms.values())))
        self.avg = sum(d.length for d in self.docs) / max(len(self.docs), 1)
        df: Counter[str] = Counter()
        for doc in self.docs:
            df.update(doc.terms.keys())
        n = len(self.docs)
        self.idf = {t: math.log(1 + (n - c + 0.5) / (c + 0.5)) for t, c in df.items()}
        verbs = Counter(d.verb for d in self.docs)
        self.verb_idf = {v: math.log(1 + n / c) for v, c in verbs.items()}
        # Request words that only say "do" (add, anlegen, which…) and are in no tool's name or title are
        # verbs, not search terms ("Add a kanban column" must not match "add a task").
        in_names = {w for d in self.docs for w in (*tokenize(d.tool.spec.name), *tokenize(d.tool.spec.title))}
        self.verb_only = {w for w in _VERBS if w not in in_names and w not in _SYNONYMS}

    def search(self, query: str, allowed: set[str] | None = None, limit: int = 5) -> list[tuple[GeneratedTool, float]]:
        words = _query_words(query)
        tokens = [_FORMS.get(w, w) for w in words]
        terms = _query_terms(tokens, self.idf)
        # The verbs asked for; a request without one ("my calendar tomorrow") leans a little to list_….
        verbs = dict.fromkeys((v for t in words for v in _VERBS.get(t, (t,) if t in self.verb_idf else ())), 1.0)
        explicit = bool(verbs)
        verbs = verbs or {"list": 0.5}
        for word in self.verb_only:
            terms.pop(word, None)
        scored: list[tuple[GeneratedTool, float]] = []
        for doc in self.docs:
            if allowed is not None and doc.tool.spec.name not in allowed:
                continue
            score = 0.0
            for term, weight in terms.items():
                freq = doc.terms.get(term, 0)
                if not freq:
                    continue
                idf = self.idf.get(term, 0.0)
                score += weight * idf * freq * 2.2 / (freq + 1.2 * (0.25 + 0.75 * doc.length / self.avg))
            if score > 0 and doc.verb in verbs:
                score += _VERB_BONUS * verbs[doc.verb] * self.verb_idf[doc.verb]
            elif explicit:
                score *= _MISMATCH
            if score > 0 and doc.nouns:
                score += _NAME_BONUS * sum(terms.get(n, 0.0) for n in doc.nouns) / len(doc.nouns)
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
            title=None if title == name.replace("_", " ").capitalize() else title,
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
            "Find any tool, listed or not, by what you want to do (English or German); returns names and schemas.",
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
                "properties": {"toolset": {"type": "string", "enum": [t.name for t in default_manifest().toolsets]}},
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
