"""Storage: folders, files, signed 5-minute download links and public share links.

File bytes live on disk under `files_dir/<org_id>/<file_id>` (written to a temporary file, then
renamed); the `files` row holds the metadata. Download URLs are signed tokens (`signing.py`)
served by the public `/storage/blobs/{token}`; share links are rows with an unguessable token,
an optional password (PBKDF2 hash), expiry and download cap, served by `/public/shares/{token}`.
Storage emits no webhook events (the reference lists none).
"""

from __future__ import annotations

import contextlib
import hashlib
import mimetypes
import os
import re
import secrets
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from dversum_sandbox.clock import iso, parse_datetime
from dversum_sandbox.db import Row
from dversum_sandbox.errors import SandboxError, bad_request, conflict, not_found, too_large, validation
from dversum_sandbox.framework import MISSING, Ctx, Endpoint, Raw, new_id
from dversum_sandbox.inputs import ensure_text, moment
from dversum_sandbox.ratelimit import FailureLimiter
from dversum_sandbox.signing import (
    TokenExpired,
    TokenInvalid,
    check_password,
    hash_password,
    make_expiring_token,
    read_expiring_token,
    sandbox_secret,
)
from dversum_sandbox.util import search_clause

__all__ = ["ENDPOINTS", "SCHEMA", "file_json", "folder_json", "share_json"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS folders (
  id TEXT PRIMARY KEY, org_id TEXT NOT NULL, parent_id TEXT, name TEXT NOT NULL,
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS folders_parent ON folders(org_id, parent_id);
CREATE TABLE IF NOT EXISTS files (
  id TEXT PRIMARY KEY, org_id TEXT NOT NULL, folder_id TEXT, name TEXT NOT NULL, size INTEGER NOT NULL,
  content_type TEXT NOT NULL, sha256 TEXT NOT NULL, storage_key TEXT NOT NULL,
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS files_folder ON files(org_id, folder_id);
CREATE TABLE IF NOT EXISTS shares (
  id TEXT PRIMARY KEY, org_id TEXT NOT NULL, file_id TEXT NOT NULL, token TEXT NOT NULL UNIQUE,
  password_hash TEXT, expires_at TEXT, max_downloads INTEGER, download_count INTEGER NOT NULL DEFAULT 0,
  revoked INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS shares_file ON shares(org_id, file_id);
"""

DOWNLOAD_TTL = timedelta(minutes=5)
SHARE_GUESSES = FailureLimiter(limit=10, window_s=15 * 60)
"""Wrong share-link passwords per link (any address): 10 in 15 minutes, then 429 until one ages out."""
_MEDIA_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9!#$&^_.+-]+$")


# ---- JSON shapes ------------------------------------------------------------------------------
def file_json(row: Row) -> dict[str, Any]:
    keys = ("id", "name", "size", "content_type", "folder_id", "sha256", "created_at", "updated_at")
    return {k: row[k] for k in keys}


def folder_json(row: Row) -> dict[str, Any]:
    return {k: row[k] for k in ("id", "name", "parent_id", "created_at", "updated_at")}


def share_json(row: Row, base_url: str) -> dict[str, Any]:
    return {
        "id": row["id"],
        "file_id": row["file_id"],
        "url": f"{base_url}/public/shares/{row['token']}",
        "has_password": row["password_hash"] is not None,
        "expires_at": row["expires_at"],
        "max_downloads": row["max_downloads"],
        "download_count": row["download_count"],
        "revoked": bool(row["revoked"]),
        "created_at": row["created_at"],
    }


# ---- helpers ----------------------------------------------------------------------------------
def _name(ctx: Ctx, field: str, *, required: bool) -> Any:
    """A file or folder name: 1–255 characters, no `/` and no control characters."""
    value = ctx.string(field, required=required, max_length=255)
    if value is MISSING:
        return MISSING
    value = value.strip()
    if "/" in value:
        raise validation(field, f"{field} must not contain '/'; use folder_id to place it in a folder")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise validation(field, f"{field} must not contain control characters")
    return value


def _folder_ref(ctx: Ctx, field: str) -> str | None:
    """An existing folder of this organization named in the body, or None for the root; else 422."""
    value = ctx.body.get(field)
    if value is None or value == "":
        return None
    folder_id = ctx.id_field(field)
    if ctx.db.one("SELECT id FROM folders WHERE id = ? AND org_id = ?", (folder_id, ctx.org_id)) is None:
        raise validation(field, f"folder {folder_id} does not exist")
    return str(folder_id)


def _upload_name(filename: str) -> str:
    """The uploaded file's base name, stripped of directories and control characters.

    Browsers and httpx escape `"`, CR and LF in multipart file names as %22, %0D, %0A (WHATWG).
    """
    for escaped, char in (("%22", '"'), ("%0D", ""), ("%0A", "")):
        filename = filename.replace(escaped, char)
    base = re.split(r"[/\\]", filename)[-1]
    clean = "".join(c for c in base if ord(c) >= 32 and ord(c) != 127).strip()
    return clean[:255] or "upload"


def _media_type(declared: str, name: str) -> str:
    media = declared.split(";")[0].strip().lower()
    if media and media != "application/octet-stream" and _MEDIA_TYPE.match(media):
        return media
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def _blob_path(ctx: Ctx, row: Row) -> Path:
    return ctx.files_dir / str(row["storage_key"])


def _write_blob(path: Path, data: bytes) -> None:
    """Write via a temporary file in the same directory and rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _disposition(name: str) -> str:
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in name) or "download"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def _serve(ctx: Ctx, row: Row) -> Raw:
    try:
        data = _blob_path(ctx, row).read_bytes()
    except OSError:
        raise not_found("file content", row["id"]) from None
    headers = {"Content-Disposition": _disposition(row["name"]), "Cache-Control": "private, no-store"}
    return Raw(data, row["content_type"], headers=headers)


# ---- files ------------------------------------------------------------------------------------
def list_files(ctx: Ctx) -> dict[str, Any]:
    where, params = "FROM files WHERE org_id = ?", [ctx.org_id]
    folder_id, search = ctx.q_id("folder_id"), ctx.q("search")
    if folder_id is not None:
        ctx.fetch("folders", "folder", folder_id)
        where += " AND folder_id = ?"
        params.append(folder_id)
    elif search is None:
        where += " AND folder_id IS NULL"
    if search is not None:
        clause, values = search_clause(ctx, ["name"], search)
        where += clause
        params += values
    return ctx.paginate("files", where, params, "name COLLATE NOCASE, id", file_json)


def upload_file(ctx: Ctx) -> dict[str, Any]:
    upload = ctx.files.get("file")
    if upload is None:
        raise bad_request("file is required: send multipart/form-data with a part named 'file'", "file")
    limit = ctx.settings.max_upload_bytes
    if len(upload.data) > limit:
        raise too_large(f"file is {len(upload.data)} bytes; the maximum is {limit} bytes")
    folder_id = _folder_ref(ctx, "folder_id")
    file_id, now = new_id(), ctx.timestamp()
    name = _upload_name(upload.filename)
    row = {
        "id": file_id,
        "org_id": ctx.org_id,
        "folder_id": folder_id,
        "name": name,
        "size": len(upload.data),
        "content_type": _media_type(upload.content_type, name),
        "sha256": hashlib.sha256(upload.data).hexdigest(),
        "storage_key": f"{ctx.org_id}/{file_id}",
        "created_at": now,
        "updated_at": now,
    }
    ctx.db.insert("files", row)
    _write_blob(_blob_path(ctx, row), upload.data)
    return file_json(row)


def get_file(ctx: Ctx) -> dict[str, Any]:
    row = ctx.fetch("files", "file")
    shares = ctx.db.all(
        "SELECT * FROM shares WHERE file_id = ? AND org_id = ? AND revoked = 0 ORDER BY created_at, id",
        (row["id"], ctx.org_id),
    )
    return {**file_json(row), "shares": [share_json(s, ctx.base_url) for s in shares]}


def update_file(ctx: Ctx) -> dict[str, Any]:
    ensure_text(ctx)
    row = ctx.fetch("files", "file")
    changes: dict[str, Any] = {}
    name = _name(ctx, "name", required=False)
    if name is not MISSING:
        changes["name"] = name
    if "folder_id" in ctx.body:
        changes["folder_id"] = _folder_ref(ctx, "folder_id")
    if changes:
        changes["updated_at"] = ctx.timestamp()
        ctx.db.update("files", row["id"], changes)
    return file_json({**row, **changes})


def delete_file(ctx: Ctx) -> None:
    row = ctx.fetch("files", "file")
    ctx.db.execute("DELETE FROM shares WHERE file_id = ? AND org_id = ?", (row["id"], ctx.org_id))
    ctx.db.execute("DELETE FROM files WHERE id = ?", (row["id"],))
    with contextlib.suppress(OSError):
        _blob_path(ctx, row).unlink()


def download_link(ctx: Ctx) -> dict[str, Any]:
    row = ctx.fetch("files", "file")
    expires = ctx.now + DOWNLOAD_TTL
    token = make_expiring_token(sandbox_secret(ctx.db), row["id"], expires)
    return {"url": f"{ctx.base_url}/storage/blobs/{token}", "expires_at": iso(expires)}


def get_blob(ctx: Ctx) -> Raw:
    """The bytes behind a signed download URL; the token itself is the permission (like a presigned S3 URL)."""
    try:
        file_id = read_expiring_token(sandbox_secret(ctx.db), ctx.path["token"], ctx.now)
    except TokenExpired:
        raise SandboxError(
            410, "link_expired", "This download link has expired; get a new one from /storage/files/{id}/download"
        ) from None
    except TokenInvalid:
        raise not_found("download link") from None
    row = ctx.db.one("SELECT * FROM files WHERE id = ?", (file_id,))
    if row is None:
        raise not_found("file", file_id)
    return _serve(ctx, row)


# ---- folders ----------------------------------------------------------------------------------
def list_folders(ctx: Ctx) -> dict[str, Any]:
    where, params = "FROM folders WHERE org_id = ?", [ctx.org_id]
    parent_id = ctx.q_id("parent_id")
    if parent_id is not None:
        ctx.fetch("folders", "folder", parent_id)
        where += " AND parent_id = ?"
        params.append(parent_id)
    else:
        where += " AND parent_id IS NULL"
    return ctx.paginate("folders", where, params, "name COLLATE NOCASE, id", folder_json)


def create_folder(ctx: Ctx) -> dict[str, Any]:
    ensure_text(ctx)
    name = _name(ctx, "name", required=True)
    now = ctx.timestamp()
    row = {
        "id": new_id(),
        "org_id": ctx.org_id,
        "parent_id": _folder_ref(ctx, "parent_id"),
        "name": name,
        "created_at": now,
        "updated_at": now,
    }
    ctx.db.insert("folders", row)
    return folder_json(row)


def delete_folder(ctx: Ctx) -> None:
    row = ctx.fetch("folders", "folder")
    files = ctx.db.scalar("SELECT COUNT(*) FROM files WHERE folder_id = ? AND org_id = ?", (row["id"], ctx.org_id))
    folders = ctx.db.scalar("SELECT COUNT(*) FROM folders WHERE parent_id = ? AND org_id = ?", (row["id"], ctx.org_id))
    if files or folders:
        raise conflict(
            f"Folder is not empty ({files} files, {folders} folders); delete or move its contents first",
            error="folder_not_empty",
        )
    ctx.db.execute("DELETE FROM folders WHERE id = ?", (row["id"],))


# ---- shares -----------------------------------------------------------------------------------
def create_share(ctx: Ctx) -> dict[str, Any]:
    ensure_text(ctx)
    file = ctx.fetch("files", "file", ctx.path_id("fileId"))
    password = ctx.string("password", max_length=200, allow_empty=True)
    if password is not MISSING and len(password) < 4:
        raise validation("password", "password must be at least 4 characters")
    expires = moment(ctx, "expires_at")
    if expires is not None and expires <= ctx.now:
        raise validation("expires_at", "expires_at must be in the future")
    max_downloads = ctx.integer("max_downloads", minimum=1, maximum=1_000_000_000)
    row = {
        "id": new_id(),
        "org_id": ctx.org_id,
        "file_id": file["id"],
        "token": secrets.token_urlsafe(24),
        "password_hash": None if password is MISSING else hash_password(password),
        "expires_at": None if expires is None else iso(expires),
        "max_downloads": None if max_downloads is MISSING else max_downloads,
        "download_count": 0,
        "revoked": 0,
        "created_at": ctx.timestamp(),
    }
    ctx.db.insert("shares", row)
    return share_json(row, ctx.base_url)


def list_shares(ctx: Ctx) -> dict[str, Any]:
    file = ctx.fetch("files", "file", ctx.path_id("fileId"))
    return ctx.paginate(
        "shares",
        "FROM shares WHERE org_id = ? AND file_id = ?",
        [ctx.org_id, file["id"]],
        "created_at, id",
        lambda r: share_json(r, ctx.base_url),
    )


def revoke_share(ctx: Ctx) -> None:
    file = ctx.fetch("files", "file", ctx.path_id("fileId"))
    share_id = ctx.path_id("shareId")
    share = ctx.db.one(
        "SELECT id FROM shares WHERE id = ? AND file_id = ? AND org_id = ?", (share_id, file["id"], ctx.org_id)
    )
    if share is None:
        raise not_found("share", share_id)
    ctx.db.execute("UPDATE shares SET revoked = 1 WHERE id = ?", (share_id,))


def public_share(ctx: Ctx) -> Raw:
    """Download through a share link, enforcing revocation, expiry, download cap and password."""
    share = ctx.db.one("SELECT * FROM shares WHERE token = ?", (ctx.path["token"],))
    file = None if share is None else ctx.db.one("SELECT * FROM files WHERE id = ?", (share["file_id"],))
    if share is None or file is None or share["revoked"]:
        raise not_found("share link")
    if share["expires_at"] is not None and parse_datetime(share["expires_at"], "expires_at") <= ctx.now:
        raise SandboxError(410, "share_expired", "This share link has expired; ask the owner for a new one")
    limit = share["max_downloads"]
    if limit is not None and share["download_count"] >= limit:
        raise SandboxError(410, "download_limit_reached", f"This share link allowed {limit} downloads, all used")
    if share["password_hash"] is not None:
        given = ctx.q("password") or ctx.headers.get("x-share-password")
        if not given:
            raise SandboxError(
                401, "password_required", "This share link needs a password: ?password= or X-Share-Password"
            )
        wait = SHARE_GUESSES.locked_for(share["id"])
        if wait:  # per link, whatever the address: guesses spread over many addresses add up here
            raise SandboxError(
                429,
                "too_many_password_attempts",
                f"Too many wrong passwords for this share link; try again in {wait} s",
                headers={"Retry-After": str(wait)},
            )
        if not check_password(share["password_hash"], given):
            SHARE_GUESSES.fail(share["id"])
            raise SandboxError(403, "wrong_password", "Wrong password for this share link")
    counted = ctx.db.execute(
        "UPDATE shares SET download_count = download_count + 1 WHERE id = ? AND revoked = 0"
        " AND (max_downloads IS NULL OR download_count < max_downloads)",
        (share["id"],),
    )
    if counted.rowcount != 1:
        raise SandboxError(410, "download_limit_reached", f"This share link allowed {limit} downloads, all used")
    return _serve(ctx, file)


ENDPOINTS = [
    Endpoint("GET", "/storage/files", list_files),
    Endpoint("POST", "/storage/files", upload_file, status=201),
    Endpoint("GET", "/storage/files/{id}", get_file),
    Endpoint("PUT", "/storage/files/{id}", update_file),
    Endpoint("DELETE", "/storage/files/{id}", delete_file),
    Endpoint("GET", "/storage/files/{id}/download", download_link),
    Endpoint("GET", "/storage/blobs/{token}", get_blob, public=True),
    Endpoint("GET", "/storage/folders", list_folders),
    Endpoint("POST", "/storage/folders", create_folder, status=201),
    Endpoint("DELETE", "/storage/folders/{id}", delete_folder),
    Endpoint("POST", "/storage/shares/{fileId}", create_share, status=201),
    Endpoint("GET", "/storage/shares/{fileId}", list_shares),
    Endpoint("DELETE", "/storage/shares/{fileId}/{shareId}", revoke_share),
    Endpoint("GET", "/public/shares/{token}", public_share, public=True),
]
