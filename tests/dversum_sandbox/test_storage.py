"""Storage: folders, upload/list/rename/move/delete files, signed download links, share links."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx2
import pytest

from dversum_sandbox import SandboxSettings, create_app
from dversum_sandbox.app import SandboxApp
from dversum_sandbox.resources import accounts

pytestmark = pytest.mark.anyio


async def upload(
    api: httpx2.AsyncClient, name: str = "bericht.txt", data: bytes = b"Hallo Welt\n", **form: str
) -> dict[str, Any]:
    response = await api.post("/storage/files", files={"file": (name, data, "text/plain")}, data=form)
    assert response.status_code == 201, response.text
    return dict(response.json())


def local(url: str) -> str:
    """The path of a URL the sandbox handed out, relative to the API root the clients use."""
    return url.split("/api/v1", 1)[1]


async def test_upload_get_and_disk_layout(api: httpx2.AsyncClient, sandbox: SandboxApp, org_a: Any) -> None:
    data = b"Umsatz;Monat\n1200;Mai\n"
    file = await upload(api, "umsätze.csv", data)
    assert file["name"] == "umsätze.csv"
    assert file["size"] == len(data)
    assert file["sha256"] == hashlib.sha256(data).hexdigest()
    assert file["folder_id"] is None and file["content_type"] == "text/plain"
    assert (sandbox.settings.files_dir / org_a.org_id / file["id"]).read_bytes() == data
    got = (await api.get(f"/storage/files/{file['id']}")).json()
    assert got["id"] == file["id"] and got["shares"] == []


async def test_upload_errors(api: httpx2.AsyncClient, tmp_path: Any) -> None:
    missing = await api.post("/storage/files", files={"attachment": ("a.txt", b"a")}, data={"folder_id": ""})
    assert missing.status_code == 400 and missing.json()["field"] == "file"
    json_body = await api.post("/storage/files", json={"name": "x"})
    assert json_body.status_code == 400 and json_body.json()["field"] == "file"
    no_folder = await api.post("/storage/files", files={"file": ("a.txt", b"a")}, data={"folder_id": "nope"})
    assert no_folder.status_code == 422 and no_folder.json()["field"] == "folder_id"

    app = create_app(SandboxSettings(data_dir=tmp_path / "small", max_upload_bytes=10, rate_limit=1000))
    with app.db.transaction():
        _, _, token = accounts.create_workspace(app.db, "O", "U", "u@x.de", "u", "2026-01-01T00:00:00Z")
    async with httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=app),
        base_url="http://127.0.0.1/api/v1",
        headers={"Authorization": f"Bearer {token}"},
    ) as small:
        too_big = await small.post("/storage/files", files={"file": ("a.bin", b"x" * 11)})
        assert too_big.status_code == 413
        exact = await small.post("/storage/files", files={"file": ("a.bin", b"x" * 10)})
        assert exact.status_code == 201
    app.db.close()


async def test_upload_name_is_sanitised_and_type_guessed(api: httpx2.AsyncClient) -> None:
    response = await api.post("/storage/files", files={"file": ("../../etc/angebot.pdf", b"%PDF-1.4")})
    assert response.status_code == 201
    assert response.json()["name"] == "angebot.pdf"
    assert response.json()["content_type"] == "application/pdf"


async def test_folders_and_listing(api: httpx2.AsyncClient) -> None:
    folder = await api.post("/storage/folders", json={"name": "Verträge"})
    assert folder.status_code == 201
    fid = folder.json()["id"]
    sub = (await api.post("/storage/folders", json={"name": "2026", "parent_id": fid})).json()
    assert sub["parent_id"] == fid
    assert (await api.post("/storage/folders", json={})).status_code == 400
    assert (await api.post("/storage/folders", json={"name": "a/b"})).status_code == 422
    bad_parent = await api.post("/storage/folders", json={"name": "x", "parent_id": "missing"})
    assert bad_parent.status_code == 422 and bad_parent.json()["field"] == "parent_id"

    roots = (await api.get("/storage/folders")).json()
    assert [f["name"] for f in roots["folders"]] == ["Verträge"] and roots["total"] == 1
    children = (await api.get("/storage/folders", params={"parent_id": fid})).json()
    assert [f["name"] for f in children["folders"]] == ["2026"]
    assert (await api.get("/storage/folders", params={"parent_id": "missing"})).status_code == 404

    await upload(api, "root.txt")
    inside = await upload(api, "vertrag.txt", folder_id=fid)
    twin = await upload(api, "vertrag.txt", folder_id=fid)  # duplicate names are allowed
    assert inside["id"] != twin["id"]
    assert [f["name"] for f in (await api.get("/storage/files")).json()["files"]] == ["root.txt"]
    in_folder = (await api.get("/storage/files", params={"folder_id": fid})).json()
    assert in_folder["total"] == 2
    found = (await api.get("/storage/files", params={"search": "VERTRAG"})).json()
    assert found["total"] == 2
    assert (await api.get("/storage/files", params={"search": "%"})).json()["total"] == 0
    assert (await api.get("/storage/files", params={"folder_id": "missing"})).status_code == 404

    not_empty = await api.delete(f"/storage/folders/{fid}")
    assert not_empty.status_code == 409 and not_empty.json()["error"] == "folder_not_empty"
    assert (await api.delete(f"/storage/folders/{sub['id']}")).status_code == 204
    for f in (inside, twin):
        assert (await api.delete(f"/storage/files/{f['id']}")).status_code == 204
    assert (await api.delete(f"/storage/folders/{fid}")).status_code == 204
    assert (await api.delete(f"/storage/folders/{fid}")).status_code == 404


async def test_rename_move_delete(api: httpx2.AsyncClient, sandbox: SandboxApp, org_a: Any) -> None:
    folder = (await api.post("/storage/folders", json={"name": "Archiv"})).json()
    file = await upload(api, "alt.txt")
    renamed = await api.put(f"/storage/files/{file['id']}", json={"name": "neu.txt", "folder_id": folder["id"]})
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "neu.txt" and renamed.json()["folder_id"] == folder["id"]
    back = await api.put(f"/storage/files/{file['id']}", json={"folder_id": None})
    assert back.json()["folder_id"] is None and back.json()["name"] == "neu.txt"
    slash = await api.put(f"/storage/files/{file['id']}", json={"name": "a/b.txt"})
    assert slash.status_code == 422 and slash.json()["field"] == "name"
    wrong_type = await api.put(f"/storage/files/{file['id']}", json={"name": 5})
    assert wrong_type.status_code == 422
    surrogate = await api.put(
        f"/storage/files/{file['id']}", content=b'{"name": "x\\ud800"}', headers={"Content-Type": "application/json"}
    )
    assert surrogate.status_code == 400  # invalid Unicode is refused by the framework before any handler
    bad_folder = await api.put(f"/storage/files/{file['id']}", json={"folder_id": "missing"})
    assert bad_folder.status_code == 422
    assert (await api.put("/storage/files/missing", json={"name": "x"})).status_code == 404

    path = sandbox.settings.files_dir / org_a.org_id / file["id"]
    assert path.exists()
    assert (await api.delete(f"/storage/files/{file['id']}")).status_code == 204
    assert not path.exists()
    assert (await api.get(f"/storage/files/{file['id']}")).status_code == 404
    assert (await api.delete(f"/storage/files/{file['id']}")).status_code == 404


async def test_download_link_signed_and_expiring(
    api: httpx2.AsyncClient, public: httpx2.AsyncClient, clock: Any
) -> None:
    data = b"%PDF-1.4 Rechnung"
    file = await upload(api, 'Rechnung "Mai" ö.pdf', data)
    link = (await api.get(f"/storage/files/{file['id']}/download")).json()
    assert link["url"].startswith("http://127.0.0.1/api/v1/storage/blobs/")
    assert link["expires_at"] == "2026-06-03T08:05:00Z"
    blob = await public.get(local(link["url"]))
    assert blob.status_code == 200 and blob.content == data
    assert blob.headers["content-type"].startswith("text/plain")
    disposition = blob.headers["content-disposition"]
    assert (
        disposition
        == "attachment; filename=\"Rechnung _Mai_ _.pdf\"; filename*=UTF-8''Rechnung%20%22Mai%22%20%C3%B6.pdf"
    )

    token = local(link["url"]).rsplit("/", 1)[1]
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert (await public.get(f"/storage/blobs/{forged}")).status_code == 404
    assert (await public.get("/storage/blobs/garbage")).status_code == 404
    clock.advance(minutes=5)
    expired = await public.get(local(link["url"]))
    assert expired.status_code == 410 and expired.json()["error"] == "link_expired"
    assert (await api.get("/storage/files/missing/download")).status_code == 404


async def test_share_password_expiry_and_limit(api: httpx2.AsyncClient, public: httpx2.AsyncClient, clock: Any) -> None:
    file = await upload(api, "angebot.txt", b"Angebot")
    fid = file["id"]
    created = await api.post(
        f"/storage/shares/{fid}",
        json={"password": "geheim", "expires_at": "2026-07-01T00:00:00Z", "max_downloads": 2},
    )
    assert created.status_code == 201
    share = created.json()
    assert share["has_password"] is True and share["max_downloads"] == 2 and share["download_count"] == 0
    assert share["url"].startswith("http://127.0.0.1/api/v1/public/shares/")
    assert "password" not in share and "password_hash" not in share
    url = local(share["url"])

    needs = await public.get(url)
    assert needs.status_code == 401 and needs.json()["error"] == "password_required"
    wrong = await public.get(url, params={"password": "falsch"})
    assert wrong.status_code == 403 and wrong.json()["error"] == "wrong_password"
    first = await public.get(url, params={"password": "geheim"})
    assert first.status_code == 200 and first.content == b"Angebot"
    second = await public.get(url, headers={"X-Share-Password": "geheim"})
    assert second.status_code == 200
    third = await public.get(url, params={"password": "geheim"})
    assert third.status_code == 410 and third.json()["error"] == "download_limit_reached"
    listed = (await api.get(f"/storage/shares/{fid}")).json()
    assert listed["total"] == 1 and listed["shares"][0]["download_count"] == 2

    open_share = (await api.post(f"/storage/shares/{fid}", json={"expires_at": "2026-06-10T00:00:00Z"})).json()
    assert open_share["has_password"] is False
    assert (await public.get(local(open_share["url"]))).status_code == 200
    clock.set(clock.now.replace(month=6, day=10))
    expired = await public.get(local(open_share["url"]))
    assert expired.status_code == 410 and expired.json()["error"] == "share_expired"


async def test_share_validation_revoke_and_isolation(
    api: httpx2.AsyncClient, api_b: httpx2.AsyncClient, public: httpx2.AsyncClient
) -> None:
    file = await upload(api)
    fid = file["id"]
    for body, field in (
        ({"password": "abc"}, "password"),
        ({"expires_at": "2026-06-01T00:00:00Z"}, "expires_at"),
        ({"expires_at": "morgen"}, "expires_at"),
        ({"expires_at": "9999-12-31T23:59:59+00:00"}, "expires_at"),
        ({"expires_at": "0001-01-01T00:00:00+01:00"}, "expires_at"),
        ({"max_downloads": 0}, "max_downloads"),
        ({"max_downloads": "3"}, "max_downloads"),
    ):
        response = await api.post(f"/storage/shares/{fid}", json=body)
        assert response.status_code == 422 and response.json()["field"] == field, body
    share = (await api.post(f"/storage/shares/{fid}", json={})).json()
    assert (await api.get(f"/storage/files/{fid}")).json()["shares"][0]["id"] == share["id"]

    # Another organization sees none of it.
    assert (await api_b.get(f"/storage/files/{fid}")).status_code == 404
    assert (await api_b.get("/storage/files")).json()["total"] == 0
    assert (await api_b.get(f"/storage/files/{fid}/download")).status_code == 404
    assert (await api_b.put(f"/storage/files/{fid}", json={"name": "x"})).status_code == 404
    assert (await api_b.delete(f"/storage/files/{fid}")).status_code == 404
    assert (await api_b.post(f"/storage/shares/{fid}", json={})).status_code == 404
    assert (await api_b.get(f"/storage/shares/{fid}")).status_code == 404
    assert (await api_b.delete(f"/storage/shares/{fid}/{share['id']}")).status_code == 404
    folder = (await api.post("/storage/folders", json={"name": "Privat"})).json()
    assert (await api_b.delete(f"/storage/folders/{folder['id']}")).status_code == 404
    other_upload = await api_b.post("/storage/files", files={"file": ("a", b"a")}, data={"folder_id": folder["id"]})
    assert other_upload.status_code == 422

    assert (await api.delete(f"/storage/shares/{fid}/{share['id']}")).status_code == 204
    assert (await api.delete(f"/storage/shares/{fid}/missing")).status_code == 404
    assert (await public.get(local(share["url"]))).status_code == 404
    assert (await api.get(f"/storage/shares/{fid}")).json()["shares"][0]["revoked"] is True
    assert (await public.get("/public/shares/unknown")).status_code == 404
    assert (await public.get("/storage/files")).status_code == 401
