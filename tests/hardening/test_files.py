"""Local files: uploads only from inside the allowed folders, downloads only into them.

Uploads outside the roots, through `..`, through symlinked files or folders, of FIFOs or
directories, or over 100 MB (a sparse 101 MB file) are refused before a byte is read and
before any request is sent. Downloads (`download_invoice_pdf`, `download_file` with
`save_as`) land only inside the roots, never through a symlink, and never replace an
existing file without `overwrite: true`.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from dversum_mcp.config import Secret, Settings
from tests.hardening.conftest import SUMMARY, Seeded

pytestmark = pytest.mark.anyio
COUNT = {"refused": 0, "written": 0}


@pytest.fixture
def dirs(tmp_path: Path) -> dict[str, Path]:
    allowed, outside = tmp_path / "allowed", tmp_path / "outside"
    allowed.mkdir()
    outside.mkdir()
    (outside / "secret.txt").write_text("outside secret")
    (allowed / "ok.txt").write_text("hallo")
    (allowed / "link-to-secret.txt").symlink_to(outside / "secret.txt")
    (allowed / "link-to-outside").symlink_to(outside, target_is_directory=True)
    os.mkfifo(allowed / "fifo")
    (allowed / "folder").mkdir()
    subprocess.run(["truncate", "-s", "101M", str(allowed / "huge.bin")], check=True)  # sparse: no disk used
    return {"allowed": allowed, "outside": outside}


@asynccontextmanager
async def files_session(seeded: Seeded, allowed: Path) -> AsyncIterator[Client]:
    settings = Settings(token=Secret(""), confirm=False, file_roots=(allowed,))
    async with seeded.mcp(settings=settings) as client:
        yield client


def _refused(
    result: Any, field: str, sent_before: int, seeded: Seeded, error: str = "invalid_arguments"
) -> dict[str, Any]:
    data = dict(result.structured_content or {})
    assert result.is_error and data.get("error") == error and data.get("field") == field, data
    assert len(seeded.requests) == sent_before, "a request was sent for a refused upload"
    COUNT["refused"] += 1
    return data


async def test_uploads_outside_the_roots_are_refused_before_reading(
    seeded: Seeded, dirs: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    allowed, outside = dirs["allowed"], dirs["outside"]
    reads: list[str] = []
    real_fdopen = os.fdopen
    watched = (str(allowed.resolve()), str(dirs["outside"].resolve()))

    def spy(fd: int, *args: Any, **kwargs: Any) -> Any:  # a file is read only through a file object
        path = os.readlink(f"/proc/self/fd/{fd}")
        if path.startswith(watched):
            reads.append(path)
        return real_fdopen(fd, *args, **kwargs)

    monkeypatch.setattr(os, "fdopen", spy)
    bad = [
        str(outside / "secret.txt"),
        str(allowed / ".." / "outside" / "secret.txt"),
        f"{allowed}/folder/../../outside/secret.txt",
        str(allowed / "link-to-secret.txt"),
        str(allowed / "link-to-outside" / "secret.txt"),
        str(allowed / "fifo"),  # reading would block forever
        str(allowed / "folder"),
        str(allowed / "missing.txt"),
        str(allowed / "huge.bin"),  # 101 MB
        "/etc/passwd",
        "~/.bashrc",
        "relative/../../etc/hostname",
    ]
    async with files_session(seeded, allowed) as client:
        for path in bad:
            before = len(seeded.requests)
            data = _refused(await client.call_tool("upload_file", {"path": path}), "path", before, seeded)
            assert "outside secret" not in str(data)
        assert reads == [], f"refused files were read: {reads}"
        ok = await client.call_tool("upload_file", {"path": str(allowed / "ok.txt")})
        assert not ok.is_error and reads == [str((allowed / "ok.txt").resolve())]
        huge = await client.call_tool("upload_file", {"path": str(allowed / "huge.bin")})
        assert "100 MB" in str(huge.structured_content) or "101" in str(huge.structured_content)


async def test_uploads_without_roots_are_refused(seeded: Seeded, dirs: dict[str, Path]) -> None:
    async with seeded.mcp(settings=Settings(token=Secret(""), confirm=False)) as client:
        before = len(seeded.requests)
        data = _refused(
            await client.call_tool("upload_file", {"path": str(dirs["allowed"] / "ok.txt")}),
            "path",
            before,
            seeded,
            "missing_client_capability",  # no folders of its own and a client without roots
        )
    assert "DVERSUM_FILE_ROOTS" in data["hint"]


async def _invoice_id(client: Client) -> str:
    listing = await client.call_tool("list_invoices", {"status": "sent"})
    return str((listing.structured_content or {})["invoices"][0]["id"])


async def test_invoice_pdf_is_saved_only_inside_and_never_clobbered(seeded: Seeded, dirs: dict[str, Path]) -> None:
    allowed, outside = dirs["allowed"], dirs["outside"]
    before_outside = sorted(p.name for p in outside.iterdir())
    async with files_session(seeded, allowed) as client:
        invoice = await _invoice_id(client)

        async def save(target: str, **extra: Any) -> Any:
            return await client.call_tool("download_invoice_pdf", {"invoice_id": invoice, "save_as": target, **extra})

        first = await save(str(allowed / "rechnung.pdf"))
        assert not first.is_error, first.content
        saved = allowed / "rechnung.pdf"
        assert saved.read_bytes().startswith(b"%PDF") and (first.structured_content or {})["saved_to"] == str(
            saved.resolve()
        )
        COUNT["written"] += 1
        saved.write_bytes(b"user's own edits")
        again = await save(str(saved))
        assert again.is_error and (again.structured_content or {})["field"] == "save_as"
        assert saved.read_bytes() == b"user's own edits", "an existing file was overwritten without overwrite: true"
        COUNT["refused"] += 1
        replaced = await save(str(saved), overwrite=True)
        assert not replaced.is_error and saved.read_bytes().startswith(b"%PDF")
        COUNT["written"] += 1
        into_folder = await save(str(allowed / "folder") + "/")
        assert not into_folder.is_error and len(list((allowed / "folder").iterdir())) == 1
        COUNT["written"] += 1
        for target in (
            str(outside / "r.pdf"),
            f"{allowed}/../outside/r.pdf",
            str(allowed / "link-to-outside" / "r.pdf"),
            str(allowed / "link-to-secret.txt"),
            str(allowed / "no-such-folder" / "r.pdf"),
            "/tmp/dversum-never-written.pdf",
            "r.pdf",
        ):
            for overwrite in (False, True):
                result = await save(target, overwrite=overwrite)
                data = result.structured_content or {}
                assert result.is_error and data.get("field") == "save_as", (target, data)
                COUNT["refused"] += 1
    assert sorted(p.name for p in outside.iterdir()) == before_outside
    assert (outside / "secret.txt").read_text() == "outside secret"
    assert not Path("/tmp/dversum-never-written.pdf").exists()
    assert not [p for p in allowed.rglob(".dversum-*")], "temporary files were left behind"


async def test_download_file_obeys_the_same_rules(seeded: Seeded, dirs: dict[str, Path]) -> None:
    allowed, outside = dirs["allowed"], dirs["outside"]
    file_id = seeded.ids().by_arg["file_id"][0]
    async with files_session(seeded, allowed) as client:
        ok = await client.call_tool("download_file", {"file_id": file_id, "save_as": str(allowed) + "/"})
        assert not ok.is_error, ok.content
        written = Path((ok.structured_content or {})["saved_to"])
        assert written.parent == allowed.resolve() and written.stat().st_size > 0
        content = written.read_bytes()
        again = await client.call_tool("download_file", {"file_id": file_id, "save_as": str(written)})
        assert again.is_error and written.read_bytes() == content
        outside_try = await client.call_tool("download_file", {"file_id": file_id, "save_as": str(outside) + "/"})
        assert outside_try.is_error and sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
        COUNT["written"] += 1
        COUNT["refused"] += 2


def test_zz_report() -> None:
    SUMMARY["files"] = (
        f"{COUNT['refused']} unsafe uploads/downloads refused, {COUNT['written']} safe writes, 0 reads of refused files"
    )
