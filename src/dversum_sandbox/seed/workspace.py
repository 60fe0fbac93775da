"""The demo workspace: a German digital agency with a month of realistic data, built through the API.

`seed(app)` creates the organizations with `accounts` (the API has no endpoint for that) and
everything else through HTTP requests to the app itself (`httpx2.ASGITransport`), so the seed
depends only on the API contract. Dates are relative to the sandbox clock: invoices are overdue,
time entries cover the last month, bookings lie ahead. `ensure_seeded` keeps one seeded sandbox
in a data directory; `reset` wipes it.
"""

from __future__ import annotations

import logging
import os
import random
import secrets
import shutil
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import httpx2

from dversum_sandbox.app import API_PREFIX, SandboxApp, create_app, schema_is_current
from dversum_sandbox.clock import BERLIN, iso, today_berlin
from dversum_sandbox.ratelimit import RateLimiter
from dversum_sandbox.resources import accounts
from dversum_sandbox.seed.data import (
    CLIENTS,
    CONTRACT_TEXT,
    FILES,
    INVOICES,
    ORGANIZATION,
    OTHER_ORGANIZATION,
    PAGES,
    PROJECTS,
    QUOTES,
    TASKS,
    WORK,
)
from dversum_sandbox.settings import SandboxSettings

__all__ = ["SeedError", "SeedResult", "ensure_seeded", "reset", "seed"]

log = logging.getLogger("dversum_sandbox")

OWNER_SLUG = "admin"


class SeedError(RuntimeError):
    """Raised by `seed` when the API refuses a request (the message names the request and the answer)."""


@dataclass(frozen=True)
class SeedResult:
    token: str
    """API token of the demo owner (org A, Nordlicht Digital GmbH)."""
    other_token: str
    """API token of org B (Konkurrenz AG), for isolation checks."""
    org_id: str
    user_id: str
    counts: dict[str, int] = field(default_factory=dict)
    skipped: tuple[str, ...] = ()
    """Requests answered "No endpoint" (only with strict=False)."""
    fresh: bool = True
    """False when `ensure_seeded` found an existing workspace."""


class _Api:
    """One token's view of the API, counting what it creates."""

    def __init__(self, app: SandboxApp, token: str | None, strict: bool, counts: Counter[str], skipped: set[str]):
        headers = {"Authorization": f"Bearer {token}", "Accept-Language": "de"} if token else {}
        self.client = httpx2.AsyncClient(
            transport=httpx2.ASGITransport(app=app), base_url="http://sandbox.local" + API_PREFIX, headers=headers
        )
        self.strict, self.counts, self.skipped = strict, counts, skipped

    async def __call__(self, method: str, path: str, count: str | None = None, **kwargs: Any) -> Any:
        response = await self.client.request(method, path, **kwargs)
        if response.status_code in (404, 405) and not self.strict:
            body = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
            if response.status_code == 405 or str(body.get("message", "")).startswith("No endpoint"):
                self.skipped.add(f"{method} {path}")
                return None
        if response.status_code >= 400:
            raise SeedError(f"{method} {path} answered {response.status_code}: {response.text[:500]}")
        if count:
            self.counts[count] += 1
        return response.json() if response.content else {}


def _at(day: date, hhmm: str) -> str:
    """ISO UTC of a Berlin wall-clock time."""
    return iso(datetime.combine(day, time.fromisoformat(hhmm), tzinfo=BERLIN))


async def seed(app: SandboxApp, *, strict: bool = True) -> SeedResult:
    """Fill an empty sandbox with the demo workspace (org A) and a one-client org B."""
    now = app.settings.clock()
    stamp, today = iso(now), today_berlin(now)
    with app.db.transaction():
        if app.db.scalar("SELECT 1 FROM users WHERE slug = ?", (OWNER_SLUG,)):
            raise SeedError("this sandbox is already seeded; reset it first")
        org_id, owner, token = accounts.create_workspace(
            app.db, "Nordlicht Digital GmbH", "Naumche Stojanovski", "naumche@nordlicht-digital.de", OWNER_SLUG, stamp
        )
        lena = accounts.add_user(app.db, org_id, "Lena Hoffmann", "lena@nordlicht-digital.de", "lena", "member", stamp)
        jonas = accounts.add_user(app.db, org_id, "Jonas Weber", "jonas@nordlicht-digital.de", "jonas", "member", stamp)
        lena_token = "dvk_sandbox_" + secrets.token_urlsafe(24)
        app.db.insert(
            "api_tokens",
            {"token_hash": accounts.hash_token(lena_token), "org_id": org_id, "user_id": lena, "created_at": stamp},
        )
        _, _, other_token = accounts.create_workspace(
            app.db, "Konkurrenz AG", "Karl Konkurrent", "karl@konkurrenz-ag.de", "konkurrenz", stamp
        )
    counts: Counter[str] = Counter()
    skipped: set[str] = set()
    users = {"naumche": owner, "lena": lena, "jonas": jonas}
    limiter, app.limiter = app.limiter, RateLimiter(1_000_000, 60)  # the seed is not a client to throttle
    apis = [_Api(app, t, strict, counts, skipped) for t in (token, lena_token, other_token, None)]
    try:
        await _Workspace(apis[0], apis[1], apis[2], apis[3], users, today).build()
    finally:
        app.limiter = limiter
        for api in apis:
            await api.client.aclose()
    return SeedResult(token, other_token, org_id, owner, dict(counts), tuple(sorted(skipped)))


