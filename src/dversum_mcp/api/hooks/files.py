"""Local files: uploads read only inside allowed folders; downloads saved only inside them.

Allowed folders are `DVERSUM_FILE_ROOTS` plus the MCP client's roots (when it offers any).
Paths are resolved with symlinks followed before the check, so neither `..` nor a link can
escape; sizes are checked with stat() before anything is read; an existing file is never
overwritten without `overwrite: true`.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
import os
import stat
import tempfile
from pathlib import Path

import anyio

from dversum_mcp.api.calls import Binary, Call, Outcome
from dversum_mcp.api.errors import ApiError, ArgumentError

__all__ = ["MAX_INLINE_BYTES", "MAX_UPLOAD_BYTES", "allowed_roots", "download_file", "save_binary", "upload_file"]

MAX_UPLOAD_BYTES = 100 * 1024 * 1024
MAX_INLINE_BYTES = 5 * 1024 * 1024


async def allowed_roots(call: Call) -> list[Path]:
    roots = [*call.file_roots, *(await call.roots())]
    out: list[Path] = []
    for root in roots:
        try:
            resolved = root.expanduser().resolve(strict=True)
        except (OSError, RuntimeError):
            continue
        if resolved.is_dir() and resolved not in out:
            out.append(resolved)
    return out


def _inside(path: Path, roots: list[Path]) -> bool:
    return any(path == root or path.is_relative_to(root) for root in roots)


def _no_roots_error(field: str) -> ArgumentError:
    return ArgumentError(
        "no folder is allowed for local files",
        field=field,
        hint="Set DVERSUM_FILE_ROOTS to the folders the assistant may use (or let the client share roots); "
        "for uploads, content_base64 with filename works without a folder.",
    )


async def upload_file(call: Call) -> Outcome:
    path_arg = call.local.get("path")
    inline = call.local.get("content_base64")
    if (path_arg is None) == (inline is None):
        raise ArgumentError("give exactly one of path or content_base64", field="path")
    if inline is not None:
        name = call.local.get("filename")
        if not name:
            raise ArgumentError("filename is required with content_base64", field="filename")
        if len(inline) > MAX_UPLOAD_BYTES * 4 // 3 + 8:
            raise ArgumentError("content_base64 is larger than 100 MB", field="content_base64")
        try:
            data = base64.b64decode(inline, validate=True)
        except (binascii.Error, ValueError):
            raise ArgumentError("content_base64 is not valid base64", field="content_base64") from None
        filename = Path(str(name)).name
    else:
        roots = await allowed_roots(call)
        if not roots:
            raise _no_roots_error("path")
        resolved, data = await anyio.to_thread.run_sync(_read_upload, str(path_arg), roots)
        filename = str(call.local.get("filename") or resolved.name)
    if len(data) > MAX_UPLOAD_BYTES:
        raise ArgumentError("the file is larger than 100 MB", field="content_base64")
    mime = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    await call.progress(0, len(data), f"uploading {filename} ({len(data)} bytes)")
    response = await call.send(files={"file": (filename, data, mime)})
    await call.progress(len(data), len(data), "uploaded")
    return Outcome(response.data if isinstance(response.data, dict) else {"ok": True})


def _checked_upload_path(path_arg: str, roots: list[Path]) -> Path:
    """Resolve (following links) and check a local upload path; runs in a worker thread."""
    try:
        resolved = Path(path_arg).expanduser().resolve(strict=True)
    except (OSError, RuntimeError):
        raise ArgumentError(f"file not found: {path_arg}", field="path") from None
    if not _inside(resolved, roots):
        raise ArgumentError(
            f"{path_arg} is outside the allowed folders",
            field="path",
            hint="Allowed: " + ", ".join(str(r) for r in roots),
        )
    if not resolved.is_file():
        raise ArgumentError(f"{path_arg} is not a regular file", field="path")
    size = resolved.stat().st_size
    if size > MAX_UPLOAD_BYTES:
        raise ArgumentError(f"{path_arg} is {size / 1e6:.1f} MB; the limit is 100 MB", field="path")
    return resolved


def _read_upload(path_arg: str, roots: list[Path]) -> tuple[Path, bytes]:
    """Check, then read through one descriptor opened without following links, so the file
    checked is the file read (no swap to a symlink in between); runs in a worker thread."""
    resolved = _checked_upload_path(path_arg, roots)
    try:
        # O_NONBLOCK: a FIFO swapped in after the check must not block the open.
        fd = os.open(resolved, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        raise ArgumentError(f"{path_arg} cannot be opened (changed or not a plain file)", field="path") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ArgumentError(f"{path_arg} is not a regular file", field="path")
        if info.st_size > MAX_UPLOAD_BYTES:
            raise ArgumentError(f"{path_arg} is {info.st_size / 1e6:.1f} MB; the limit is 100 MB", field="path")
        return resolved, handle.read(MAX_UPLOAD_BYTES + 1)


async def download_file(call: Call) -> Outcome:
    link = await call.send()
    data = link.data if isinstance(link.data, dict) else {}
    url = data.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ApiError(link.status, "invalid_response", "The API returned no download URL")
    meta = await call.send(*call.endpoint("get_file", id=call.path_args["id"]), query={})
    info = meta.data if isinstance(meta.data, dict) else {}
    response = await call.client.request("GET", "", absolute_url=url, public=True, deadline=call.deadline)
    filename = Path(str(info.get("name") or f"file-{call.path_args.get('id')}")).name
    mime = str(info.get("content_type") or response.content_type.split(";")[0] or "application/octet-stream")
    return Outcome(
        {"filename": filename, "mime_type": mime, "size": len(response.content), "file_id": call.path_args.get("id")},
        binary=Binary(response.content, mime, filename),
    )


def _write_inside(target: str, filename: str, data: bytes, roots: list[Path], overwrite: bool) -> Path:
    """Write atomically inside an allowed folder; runs in a worker thread."""
    path = Path(target).expanduser()
    if path.is_dir() or target.endswith(("/", os.sep)):
        path = path / filename
    try:
        parent = path.parent.resolve(strict=True)
    except (OSError, RuntimeError):
        raise ArgumentError(f"folder does not exist: {path.parent}", field="save_as") from None
    final = parent / path.name
    if final.is_symlink() or not _inside(parent, roots):
        raise ArgumentError(
            f"{target} is outside the allowed folders", field="save_as", hint="Allowed: " + ", ".join(map(str, roots))
        )
    if final.exists() and not overwrite:
        raise ArgumentError(f"{final} exists; pass overwrite: true to replace it", field="save_as")
    fd, tmp = tempfile.mkstemp(dir=parent, prefix=".dversum-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, final)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return final


async def save_binary(call: Call, outcome: Outcome) -> Outcome:
    """Honour `save_as`: write inside an allowed folder (atomically, never clobbering by default)."""
    target = call.local.get("save_as")
    binary = outcome.binary
    if binary is None:
        return outcome
    if not target:
        if len(binary.data) > MAX_INLINE_BYTES:
            raise ArgumentError(
                f"{binary.filename} is {len(binary.data) / 1e6:.1f} MB, too large to return inline",
                field="save_as",
                hint="Pass save_as with a path inside an allowed folder.",
            )
        return outcome
    roots = await allowed_roots(call)
    if not roots:
        raise _no_roots_error("save_as")
    final = await anyio.to_thread.run_sync(
        _write_inside, str(target), binary.filename, binary.data, roots, bool(call.local.get("overwrite"))
    )
    data = {**outcome.data, "saved_to": str(final)}
    return Outcome(data, binary=None, warnings=outcome.warnings)
