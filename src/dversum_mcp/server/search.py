"""The ranker behind `search_tools`: BM25 over the tool table plus the search words of `_search.toml`.

A request is first read clause by clause: a German particle that ends a clause joins its verb ("trag
… ein" → eintragen), a person's name becomes "someone" for the phrases ("put Anna on this ticket"),
and phrases are replaced by what they mean, an English phrasal verb also across the words between
("call the meeting off"). Then word by word: each word is looked up in the word table (as written,
then by its German and English Snowball stems), else taken as a word of the tool table, else split
as a German compound (Zahlungseingang → Zahlung + Eingang), else corrected by one or two typos
against every known word (rapidfuzz; common words are no typos). Words that say what to do (send,
anlegen, stop…) choose the tool's verb, unless an article makes them a noun ("the email address");
the others are search terms. A past participle leans to its verb ("is cancelled"), "new" before a
field reads as a change ("a new title"), a noun's number chooses get_ or list_ ("the invoice",
"invoices"), and a thing a word only implies ("running" → timer) counts when no other is named.
A tool's score is BM25 over its name (×3), title (×2), description, parameter names, short enums
and toolset, plus a bonus for the share of its name's nouns the request names and one for its verb.
When nothing scores, the tool names closest in spelling answer, so a request with any word that
resembles a tool never comes back empty.

The index is built at the first search, so starting the server costs nothing.
"""

from __future__ import annotations

import math
import re
import tomllib
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from dversum_mcp.tools.manifest import manifest_dir
from dversum_mcp.tools.registry import GeneratedTool

__all__ = ["SearchIndex", "SearchWords", "tokenize"]

_WORD = re.compile(r"[a-zäöüß0-9]+(?:['’-][a-zäöüß0-9]+)*")
# fmt: off
_STOP = frozenset({
    "a", "an", "s", "the", "to", "for", "of", "on", "in", "my", "me", "i", "and", "or", "with", "is", "are", "it",
    "this", "that", "what", "how", "did", "do", "does", "be", "by", "at", "from", "all", "please", "can", "you", "we",
    "our", "there", "any", "some", "as", "into", "about", "when", "der", "die", "das", "den", "dem", "des", "ein",
    "eine", "einen", "einem", "einer", "und", "für", "mit", "von", "zu", "zum", "zur", "ich", "mir", "mich", "meine",
    "mein", "meinen", "am", "im", "auf", "bitte", "wie", "was", "ist", "sind", "habe", "hat", "wird", "wurde",
    "es", "er", "sie", "wir", "uns", "unser", "noch", "schon", "diese", "dieser", "diesen", "nach", "bei",
    "so", "just", "up", "its", "it's", "i'm", "we're", "now", "still", "yet", "also", "again", "after", "called",
    "named", "titled", "someone", "somebody", "jemand", "jemanden", "jemandem",
    "gonna", "wanna", "gotta", "lemme", "weekend", "wochenende", "january", "february", "march", "april", "may",
    "june", "july", "august", "september", "october", "november", "december", "januar", "februar", "märz", "mai",
    "juni", "juli", "oktober", "dezember",
    "not", "nicht", "next", "last", "nachste", "nachsten", "nachstes", "letzte", "letzten", "letztes",
    "been", "were", "has", "have", "had", "will", "would", "could", "there's", "what's", "isn't",
    "them", "him", "her", "us", "they", "he", "she", "ours", "yours", "mine", "theirs", "his", "hers",
})
# fmt: on
# Words before a noun: what follows one is no verb ("the email address", "my schedule", "der Entwurf").
# fmt: off
_DETERMINERS = frozenset({
    "the", "a", "an", "my", "our", "your", "their", "its", "this", "that", "these", "those", "der", "die", "das",
    "den", "dem", "des", "ein", "eine", "einen", "einem", "einer", "mein", "meine", "meinen", "unser", "unsere",
    "unseren", "dein", "deine",
})
# fmt: on
# Function words that tell an English request from a German one (for reading capitalized words as names).
# fmt: off
_ENGLISH = frozenset({
    "the", "to", "on", "is", "a", "for", "of", "my", "me", "i", "and", "with", "this", "that", "were", "are", "it",
    "be", "have", "has", "from", "by", "we", "you", "our", "your", "what", "which", "who", "how", "when", "not", "been",
})
# fmt: on
_GERMAN = frozenset({"der", "die", "das", "den", "dem", "ein", "eine", "einen", "und", "fur", "mit", "ist", "ich"})
_QUOTED = re.compile(r"""(?<![\w'’])['"“„‘]([^'"“”„‘’]{1,60})['"”“’](?![\w'’])""")
# Words whose "'s" is "is" or "has", not a possessive ("what's my slug", "it's fixed").
_NOT_OWNERS = frozenset({"it", "what", "that", "there", "here", "who", "where", "how", "when", "he", "she", "let"})
# A span of clock times: "from 9 to 12", "von 9 bis 12:30", "9-11am" (a word of the table says what it means).
_CLOCK = r"\d{1,2}(?:[:.]\d\d)? ?(?:am|pm|uhr)?"
_SPAN = re.compile(rf"\b(?:(?:from|von) )?{_CLOCK} ?(?:to|till|until|bis|-|–) ?{_CLOCK}\b")
_LONGEST = 40  # letters of the longest word worth splitting or correcting
_LINKS = ("", "s", "es", "n", "en", "e")  # German linking elements between compound parts
_B = 0.4  # BM25 length normalization: low, since parameter names make write tools' texts long
_LEAN = 2.0  # × a verb a request implies without saying it ("Max is sick" → create), against a said one
_MISMATCH = 0.6  # × the score of a tool whose verbs are none the request asks for
_VERB_BONUS = 2.5  # + when one of the tool's verbs is one the request asks for (× how sure both sides are)
_DESCRIBED = 0.8  # how much the verb a tool's title or description begins with counts, against its name's
_PARTICIPLE = 0.6  # how much a past participle leans to its verb ("the meeting is cancelled")
_ASKED = 0.6  # how much a question mark asks for list_… and get_…
_SOLE = 0.5  # the weight of the things a verb that only one tool does implies
_YIELD = 0.5  # × the verbs a thing suggests when other words say what happened
_LATER = 0.6  # how much a later word that says what to do counts, against the first one
_DEFINITE = 0.5  # × create when the first thing named is one there is and the verb may also change it
_DEFINITE_WORDS = frozenset(
    {"the", "this", "that", "my", "our", "your", "its", "their", "der", "die", "das", "den", "dem", "des"}
)
_MAKES = 0.5  # how much a tool that turns or adds a thing into another (…_to_…) creates it
# How much a word counts in a tool's name, title, description, parameter names, short enums and toolset:
# parameter names less, since a write tool's fields would otherwise outweigh what it does.
_W_NAME, _W_TITLE, _W_DESC, _W_PARAMS, _W_ENUMS, _W_SET = 3.0, 2.0, 1.0, 0.5, 1.0, 1.0
_FIELDS = 0.3  # the weight of a thing's fields (what create_/update_ set) in its get_ tool
_TRIGGERS = frozenset({"whenever", "sobald"})  # what follows is the event a webhook waits for
_TRIGGERED = 0.5  # × the words of that event
_DESTINATIONS = frozenset({"to", "into", "under", "in"})  # before a name that ends a clause: where to
_NAME_BONUS = 3.0  # × the share of the tool name's nouns the request names and of the request the name covers
# English particles that may stand apart from their verb ("call the meeting off"): a two-word phrase of
# the word table ending in one also matches with up to three words between (within one clause).
_PARTICLES_EN = frozenset({"off", "out", "down", "up", "over", "back", "away", "in", "on", "again"})
# German separable particles: at the end of a clause they belong to its verb ("trag … ein" → eintragen).
# fmt: off
_PARTICLES_DE = (
    "zuruck", "zusammen", "weiter", "runter", "heraus", "herunter", "hoch", "raus", "rein", "fest", "nach", "auf",
    "aus", "ein", "los", "mit", "weg", "vor", "ab", "an", "um", "zu",
)
# fmt: on
_ENDINGS = ("est", "st", "et", "t", "e", "")  # what a German finite verb adds to its stem (trägt → trag)
_SOMEONE = "someone"  # a person's name in a request, and what a phrase of the word table writes for one
_PERSONS = ("someone", "somebody", "him", "her", "them", "me", "jemand", "jemanden", "jemandem")
_PAGING = frozenset({"page", "per_page", "all_pages"})  # on every list tool: not what a tool is about
_ENUM_MAX = 12  # index enum values of short enums (status: overdue …); long ones are noise