class _Workspace:
    """The seeding steps, in dependency order; each tolerates a missing prerequisite (strict=False)."""

    def __init__(self, api: _Api, lena: _Api, other: _Api, public: _Api, users: dict[str, str], today: date):
        self.api, self.lena, self.other, self.public = api, lena, other, public
        self.users, self.today = users, today
        self.rng = random.Random(20260603)
        self.clients: dict[str, str] = {}
        self.projects: list[dict[str, Any] | None] = []
        self.tasks: dict[int, list[str]] = {}

    def day(self, offset: int) -> date:
        return self.today + timedelta(days=offset)

    async def build(self) -> None:
        await self.api("PUT", "/organization", json=ORGANIZATION)
        await self.clients_()
        await self.projects_()
        await self.tasks_()
        await self.time_entries()
        await self.invoices()
        await self.quotes()
        await self.contract()
        await self.pages()
        await self.storage()
        await self.calendar()
        await self.other_org()

    async def clients_(self) -> None:
        for client in CLIENTS:
            created = await self.api("POST", "/clients", "clients", json=client)
            if created is not None:
                self.clients[client["name"]] = created["id"]

    async def projects_(self) -> None:
        for project in PROJECTS:
            body = {k: v for k, v in project.items() if k != "client"}
            if project.get("client"):
                if project["client"] not in self.clients:
                    self.projects.append(None)
                    continue
                body["client_id"] = self.clients[project["client"]]
            body["start_date"] = self.day(-45).isoformat()
            created = await self.api("POST", "/projects", "projects", json=body)
            columns = created and await self.api("GET", f"/projects/{created['id']}/columns")
            self.projects.append(created and {**created, "columns": [c["id"] for c in columns["columns"]]})

    async def tasks_(self) -> None:
        for index, (project_i, title, column, due, who, priority, subtasks, comments) in enumerate(TASKS):
            project = self.projects[project_i] if project_i < len(self.projects) else None
            if project is None:
                continue
            body: dict[str, Any] = {
                "title": title,
                "project_id": project["id"],
                "column_id": project["columns"][column],
                "assignee_ids": [self.users[w] for w in who],
                "priority": priority,
                "due_date": self.day(due).isoformat(),
                "estimate_minutes": 60 * (1 + index % 6),
            }
            task = await self.api("POST", "/tasks", "tasks", json=body)
            if task is None:
                continue
            self.tasks.setdefault(project_i, []).append(task["id"])
            for n, sub in enumerate(subtasks):
                made = await self.api("POST", f"/tasks/{task['id']}/subtasks", "subtasks", json={"title": sub})
                if made is not None and (column == 2 or n == 0):
                    await self.api("PUT", f"/tasks/{task['id']}/subtasks/{made['id']}", json={"done": True})
            for n, text in enumerate(comments):
                author = self.lena if n % 2 else self.api
                await author("POST", f"/tasks/{task['id']}/comments", "comments", json={"content": text})

    async def time_entries(self) -> None:
        """Four weeks of weekdays for Naumche and Lena: two or three entries a day, mostly billable."""
        for offset in range(-30, 0):
            day = self.day(offset)
            if day.isoweekday() > 5:
                continue
            for api, slots in ((self.api, WORK[0]), (self.lena, WORK[1])):
                for start, end in self.rng.sample(slots, k=self.rng.choice((2, 3))):
                    project_i = self.rng.choice([p for p in self.tasks if self.tasks[p]] or [-1])
                    if project_i < 0:
                        return
                    task_id = self.rng.choice(self.tasks[project_i])
                    internal = PROJECTS[project_i].get("client") is None
                    body = {
                        "task_id": task_id,
                        "started_at": _at(day, start),
                        "ended_at": _at(day, end),
                        "description": self.rng.choice(("Umsetzung", "Abstimmung", "Review", "Konzept", "Support")),
                        "billable": not internal and self.rng.random() > 0.15,
                    }
                    if await api("POST", "/time-entries", "time_entries", json=body) is None:
                        return

    async def invoices(self) -> None:
        for client, issue, due, state, lines, extra in sorted(INVOICES, key=lambda invoice: invoice[1]):
            if client not in self.clients:
                continue
            body: dict[str, Any] = {
                "client_id": self.clients[client],
                "issue_date": self.day(issue).isoformat(),
                "due_date": self.day(due).isoformat(),
                "line_items": lines,
            }
            if "tax_treatment" in extra:
                body["tax_treatment"] = extra["tax_treatment"]
            if "service_date" in extra:
                body["service_date"] = self.day(extra["service_date"]).isoformat()
            if "service_period" in extra:
                start, end = extra["service_period"]
                body["service_period_start"] = self.day(start).isoformat()
                body["service_period_end"] = self.day(end).isoformat()
            invoice = await self.api("POST", "/invoices", "invoices", json=body)
            if invoice is None or state == "draft":
                continue
            sent = await self.api("POST", f"/invoices/{invoice['id']}/send")
            if sent is None:
                continue
            total = int(sent["total_gross_cents"])
            if state in ("paid", "partially_paid"):
                amount = total if state == "paid" else total * 2 // 5
                payment = {"amount_cents": amount, "paid_at": self.day(due - 3).isoformat(), "method": "transfer"}
                await self.api("POST", f"/invoices/{invoice['id']}/payments", "payments", json=payment)
            if state == "overdue":
                await self.api("POST", f"/invoices/{invoice['id']}/reminders", "reminders", json={})

    async def quotes(self) -> None:
        for client, title, state, lines in QUOTES:
            if client not in self.clients:
                continue
            body = {
                "client_id": self.clients[client],
                "title": title,
                "valid_until": self.day(30).isoformat(),
                "line_items": lines,
            }
            quote = await self.api("POST", "/quotes", "quotes", json=body)
            if quote is None or state == "draft":
                continue
            sent = await self.api("POST", f"/quotes/{quote['id']}/send")
            if sent is not None and state == "signed":
                signer = {"signer_name": "Dr. Petra Richter", "signer_email": "kanzlei@richter-partner.de"}
                await self.public("POST", f"/public/quotes/{sent['signing_token']}/sign", json=signer)

    async def contract(self) -> None:
        if "ATAS Vertriebs GmbH" not in self.clients:
            return
        body = {
            "client_id": self.clients["ATAS Vertriebs GmbH"],
            "title": "Wartungs- und Supportvertrag Website",
            "content": CONTRACT_TEXT,
            "start_date": self.day(-60).isoformat(),
            "value_cents": 49_000,
            "billing_interval": "monthly",
            "notice_period_days": 90,
        }
        contract = await self.api("POST", "/contracts", "contracts", json=body)
        if contract is not None:
            await self.api("POST", f"/contracts/{contract['id']}/sign", json={"signer_name": "Thomas Albers"})

    async def pages(self) -> None:
        ids: list[str | None] = []
        for title, icon, parent, project_i, content in PAGES:
            body: dict[str, Any] = {"title": title, "icon": icon, "content": content}
            if parent is not None:
                if ids[parent] is None:
                    ids.append(None)
                    continue
                body["parent_id"] = ids[parent]
            project = self.projects[project_i] if project_i is not None and project_i < len(self.projects) else None
            if project is not None:
                body["project_id"] = project["id"]
            page = await self.api("POST", "/pages", "pages", json=body)
            ids.append(page and page["id"])

    async def storage(self) -> None:
        folders: dict[str, str | None] = {"": None}
        for path in ("Verträge", "Rechnungen", "Marketing", "Marketing/Logos"):
            parent, _, name = path.rpartition("/")
            body = {"name": name} if not parent else {"name": name, "parent_id": folders[parent]}
            folder = await self.api("POST", "/storage/folders", "folders", json=body)
            if folder is None:
                return
            folders[path] = folder["id"]
        shared = None
        for folder, name, media, data in FILES:
            form = {"folder_id": folders[folder]} if folders[folder] else {}
            file = await self.api("POST", "/storage/files", "files", files={"file": (name, data, media)}, data=form)
            shared = shared or file
        if shared is not None:
            share = {"password": "nordlicht", "expires_at": iso(datetime.combine(self.day(14), time(22, 0), BERLIN))}
            await self.api("POST", f"/storage/shares/{shared['id']}", "shares", json=share)

    async def calendar(self) -> None:
        booking_type = {
            "name": "Termin mit Naumche",
            "slug": "termin-mit-naumche",
            "duration_minutes": 30,
            "description": "Kurzes Kennenlernen: Ihr Vorhaben, unser Vorgehen, nächste Schritte.",
            "buffer_minutes": 15,
            "attach_meet": True,
        }
        if await self.api("POST", "/booking-types", "booking_types", json=booking_type) is not None:
            window = {"from": iso(datetime.combine(self.day(1), time(0, 0), BERLIN)), "to": _at(self.day(8), "00:00")}
            free = await self.public("GET", "/public/booking/admin/termin-mit-naumche/slots", params=window)
            if free and free["slots"]:
                guest = {"name": "Sabine Krüger", "email": "s.krueger@gruenwerk-energie.de", "agenda": "SEO-Audit"}
                start = free["slots"][min(6, len(free["slots"]) - 1)]["start"]
                await self.public(
                    "POST", "/public/booking/admin/termin-mit-naumche/book", "bookings", json={"start": start, **guest}
                )
        for offset, hhmm, minutes, title, meet in ((1, "10:00", 60, "Kickoff Onlineshop", True),
                                                   (2, "14:00", 30, "Team-Weekly", False),
                                                   (6, "11:00", 90, "Workshop SEO-Strategie", True)):  # fmt: skip
            start = datetime.combine(self.day(offset), time.fromisoformat(hhmm), BERLIN)
            event = {
                "title": title,
                "start_time": iso(start),
                "end_time": iso(start + timedelta(minutes=minutes)),
                "attach_meet": meet,
                "attendee_emails": ["lena@nordlicht-digital.de"],
            }
            await self.api("POST", "/calendar/events", "calendar_events", json=event)
        absence = {
            "type": "vacation",
            "start_date": self.day(14).isoformat(),
            "end_date": self.day(18).isoformat(),
            "user_id": self.users["lena"],
            "note": "Sommerurlaub",
        }
        await self.api("POST", "/absences", "absences", json=absence)

    async def other_org(self) -> None:
        await self.other("PUT", "/organization", json=OTHER_ORGANIZATION)
        client = {
            "name": "Geheimkunde GmbH",
            "email": "info@geheimkunde.de",
            "vat_id": "DE111222333",
            "country": "DE",
            "street": "Geheimweg 1",
            "postal_code": "10115",
            "city": "Berlin",
        }
        await self.other("POST", "/clients", "other_clients", json=client)


