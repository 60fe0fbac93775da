"""The generated OpenAPI document against the sandbox: a bounded, deterministic schemathesis run.

The sandbox (in-process ASGI, seeded demo workspace, pinned clock) is called with cases that
schemathesis generates from `build_openapi()`; path ids are real ids of the seeded workspace
so the requests reach the handlers instead of stopping at 404. Every response must be a
non-5xx status the document lists, with the documented content type and body schema.

Budget: one positive example per operation (≈120 requests, deterministic, ~10 s). Deeper
exploratory runs: DVERSUM_FUZZ_EXAMPLES=10 (examples per operation and mode),
DVERSUM_FUZZ_NEGATIVE=1 (also schema-violating inputs), DVERSUM_FUZZ_STRICT=1 (also demand that
valid input is accepted and invalid input rejected: noisy, because the table does not know the
API's semantic rules such as "end after start"), DVERSUM_FUZZ_VERBOSE=1 (print every call).
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is not installed (pip install schemathesis)")

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402
from schemathesis import checks as st_checks  # noqa: E402
from schemathesis.core.failures import FailureGroup  # noqa: E402
from schemathesis.generation import GenerationMode  # noqa: E402

from dversum_mcp.tools.openapi import build_openapi  # noqa: E402
from dversum_sandbox import SandboxSettings, create_app  # noqa: E402
from dversum_sandbox.app import SandboxApp  # noqa: E402
from dversum_sandbox.seed.workspace import seed  # noqa: E402

NOW = datetime(2026, 6, 3, 8, 0, tzinfo=UTC)
BASE = "http://testserver/api/v1"
EXAMPLES = int(os.environ.get("DVERSUM_FUZZ_EXAMPLES", "1"))
MODES = [GenerationMode.POSITIVE] + ([GenerationMode.NEGATIVE] if os.environ.get("DVERSUM_FUZZ_NEGATIVE") else [])
METHOD_ORDER = ("GET", "POST", "PUT", "PATCH", "DELETE")
PLACEHOLDER = re.compile(r"^\{(.+)\}$")
CHECKS = [
    st_checks.not_a_server_error,
    st_checks.status_code_conformance,
    st_checks.content_type_conformance,
    st_checks.response_headers_conformance,
    st_checks.response_schema_conformance,
    *(
        [st_checks.negative_data_rejection, st_checks.positive_data_acceptance]
        if os.environ.get("DVERSUM_FUZZ_STRICT")
        else []
    ),
]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SandboxApp, str]]:
    data: Path = tmp_path_factory.mktemp("fuzz-sandbox")
    app = create_app(
        SandboxSettings(data_dir=data, clock=lambda: NOW, rate_limit=1_000_000, deliver_webhooks=False, in_memory=True)
    )
    result = anyio.run(seed, app)
    yield app, result.token
    app.db.close()


async def _candidates(client: httpx2.AsyncClient, collection: str, name: str) -> list[str]:
    """Real values for the placeholder `name` that follows the path `collection`."""
    if name == "user_slug":
        me = (await client.get("/me")).json()
        return [me["slug"]] if isinstance(me, dict) and me.get("slug") else []
    if name == "type_slug":
        key, field = "booking_types", "slug"
        response = await client.get("/booking-types")
    else:
        key, field = "", "id"
        query = (
            {"from": "2026-01-01T00:00:00Z", "to": "2026-12-31T00:00:00Z"} if collection == "/calendar/events" else {}
        )
        response = await client.get("/storage/files" if collection == "/storage/shares" else collection, params=query)
    if response.status_code != 200:
        return []
    body = response.json()
    items = body.get(key) if key else next((v for v in body.values() if isinstance(v, list)), None)
    return [str(item[field]) for item in items or [] if isinstance(item, dict) and item.get(field)][:5]


async def _fill(client: httpx2.AsyncClient, template: str) -> dict[str, str] | None:
    """Path parameters naming existing resources, nested ones included (an invoice that has payments…)."""
    segments = template.strip("/").split("/")

    async def walk(i: int, path: str, found: dict[str, str]) -> dict[str, str] | None:
        if i == len(segments):
            return found
        match = PLACEHOLDER.match(segments[i])
        if match is None:
            return await walk(i + 1, f"{path}/{segments[i]}", found)
        for value in await _candidates(client, path, match.group(1)):
            result = await walk(i + 1, f"{path}/{value}", {**found, match.group(1): value})
            if result is not None:
                return result
        return None

    return await walk(0, "", {})


def _real_ids(app: SandboxApp, token: str, templates: list[str]) -> dict[str, dict[str, str] | None]:
    async def run() -> dict[str, dict[str, str] | None]:
        transport = httpx2.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx2.AsyncClient(transport=transport, base_url=BASE, headers=headers) as client:
            # What the demo seed does not have: a webhook subscription and a share link.
            hook = {"url": "http://127.0.0.1:9/hook", "events": ["invoice.paid"]}
            assert (await client.post("/webhooks", json=hook)).status_code == 201
            files = (await client.get("/storage/files")).json()["files"]
            assert (await client.post(f"/storage/shares/{files[0]['id']}", json={})).status_code == 201
            return {t: await _fill(client, t) for t in templates}

    return anyio.run(run)


def _order(document_order: list[tuple[str, str]], method: str, path: str) -> tuple[int, int]:
    """Reads and writes in table order; deletes last and in reverse (time entries before their project…)."""
    position = document_order.index((method, path))
    if method == "DELETE":
        return len(METHOD_ORDER), -position
    return METHOD_ORDER.index(method), position


def _describe(case: Any, response: Any) -> str:
    text = response.content.decode("utf-8", errors="replace")
    text = text if len(text) < 300 else text[:300] + "…"
    body = case.body
    sent = "-" if type(body).__name__ == "NotSet" else f"<{len(body)} bytes>" if isinstance(body, bytes) else repr(body)
    return f"{case.method} {case.formatted_path} query={case.query or {}} body={sent} → {response.status_code} {text}"


class Run:
    """Calls made, their statuses, and every failed check (recorded, so one run reports them all)."""

    def __init__(self, auth: dict[str, str]) -> None:
        self.auth = auth
        self.calls = 0
        self.statuses: Counter[str] = Counter()
        self.failures: list[str] = []

    def exercise(self, operation: Any, mode: GenerationMode, fixed: dict[str, str] | None) -> None:
        strategy = operation.as_strategy(mode, path_parameters=fixed, headers=self.auth)

        @settings(
            max_examples=EXAMPLES,
            derandomize=True,  # the deterministic seed
            database=None,
            deadline=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def run(case: Any) -> None:
            self.calls += 1
            response = case.call()
            self.statuses[f"{case.method} {response.status_code}"] += 1
            if os.environ.get("DVERSUM_FUZZ_VERBOSE"):
                print(_describe(case, response))
            try:
                case.validate_response(response, checks=CHECKS)
            except (AssertionError, FailureGroup) as exc:  # hypothesis must neither shrink nor stop
                found = exc.exceptions if isinstance(exc, FailureGroup) else [exc]
                names = "; ".join(str(getattr(f, "title", None) or type(f).__name__) for f in found)
                self.failures.append(f"[{mode.value}] {_describe(case, response)}\n    {names}")

        try:
            run()
        except Unsatisfiable:  # nothing left to make invalid (fixed real ids, no other inputs)
            assert mode is GenerationMode.NEGATIVE, f"no positive case for {operation.label}"


def test_generated_spec_against_sandbox(seeded: tuple[SandboxApp, str]) -> None:
    app, token = seeded
    schema = schemathesis.openapi.from_dict(build_openapi(server_url=BASE, include_sandbox=True))
    schema.app = app  # requests go to the ASGI app in-process, no port
    document_order = [(m.upper(), p) for p, item in schema.raw_schema["paths"].items() for m in item]
    operations = [result.ok() for result in schema.get_all_operations()]
    operations.sort(key=lambda op: _order(document_order, op.method.upper(), op.path))
    ids = _real_ids(app, token, sorted({op.path for op in operations if "{" in op.path}))
    run = Run({"Authorization": f"Bearer {token}"})
    for operation in operations:
        for mode in MODES:
            run.exercise(operation, mode, ids.get(operation.path) or None)

    print(f"{run.calls} calls over {len(operations)} operations; statuses: {dict(sorted(run.statuses.items()))}")
    print(f"path templates without seeded ids: {sorted(t for t, found in ids.items() if found is None)}")
    assert run.calls >= len(operations)
    successes = sum(n for key, n in run.statuses.items() if key.split()[1].startswith("2"))
    assert successes >= len(operations) // 3  # most calls reached real resources, not just 404/422
    assert not run.failures, f"{len(run.failures)} of {run.calls} calls failed:\n" + "\n".join(run.failures)