def _fold(text: str) -> str:
    """Lower case, ß → ss, accents and umlauts to their base letter (überfällig → uberfallig)."""
    text = text.lower().replace("ß", "ss")
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))


_STOP = frozenset(_fold(w) for w in _STOP)  # requests are folded before they meet it (für → fur)


# Neighbouring keys (QWERTZ and QWERTY), for telling a slip of the finger from another word.
_ROWS = ("1234567890", "qwertzuiop", "asdfghjkl", "yxcvbnm", "qwertyuiop", "zxcvbnm")


@cache
def _neighbours(key: str) -> frozenset[str]:
    near: set[str] = set()
    rows = [(i, r) for i, r in enumerate(_ROWS[:4])] + [(1, _ROWS[4]), (3, _ROWS[5])]
    for i, row in rows:
        if key not in row:
            continue
        at = row.index(key)
        for j, other in rows:
            if abs(i - j) <= 1:
                near.update(other[max(0, at - 1) : at + 2])
    return frozenset(near - {key})


def _slip(typed: str, meant: str) -> bool:
    """Whether one edit from `meant` to `typed` is a typing slip: a letter left out, two swapped, a neighbouring
    key hit instead or as well, a letter doubled; not another word (test is no text, intro no into)."""
    if len(typed) + 1 == len(meant):
        return True  # a letter left out
    if len(typed) == len(meant) + 1:  # a letter too many: doubled or a neighbouring key's
        for i, extra in enumerate(typed):
            if typed[:i] + typed[i + 1 :] == meant:
                near = typed[i - 1 : i] + typed[i + 1 : i + 2]
                if any(c == extra or c in _neighbours(extra) for c in near):
                    return True
        return False
    diff = [i for i, (a, b) in enumerate(zip(typed, meant, strict=False)) if a != b]
    if len(diff) == 2 and diff[1] == diff[0] + 1 and typed[diff[0]] == meant[diff[1]]:
        return True  # two letters swapped
    return len(diff) == 1 and typed[diff[0]] in _neighbours(meant[diff[0]])


def _inflected(verb: str) -> str:
    """A regular expression for an English verb as inflected: calls, switched, ticking, wrapped, dropping."""
    return rf"{re.escape(verb)}(?:{re.escape(verb[-1])}(?=ed|ing))?(?:s|es|ed|d|ing)?"