# ---- a persistent seeded sandbox --------------------------------------------------------------
def _write_secret(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text + "\n")
    path.chmod(0o600)


async def ensure_seeded(settings: SandboxSettings, *, strict: bool = True) -> SeedResult:
    """The seeded workspace in `settings.data_dir`: reuse it while its token is valid and its schema current,
    else reset and seed."""
    token_file, other_file = settings.data_dir / "token", settings.data_dir / "other_token"
    if not schema_is_current(settings):
        log.warning(
            "sandbox database %s was made by another version of dversum-mcp (its schema changed): "
            "resetting it and seeding the demo workspace again",
            settings.db_path,
        )
        reset(settings)
    app = create_app(settings)
    try:
        if token_file.exists():
            token = token_file.read_text().strip()
            with app.db.transaction():
                found = accounts.lookup_token(app.db, token)
            if found is not None:
                other = other_file.read_text().strip() if other_file.exists() else ""
                return SeedResult(token, other, found[0], found[1], fresh=False)
    finally:
        await app.aclose()
    reset(settings)
    app = create_app(settings)
    try:
        result = await seed(app, strict=strict)
    finally:
        await app.aclose()
    _write_secret(token_file, result.token)
    _write_secret(other_file, result.other_token)
    return result


def reset(settings: SandboxSettings) -> None:
    """Delete the sandbox's database, stored files and token files (no app may have it open)."""
    if not settings.in_memory:
        db = Path(settings.db_path)
        for suffix in ("", "-wal", "-shm", "-journal"):
            db.with_name(db.name + suffix).unlink(missing_ok=True)
    shutil.rmtree(settings.files_dir, ignore_errors=True)
    for name in ("token", "other_token"):
        (settings.data_dir / name).unlink(missing_ok=True)