def _uncontract(text: str) -> str:
    """English contractions spelled out as the reading sees them: can't → ca not, Lisa's → lisa."""
    text = re.sub(r"n['’]t\b", " not", text)
    return re.sub(r"['’](?:s|m|re|ll|ve|d)\b", "", text)


def _english(words: list[str]) -> bool:
    """Whether folded request words are more English than German (by their function words)."""
    return sum(w in _ENGLISH for w in words) > sum(w in _GERMAN for w in words)


def _stem(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


@cache
def _stemmers() -> tuple[Any, Any]:
    import snowballstemmer  # type: ignore[import-untyped]

    return snowballstemmer.stemmer("german"), snowballstemmer.stemmer("english")


@dataclass(frozen=True)
class SearchWords:
    """`_search.toml`: phrases, word meanings, verb words and word forms."""

    phrases: dict[str, str]
    words: dict[str, dict[str, float]]
    verbs: dict[str, dict[str, float]]
    leading: dict[str, dict[str, float]]
    attributes: dict[str, dict[str, float]]
    plain: frozenset[str]
    many: frozenset[str]
    collective: frozenset[str]
    stems: dict[str, str]
    forms: dict[str, str]

    @classmethod
    def load(cls, path: Path | None = None) -> SearchWords:
        data = tomllib.loads((path or manifest_dir() / "_search.toml").read_text(encoding="utf-8"))

        def weighted(table: dict[str, list[str]]) -> dict[str, dict[str, float]]:
            out: dict[str, dict[str, float]] = {}
            for word, readings in table.items():
                parsed: dict[str, float] = {}
                for reading in readings:
                    meaning, _, weight = reading.partition(":")
                    parsed[meaning] = float(weight or 1.0)
                out[_fold(word)] = parsed
            return out

        return cls(
            phrases={_fold(k): _fold(v) for k, v in data.get("phrases", {}).items()},
            words=weighted(data.get("words", {})),
            verbs=weighted(data.get("verbs", {})),
            leading=weighted(data.get("leading", {})),
            attributes=weighted(data.get("attributes", {})),
            plain=frozenset(_fold(w) for w in data.get("plain", {}).get("words", [])),
            many=frozenset(_fold(w) for w in data.get("number", {}).get("many", [])),
            collective=frozenset(_fold(w) for w in data.get("number", {}).get("collective", [])),
            stems={_fold(k): _fold(v) for k, v in data.get("stems", {}).items()},
            forms={_fold(k): v for k, v in data.get("forms", {}).items()},
        )


def tokenize(text: str, forms: Mapping[str, str] | None = None) -> list[str]:
    """Lower-case words without stop words; plurals and the given word forms folded (invoices → invoice)."""
    words = re.findall(r"[a-z0-9]+", _fold(text).replace("_", " "))
    out = [_stem(w) for w in words if w not in _STOP]
    return [forms.get(w, w) for w in out] if forms else out


@dataclass
class _Doc:
    tool: GeneratedTool
    verb: str
    verbs: dict[str, float]
    nouns: tuple[str, ...]
    terms: Counter[str]
    length: int
    spelling: str
    # What its description says it does besides its name: "Cancel a sent invoice…" → {"cancel": ("invoice",)}.
    aliases: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass
class _Reading:
    """What one request means: search terms with weights, verbs asked for, and whether one was explicit."""

    terms: dict[str, float]
    verbs: dict[str, float]
    lean: dict[str, float]
    number: int = 0  # > 0: the things a tool names come singular ("the invoice"), < 0: plural ("invoices")


class SearchIndex:
    """BM25 over the tool table, read through the search words (see the module docstring)."""

    def __init__(self, tools: Iterable[GeneratedTool], words: SearchWords | None = None) -> None:
        self._tools = list(tools)
        self._words = words
        self._built = False

    # ---- building ------------------------------------------------------------------------------------------------
    def _build(self) -> None:
        words = self._words or SearchWords.load()
        self.words = words
        self.docs: list[_Doc] = []
        raw_words: Counter[str] = Counter()
        for tool in self._tools:
            spec = tool.spec
            enums = [v for p in spec.params if p.enum and len(p.enum) <= _ENUM_MAX for v in p.enum]
            params = " ".join(p.name for p in spec.params if p.name not in _PAGING)
            text = f"{spec.name} {spec.title} {spec.description} {params} {' '.join(enums)} {spec.toolset}"
            raw_words.update(w for w in re.findall(r"[a-z]+", _fold(text.replace("_", " "))) if len(w) > 3)
            terms: Counter[str] = Counter()
            for part, weight in (
                (spec.name, _W_NAME),
                (spec.title, _W_TITLE),
                (spec.description, _W_DESC),
                (params, _W_PARAMS),
                (" ".join(enums), _W_ENUMS),
                (spec.toolset, _W_SET),
            ):
                for token in self._tok(part):
                    terms[token] += weight  # type: ignore[assignment]
            verb, *nouns = self._tok(spec.name) or [spec.name]
            # What the title and description begin with is a verb of the tool too ("Cancel a sent invoice…").
            doc_verbs = {verb: 1.0}
            for text in (spec.title, spec.description):
                first = _fold(text).split(" ", 1)[0].strip("(),.;:")
                for other, weight in words.verbs.get(first, {first: 1.0}).items():
                    if weight == 1.0:
                        doc_verbs.setdefault(other, _DESCRIBED)
            if verb == "update" and any(p.name == "done" for p in spec.params):
                doc_verbs.setdefault("toggle", _DESCRIBED)  # update_subtask marks one done too
            if "_to_" in spec.name:  # convert_quote_to_invoice makes an invoice, append_to_page writes a page
                doc_verbs.setdefault("create", _MAKES)
            spelling = f"{spec.name.replace('_', ' ')} {spec.title}".lower()
            self.docs.append(_Doc(tool, verb, doc_verbs, tuple(nouns), terms, sum(terms.values()), spelling))
        # A thing's fields are what reading it shows too: get_project has the budget update_project sets.
        setters: dict[tuple[str, ...], set[str]] = {}
        for doc in self.docs:
            if doc.verb in ("create", "update"):
                fields = " ".join(p.name for p in doc.tool.spec.params if not p.name.endswith("_id"))
                setters.setdefault(doc.nouns, set()).update(set(self._tok(fields)) - set(doc.nouns))
        for doc in self.docs:
            if _FIELDS and doc.verb == "get" and doc.nouns in setters:
                for term in setters[doc.nouns] - set(doc.terms):
                    doc.terms[term] = _FIELDS  # type: ignore[assignment]
                doc.length = sum(doc.terms.values())
        self.avg = sum(d.length for d in self.docs) / max(len(self.docs), 1)
        df: Counter[str] = Counter()
        for doc in self.docs:
            df.update(doc.terms.keys())
        n = len(self.docs)
        self.idf = {t: math.log(1 + (n - c + 0.5) / (c + 0.5)) for t, c in df.items()}
        for doc in self.docs:  # only verbs that begin some tool's name count
            doc.verbs = {v: w for v, w in doc.verbs.items() if any(v == d.verb for d in self.docs)}
        verbs = Counter(d.verb for d in self.docs)
        self.verb_idf = {v: math.log(1 + n / c) for v, c in verbs.items()}
        self._sole = {d.verb: d.nouns for d in self.docs if verbs[d.verb] == 1}  # assign → (task,)
        self.name_nouns = {noun for d in self.docs for noun in d.nouns}
        self.heads = {d.nouns[-1] for d in self.docs if d.nouns}  # what a tool is about: invoice, event…
        for doc in self.docs:  # the things the description's own verb acts on ("Cancel a sent invoice")
            clause = re.split(r"[;:(.]", doc.tool.spec.description, maxsplit=1)[0]
            objects = tuple(t for t in self._tok(clause) if t in self.heads and t not in doc.nouns)
            if objects:
                doc.aliases = {v: objects for v in doc.verbs if v != doc.verb}
        # Stems of the word table's keys, for "Rechnungen" → rechnung and "sends" → send.
        german, english = _stemmers()
        self._keys = {**dict.fromkeys(words.verbs), **dict.fromkeys(words.words)}
        self._de: dict[str, str] = {}
        self._en: dict[str, str] = {}
        for key in self._keys:
            self._de.setdefault(german.stemWord(key), key)
            self._en.setdefault(english.stemWord(key), key)
        # Everything a typo may be corrected to: the word table, then the table's own words.
        self._spellings = list(self._keys) + [w for w, _ in raw_words.most_common() if w not in self._keys]
        self._verbs_de = {german.stemWord(key): key for key in words.verbs}
        # German verbs of the word table without a separable particle too (eintragen: tragen), for orders.
        self._infinitives = {
            key[len(p) :] if key.startswith(p) and len(key) - len(p) > 3 else key
            for key in words.verbs
            if key.endswith("en")
            for p in ("", *_PARTICLES_DE)
        }
        self._phrase_words = {w for phrase in words.phrases for w in phrase.split()}
        self._named = {t for d in self.docs for t in self._tok(f"{d.tool.spec.name} {d.tool.spec.title}")}
        # Phrases, longest first; "someone" in a phrase stands for a person's name or a pronoun. A two-word
        # phrase ending in an English particle also matches around up to three words ("call the meeting off").
        person = "(?:" + "|".join(_PERSONS) + ")"
        self._phrases: list[tuple[str, re.Pattern[str], str]] = []  # (a word it has, pattern, meaning)
        self._gapped: list[tuple[str, re.Pattern[str], str]] = []
        for phrase, meaning in sorted(words.phrases.items(), key=lambda item: -len(item[0].split())):
            parts = _uncontract(phrase).split()  # "can't make it" as requests read: ca not make it
            pattern = " ".join(person if w == _SOMEONE else re.escape(w) for w in parts)
            if len(parts) == 2 and parts[1] in _PARTICLES_EN and parts[0] not in _STOP:
                # The verb of a phrasal verb as it is inflected: switched off, calls off, ticking off.
                pattern = rf"{_inflected(parts[0])} {re.escape(parts[1])}"
            if parts[0] == _SOMEONE:  # a person who does or is something begins the clause
                pattern = rf"(?:(?<=^)|(?<=\| )){pattern}"
            anchor = max((w for w in parts if w != _SOMEONE), key=len)
            self._phrases.append((anchor, re.compile(rf"(?<![\w']){pattern}s?(?![\w'])"), meaning))
            if len(parts) == 2 and parts[1] in _PARTICLES_EN and parts[0] not in _STOP:
                verb, particle = (re.escape(w) for w in parts)
                verb = _inflected(parts[0])
                # Up to three words between, or any number when the particle ends the clause.
                gap = rf"(?<![\w']){verb}((?: [^ |]+){{1,3}}|(?: [^ |]+)+(?= {particle}(?: \||$))) {particle}(?![\w'])"
                self._gapped.append((parts[1], re.compile(gap), meaning))
        self._key_of: dict[str, str | None] = {}  # request words already looked up by their stems
        self._built = True

    def _tok(self, text: str) -> list[str]:
        return tokenize(text, self.words.forms)

    def tokens(self, text: str) -> list[str]:
        """The index terms of a text (built index)."""
        return self._tok(text)

    def understands(self, word: str) -> bool:
        """Whether a request word means something without typo correction: a stop word, a search word, a verb
        or a word of the tool table (built index)."""
        word = _fold(word)
        return word in _STOP or word in self.words.verbs or self._known(word)

    # ---- reading a request ---------------------------------------------------------------------------------------
    def _key(self, word: str) -> str | None:
        """The word table's key for a request word: as written, else by its German or English stem."""
        if word in self._keys:
            return word
        if word not in self._key_of:
            if len(self._key_of) > 20_000:  # bounded: requests bring any words
                self._key_of.clear()
            german, english = _stemmers()
            self._key_of[word] = self._de.get(german.stemWord(word)) or self._en.get(english.stemWord(word))
        return self._key_of[word]

    def _known(self, word: str) -> bool:
        token = self._tok(word)
        return self._key(word) is not None or (len(token) == 1 and token[0] in self.idf)

    def _split(self, word: str, depth: int = 0) -> list[str] | None:
        """A German compound as known parts (Zahlungseingang → zahlung, eingang), the longest last part first."""
        if depth > 2 or len(word) < 6:
            return None
        for cut in range(3, len(word) - 2):
            head, tail = word[:cut], word[cut:]
            if not self._known(head) or len(head) < 3:
                continue
            for link in _LINKS:
                if not tail.startswith(link) or len(tail) - len(link) < 3:
                    continue
                rest = tail[len(link) :]
                if self._known(rest):
                    return [head, rest]
                deeper = self._split(rest, depth + 1)
                if deeper:
                    return [head, *deeper]
        return None

    def _correct(self, word: str) -> str | None:
        """The closest known word within one typo (≤ 5 letters) or two (longer), if any."""
        if len(word) < 4 or any(c.isdigit() for c in word) or word in self.words.plain:
            return None
        from rapidfuzz import process
        from rapidfuzz.distance import OSA

        limit = 1 if len(word) <= 8 else 2
        found = process.extract(word, self._spellings, scorer=OSA.distance, score_cutoff=limit, limit=None)
        found = [hit for hit in found if hit[1] > 1 or _slip(word, hit[0])]
        # The fewest typos; then the same first letter (asign → assign, not sign); then the word table first.
        found.sort(key=lambda hit: (hit[1], hit[0][0] != word[0], hit[2]))
        return found[0][0] if found else None

    def _part(self, word: str) -> str | None:
        """The longest known end (the German compound's head: Kundenverwaltung → …) or else beginning."""
        for size in range(len(word) - 3, 3, -1):
            for link in ("", *_LINKS[1:]):
                head = word[: size - len(link)] if link and word[:size].endswith(link) else word[:size]
                if self._known(word[-size:]):
                    return word[-size:]
                if len(head) >= 4 and self._known(head):
                    return head
        return None

    def _resolve(self, word: str, names: set[str]) -> list[str]:
        """The request word as known words: itself, its compound parts, its typo correction, or a known part."""
        if word in _STOP or len(word) > _LONGEST or self._known(word):
            return [word]  # a word longer than any German compound is no word to split or correct
        parts = self._split(word)
        if parts:
            return parts
        fixed = None if word in names else self._correct(word)
        part = None if fixed or word in names else self._part(word)
        return [fixed or part or word]

    def _persons(self, query: str) -> set[str]:
        """Words of the request that name a person: capitalized, and in English inside a sentence and no word
        of the tool names or the word table; in German (where nouns are capitalized too) also no known word,
        compound or typo of a noun."""
        words = re.findall(_WORD.pattern, query, re.IGNORECASE)
        folded = [_fold(w) for w in words]
        english = _english(folded)
        persons: set[str] = set()
        for i, (original, word) in enumerate(zip(words, folded, strict=True)):
            word = re.sub(r"['’]s$", "", word)
            if not re.fullmatch(r"[A-ZÄÖÜ][a-zäöüß]+(?:['’]s)?", original) or word in _STOP:
                continue
            if self._key(word) is not None or word in self._phrase_words or word in self.words.leading:
                continue
            owner = re.search(r"['’]s$", original) is not None  # "Max's email"
            if (english and i) or owner:
                if not (set(self._tok(word)) & self._named):
                    persons.add(word)
                continue
            if not english and i and (folded[i - 1] in _DETERMINERS or folded[i - 1] in self.words.leading):
                continue  # a German noun after an article or a question word ("welche Ereignisse") is a thing
            if word in self.words.plain or (not english and not i and self._imperative(word)):
                continue  # a common word ("Gestern"), a German order's verb ("Mach", "Trag … ein", "Hör auf")
            resolved = self._resolve(word, set())
            if all(not self._known(w) or w in self.words.verbs or w in self.verb_idf for w in resolved):
                persons.add(word)
        return persons

    def _imperative(self, word: str) -> bool:
        """Whether a German word is a verb's stem as in an order: mach, trag (… ein), hör (… auf), schließ."""
        base = self.words.stems.get(word, word)
        return base + "en" in self._infinitives or base + "n" in self._infinitives

    def _separable(self, words: list[str]) -> list[str]:
        """A German clause whose last word is a verb's particle, with the particle joined to its verb
        ("trag den Urlaub ein" → eintragen den Urlaub), when the joined verb is one of the word table."""
        if len(words) < 2 or words[-1] not in _PARTICLES_DE:
            return words
        german, _ = _stemmers()
        particle = words[-1]
        for i, word in enumerate(words[:-1]):
            if word in _STOP or len(word) < 2:
                continue
            bases = [word[: len(word) - len(end)] for end in _ENDINGS if word.endswith(end)]
            bases += [self.words.stems[word]] if word in self.words.stems else []  # nimm → nehm
            for base in (b for b in bases if len(b) >= 2):
                joined = particle + base
                for infinitive in (joined + "en", joined + "n", joined):
                    verb = infinitive if infinitive in self.words.verbs else None
                    verb = verb or self._verbs_de.get(german.stemWord(infinitive))
                    if verb:  # the verb takes the particle's place: "die Aufgabe wieder aufmachen"
                        return [*words[:i], *words[i + 1 : -1], verb]
        return words

    def _names_field(self, words: list[str], names: set[str]) -> bool:
        """Whether the words name a field of a thing (a title, Adresse, the price), not a thing a tool is about
        (a task, Rechnung) nor something unknown (a website)."""
        found = False
        for word in words:
            if word in names or not self._known(word):
                return False  # no typo corrections here: a new shop is no new show
            meanings = self.words.words.get(self._key(word) or "", {})
            tokens = set(self._tok(word)) | {t for m in meanings for t in self._tok(m)}
            if tokens & self.heads:
                return False
            found = found or bool(tokens & self.idf.keys())
        return found

    def _qualified(self, sequence: list[str], at: int) -> list[str]:
        """The word an adjective qualifies: the next one ("a new title"), or at the end of a clause the
        noun it is said of ("the title is wrong")."""
        after = sequence[at + 1 : at + 2]
        if after and after != ["|"]:
            head = sequence[at + 2 : at + 3]  # … or the thing a compound names: a new calendar event
            return after + head if head and set(self._tok(head[0])) & self.heads else after
        for word in reversed(sequence[:at]):
            if word == "|":
                break
            if word not in _STOP and not self.words.verbs.get(self._key(word) or "") and word not in self.verb_idf:
                return [word]
        return []

    def _participle(self, word: str) -> dict[str, float]:
        """The verb readings of a past participle: cancelled, postponed, abgesagt, gelöscht, verschoben."""
        german, _ = _stemmers()
        bases: list[str] = []
        if word.endswith("ed"):
            bases += [word[:-2], word[:-1], word[:-3]]  # postponed, moved, cancelled
        for particle in ("", *_PARTICLES_DE):
            rest = word[len(particle) :] if word.startswith(particle) else ""
            if rest.startswith("ge") and rest.endswith(("t", "en")) and len(rest) > 4:
                stem = rest[2:-1] if rest.endswith("t") else rest[2:-2]
                bases += [particle + stem + "en", particle + stem + "n"]  # abgesagt, gelöscht, angenommen
        if word.startswith(("ver", "be", "er", "ent", "zer")) and word.endswith(("t", "en")):
            bases += [word[:-1] + "en", word]  # verschickt, verschoben
        for base in bases:
            if base in self.words.verbs:
                return self.words.verbs[base]
            verb = self._verbs_de.get(german.stemWord(base)) if not word.endswith("ed") else None
            if verb:
                return self.words.verbs[verb]
        return {}

    def _labels(self, query: str) -> str:
        """An English request without the names it gives things: a capitalized word inside a sentence before a
        thing a tool is about is its name ("the Done column", "the Archive folder"), not a word to search for."""
        words = list(re.finditer(_WORD.pattern, query, re.IGNORECASE))
        if not _english([_fold(w.group()) for w in words]):
            return query
        cuts: list[tuple[int, int]] = []
        for before, word, after in zip(words, words[1:], [*words[2:], None], strict=False):
            if not re.fullmatch(r"[A-ZÄÖÜ][a-zäöüß]+", word.group()) or query[before.end() : word.start()] != " ":
                continue
            if after is None or query[word.end() : after.start()].strip():  # the last word of a clause
                if _fold(before.group()) in _DESTINATIONS:
                    cuts.append((word.start(), word.end()))  # where a thing goes: move the task to Done
                continue
            following = _fold(after.group())
            meanings = self.words.words.get(self._key(following) or "", {})
            if (set(self._tok(following)) | {t for m in meanings for t in self._tok(m)}) & self.heads:
                cuts.append((word.start(), word.end()))
        for start, end in reversed(cuts):
            query = query[:start] + query[end:]
        return query

    @staticmethod
    def _possessives(words: list[str]) -> list[str]:
        """English words with "its" after a possessive ("Max's email" → max's its email), so what it owns reads as
        a noun, not a verb ("email" is no sending here); "what's", "it's" and "Max's sent" are no possessives."""
        out: list[str] = []
        for i, word in enumerate(words):
            out.append(word)
            after = words[i + 1] if i + 1 < len(words) else ""
            owner = re.sub(r"['’]s$", "", word)
            if (
                owner != word
                and owner not in _NOT_OWNERS
                and after
                and after not in _STOP
                and after not in _PARTICLES_EN
                and not after.endswith(("ed", "ing"))
            ):
                out.append("its")
        return out

    def _text(self, query: str) -> str:
        """The request folded, clause by clause (" | " between), names as "someone", phrases replaced."""
        query = _QUOTED.sub(" ", self._labels(query))  # a quoted name or text says nothing of the tool
        persons = self._persons(query)
        clauses: list[str] = []
        for clause in re.split(r"[,;:!?()]+|\.(?!\d)|\s[-–]\s", _fold(query).replace("_", " ")):
            words = self._separable(_WORD.findall(clause))
            words = self._possessives(words)
            words = [_SOMEONE if re.sub(r"['’]s$", "", w) in persons else w for w in words]
            if words:
                clauses.append(" ".join(words))
        text = _SPAN.sub(" timespan ", _uncontract(" | ".join(clauses)))  # from 9 to 12, von 9 bis 12
        for anchor, pattern, meaning in self._phrases:
            if anchor in text:  # a quick look before the regular expression
                text = pattern.sub(meaning, text)
        for anchor, pattern, meaning in self._gapped:
            if anchor in text:
                text = pattern.sub(rf"{meaning}\1", text)  # meanings are plain words
        return text

    def _read(self, query: str) -> _Reading:
        # Names (ATAS, RE-2026-0001) are not typos of a tool word.
        names = {_fold(w) for w in re.findall(r"\b(?:[A-ZÄÖÜ]{2,}|\w*\d\w*)\b", query)}
        text = self._text(query)
        terms: dict[str, float] = {}
        verbs: dict[str, float] = {}
        lean: dict[str, float] = {}  # the verbs the things it names suggest ("Max is sick": create an absence)
        happened: dict[str, float] = {}  # … and those its other words say happened ("got cancelled", "ends")
        first = text.split()[0] if text.split() else ""
        second = text.split()[1] if len(text.split()) > 1 else ""
        meant = self.words.words.get(self._key(second) or "", {})
        things = set(self._tok(second)) | {t for m in meant for t in self._tok(m)}
        adjective = first in self.words.words and second != _stem(second) and bool(things & self.heads)
        if not adjective:  # "open tickets" is no order to open
            verbs.update(self.words.leading.get(first, {}))
        if query.rstrip().endswith("?") and not verbs:  # a question asks to read
            verbs.update({"list": _ASKED, "get": _ASKED})
        said = len(verbs) > 1  # whether a word said what to do yet (a question word did: "when does it end")
        english = _english(text.split())
        # A request without German function words may say its number in English ("running projects").
        numbered = english or not any(w in _GERMAN for w in text.split())
        number = 0
        definite: bool | None = None  # whether the first thing named is one there is ("the page", not "a page")
        named: set[str] = set()  # the things a tool is about that the request names
        implied: dict[str, float] = {}  # … and those its words only imply

        trigger = False  # after "whenever": the event a webhook waits for, not what to do now

        def add(term: str, weight: float) -> None:
            for part in self._tok(term):
                terms[part] = max(terms.get(part, 0.0), weight * (_TRIGGERED if trigger else 1.0))

        sequence = text.replace("-", " ").split()
        # English requests that begin with things ("quotes that were turned down", "tasks assigned to Max")
        # ask to list them; what follows says which.
        content = [w for w in sequence if w not in _STOP and w != "|"]
        listing = english and bool(content) and content[0] != _stem(content[0]) and _stem(content[0]) in self.heads
        for at, raw in enumerate(sequence):
            trigger = (trigger or (at > 0 and sequence[at - 1] in _TRIGGERS)) and raw != "|"
            if raw in _STOP or raw.isdigit() or raw == "|":
                continue
            for word in self._resolve(raw, names):
                key = self._key(word)
                readings = self.words.verbs.get(word, {})
                if word in self.words.attributes and self._names_field(self._qualified(sequence, at), names):
                    readings = self.words.attributes[word]  # a new title changes a page, a new page is made
                if not readings and key in self.words.verbs and key.startswith(word):
                    readings = self.words.verbs[key]  # a clipped verb ("delet"), not an inflected one ("recorded")
                if not readings and word in self.verb_idf:
                    readings = {word: 1.0}
                # A first -ing form says what to do: we're ending …, sending … (not "booking", a thing's name).
                gerund = word.endswith("ing") and word not in self.idf
                if not said and not readings and key in self.words.verbs and gerund:
                    readings = self.words.verbs[key]
                if at and sequence[at - 1] in _DETERMINERS and word not in self.words.attributes:
                    readings = {}  # after an article a verb's word is a noun: the email address, my schedule
                if trigger:
                    readings = {}  # "whenever a task is done": no order to mark one done
                if not readings and not self.words.words.get(key or ""):
                    # A past participle states what happened and leans to recording it ("is cancelled").
                    for verb, weight in self._participle(word).items():
                        happened[verb] = max(happened.get(verb, 0.0), weight * _PARTICIPLE)
                # The first word that says what to do is the request's verb; later ones say less.
                later = _LATER if said else 1.0
                said = said or bool(readings)
                for verb, weight in readings.items():
                    verbs[verb] = max(verbs.get(verb, 0.0), weight * later)
                token = self._tok(word)
                meanings = self.words.words.get(key or "", {})
                # A word that only says what to do is no search term ("move the meeting" is no move_task).
                is_verb = bool(readings) and not (set(token) & self.name_nouns) and not meanings
                own = [meanings[t] for t in token if t in meanings]
                # An English noun says its number: a tool's own noun ("the invoice", "invoices") or a plural
                # meaning one ("bills"); collective words ("the team", "my calendar") say nothing.
                # The first noun of a compound says no number ("the time entries" are many).
                modifier = at + 1 < len(sequence) and bool(set(self._tok(sequence[at + 1])) & self.heads)
                if numbered and not readings and raw == word and not modifier and (set(token) & self.heads or meanings):
                    if _stem(raw) != raw and (set(token) | set(meanings)) & self.heads:
                        number -= 1
                    elif set(token) & self.heads or (
                        english and raw not in self.words.collective and set(meanings) & self.heads
                    ):
                        number += 1
                if raw in self.words.many:  # "the contract list", "Übersicht der Rechnungen" are about many
                    number -= 2
                # A word that only leans to a verb ("moved", "should") is no search term either.
                leans_only = bool(meanings) and all(m.startswith("@") for m in meanings)
                if not is_verb and not leans_only:
                    add(word, min(own, default=1.0))
                thing = (set(token) | {t for m in meanings for t in self._tok(m)}) & self.heads
                if thing and not is_verb and definite is None:  # the first thing named: a new one or one there is
                    before = [w for w in sequence[max(0, at - 3) : at] if w != "|"]
                    definite = any(w in _DEFINITE_WORDS or w == _SOMEONE for w in before[-3:]) and not any(
                        w in ("a", "an", "ein", "eine", "einen", "einem", "einer") for w in before[-2:]
                    )
                named.update(set(token) & self.heads)
                for meaning, strength in meanings.items():
                    if meaning.startswith("@"):
                        leans = lean if thing else happened  # "vacation" suggests, "ends" says what happened
                        leans[meaning[1:]] = max(leans.get(meaning[1:], 0.0), strength)
                    elif meaning.startswith("~"):
                        implied[meaning[1:]] = max(implied.get(meaning[1:], 0.0), strength)
                    elif meaning not in token:
                        add(meaning, strength)
                        named.update(set(self._tok(meaning)) & self.heads)
        # A thing a word only implies ("running" → timer) counts when the request names no other thing
        # ("which contracts are running" is about contracts).
        for meaning, strength in implied.items():
            if not named - set(self._tok(meaning)):
                add(meaning, strength)
        # A verb only one tool does names that tool's things too ("Lisa soll das Logo machen" → assign a task).
        for verb, weight in verbs.items():
            if weight >= 1.0 and verb in self._sole:
                for noun in self._sole[verb]:
                    terms.setdefault(noun, _SOLE)
        # What happened says more than what a thing suggests ("the vacation got cancelled", "ends a day later").
        if happened:
            lean = {v: w * _YIELD for v, w in lean.items()}
            for verb, weight in happened.items():
                lean[verb] = max(lean.get(verb, 0.0), weight)
        # Making or adding to a thing there is changes it ("give the page a title", "add a line to the invoice").
        if (
            definite
            and _DEFINITE < 1
            and verbs.get("create", 0.0)
            and any(w >= 0.5 for v, w in verbs.items() if v not in ("create", "list", "get"))
        ):
            verbs["create"] *= _DEFINITE
        if listing:
            verbs = {**{v: w * _LATER for v, w in verbs.items()}, "list": 1.0}
        return _Reading(terms, verbs, lean, number)

    # ---- ranking -------------------------------------------------------------------------------------------------
    def search(self, query: str, allowed: set[str] | None = None, limit: int = 5) -> list[tuple[GeneratedTool, float]]:
        if not self._built:
            self._build()
        reading = self._read(query)
        terms = reading.terms
        explicit = bool(reading.verbs)
        total = sum(terms.values()) or 1.0
        # A request without a verb leans to what its words suggest ("Max is sick" → create), else a
        # little to list_… and get_… ("my calendar tomorrow").
        verbs = reading.verbs or {v: w * _LEAN for v, w in reading.lean.items()} or {"list": 0.5, "get": 0.3}
        if reading.number and "list" in verbs and "get" in verbs:
            # Reading one thing is get_…, reading many is list_… ("the invoice" / "invoices").
            low, high = sorted((verbs["list"], verbs["get"]))
            low = min(low, high * 0.8)
            verbs = {**verbs, "get": high, "list": low} if reading.number > 0 else {**verbs, "list": high, "get": low}
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
                score += weight * idf * freq * 2.2 / (freq + 1.2 * (1 - _B + _B * doc.length / self.avg))
            match = max((verbs.get(v, 0.0) * w for v, w in doc.verbs.items()), default=0.0)
            if score > 0 and match:
                score += _VERB_BONUS * match
            elif explicit:
                score *= _MISMATCH
            if score > 0 and doc.nouns:
                bonus = 0.0
                for nouns in (doc.nouns, *(o for v, o in doc.aliases.items() if verbs.get(v))):
                    named = sum(terms.get(n, 0.0) for n in nouns) / len(nouns)
                    covered = sum(w for t, w in terms.items() if t in nouns) / total
                    bonus = max(bonus, _NAME_BONUS * (named + covered) / 2)
                score += bonus
            if score > 0:
                scored.append((doc.tool, score))
        if not scored:
            scored = self._by_spelling(query, allowed)
        scored.sort(key=lambda pair: (-pair[1], pair[0].spec.name))
        return scored[:limit]

    def _by_spelling(self, query: str, allowed: set[str] | None) -> list[tuple[GeneratedTool, float]]:
        """Tools whose name or title resembles a word of the request (the answer when nothing scored)."""
        from rapidfuzz import fuzz

        words = [w for w in re.findall(r"[a-z0-9]+", _fold(query)) if len(w) >= 3]
        words = [w for w in words if w not in _STOP] or words
        found: list[tuple[GeneratedTool, float]] = []
        for doc in self.docs:
            if allowed is not None and doc.tool.spec.name not in allowed:
                continue
            # A word's likeness to the whole name ("invoce") or to one of its words (a short "sow" for show).
            best = max(
                (
                    max(
                        fuzz.partial_ratio(w, doc.spelling),
                        *(fuzz.ratio(w, p) for p in doc.spelling.split() if len(p) > 3),
                    )
                    for w in words
                ),
                default=0.0,
            )
            if best >= 75:
                found.append((doc.tool, best / 100))
        return found
