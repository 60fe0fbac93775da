"""Local files: uploads read only inside allowed folders; downloads saved only inside them.

Allowed folders are `DVERSUM_FILE_ROOTS` plus the MCP client's roots (when it offers any).
A path is matched to a root lexically (`..` normalised), then opened component by component
from a descriptor of the root: every directory with `O_DIRECTORY | O_NOFOLLOW` relative to the
one before (`openat`), the file itself with `O_NOFOLLOW`. No symlink below a root is ever
followed, so swapping a parent directory for a link between a check and the open (a race)
cannot lead outside: there is no check separate from the open. Writes create a temporary file
in the already opened directory and rename it there. Sizes are checked with fstat() before
anything is read; an existing file is never overwritten without `overwrite: true`.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import mimetypes
import os
import re
import secrets
import stat
import unicodedata
from dataclasses import replace
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
        data = _decode_base64(str(inline))
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


_DATA_URL = re.compile(r"^data:[\w.+-]+/[\w.+-]+(;[\w.+-]+=[\w.+-]+)*;base64,", re.IGNORECASE)


def _decode_base64(text: str) -> bytes:
    """Base64 as clients send it: line-wrapped (MIME), as a `data:…;base64,` URL, URL-safe, or
    without padding; anything else that is no base64 is refused, never decoded to garbage."""
    compact = "".join(text.split())
    compact = _DATA_URL.sub("", compact, count=1)
    if "-" in compact or "_" in compact:
        if "+" in compact or "/" in compact:
            raise ArgumentError("content_base64 mixes the standard and the URL-safe alphabet", field="content_base64")
        compact = compact.replace("-", "+").replace("_", "/")
    compact += "=" * (-len(compact) % 4) if not compact.endswith("=") else ""
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise ArgumentError(
            "content_base64 is not valid base64",
            field="content_base64",
            hint="Send the file's bytes base64-encoded (A-Z, a-z, 0-9, +, /), or give path for a local file.",
        ) from None


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


def _outside(path_arg: str, roots: list[Path], field: str) -> ArgumentError:
    return ArgumentError(
        f"{path_arg} is outside the allowed folders", field=field, hint="Allowed: " + ", ".join(str(r) for r in roots)
    )


def _beneath(path_arg: str, roots: list[Path], field: str) -> tuple[Path, list[str]]:
    """The root `path_arg` lies in and the path's components below it (lexically: `..` is
    normalised, nothing is resolved). A prefix that resolves to a root (a root configured
    through a symlink, e.g. /tmp on macOS) counts as that root."""
    path = Path(os.path.abspath(Path(path_arg).expanduser()))
    for root in roots:
        if path == root or path.is_relative_to(root):
            return root, list(path.relative_to(root).parts)
    for ancestor in path.parents:
        try:
            real = ancestor.resolve(strict=True)
        except (OSError, RuntimeError):
            continue
        if real in roots:
            return real, list(path.relative_to(ancestor).parts)
    raise _outside(path_arg, roots, field)


def _open_dirs(root: Path, parts: list[str], path_arg: str, field: str) -> int:
    """A descriptor of root/parts[0]/…, each opened relative to the one before, never following
    a link; the caller closes it."""
    try:
        fd = os.open(root, _DIR_FLAGS)
    except OSError:
        raise ArgumentError(f"the allowed folder {root} cannot be opened", field=field) from None
    for part in parts:
        try:
            child = os.open(part, _DIR_FLAGS, dir_fd=fd)
        except FileNotFoundError:
            os.close(fd)
            raise ArgumentError(f"folder does not exist: {path_arg}", field=field) from None
        except OSError:  # ELOOP / ENOTDIR: a symlink or a file where a folder should be
            os.close(fd)
            raise ArgumentError(
                f"{path_arg} goes through a symbolic link or a file",
                field=field,
                hint="Links are not followed inside the allowed folders; give the real path.",
            ) from None
        os.close(fd)
        fd = child
    return fd


def _read_upload(path_arg: str, roots: list[Path]) -> tuple[Path, bytes]:
    """Open the file below its root without following any link (see the module doc), check
    it is a regular file of at most 100 MB, and read it; runs in a worker thread."""
    root, parts = _beneath(path_arg, roots, "path")
    if not parts:
        raise ArgumentError(f"{path_arg} is a folder, not a file", field="path")
    dir_fd = _open_dirs(root, parts[:-1], path_arg, "path")
    try:
        # O_NONBLOCK: a FIFO must not block the open.
        flags = os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(parts[-1], flags, dir_fd=dir_fd)
    except FileNotFoundError:
        raise ArgumentError(f"file not found: {path_arg}", field="path") from None
    except OSError:
        raise ArgumentError(f"{path_arg} cannot be opened (a link, or not a plain file)", field="path") from None
    finally:
        os.close(dir_fd)
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_UPLOAD_BYTES:
        os.close(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ArgumentError(f"{path_arg} is not a regular file", field="path")
        raise ArgumentError(f"{path_arg} is {info.st_size / 1e6:.1f} MB; the limit is 100 MB", field="path")
    with os.fdopen(fd, "rb") as handle:
        return root.joinpath(*parts), handle.read(MAX_UPLOAD_BYTES + 1)


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
    """Write atomically inside an allowed folder, in a directory opened without following any
    link (see the module doc); runs in a worker thread."""
    bad = next((ch for ch in target if _invisible(ch)), None)
    if bad is not None:
        raise ArgumentError(
            f"save_as contains the control or invisible character U+{ord(bad):04X}",
            field="save_as",
            hint="Give a plain path; such characters hide a file's real name (e.g. a reversed extension).",
        )
    root, parts = _beneath(target, roots, "save_as")
    name = _plain_name(filename)
    if target.endswith(("/", os.sep)):
        dir_parts = parts
    else:
        try:  # an existing folder: save the file in it
            os.close(_open_dirs(root, parts, target, "save_as"))
            dir_parts = parts
        except ArgumentError:
            if not parts:
                raise
            dir_parts, name = parts[:-1], parts[-1]
    dir_fd = _open_dirs(root, dir_parts, target, "save_as")
    final = root.joinpath(*dir_parts, name)
    try:
        try:
            existing = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            existing = None
        if existing is not None:
            if stat.S_ISLNK(existing.st_mode) or not stat.S_ISREG(existing.st_mode):
                raise ArgumentError(f"{final} is a link or not a plain file; it is not replaced", field="save_as")
            if not overwrite:
                raise ArgumentError(f"{final} exists; pass overwrite: true to replace it", field="save_as")
        tmp = f".dversum-{secrets.token_hex(6)}.part"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(tmp, flags, 0o644, dir_fd=dir_fd)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            if overwrite:
                os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)  # replaces a name, never follows one
            else:
                os.link(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd, follow_symlinks=False)  # no clobbering
                os.unlink(tmp, dir_fd=dir_fd)
        except FileExistsError:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=dir_fd)
            raise ArgumentError(f"{final} exists; pass overwrite: true to replace it", field="save_as") from None
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=dir_fd)
            raise
    except OSError as exc:
        raise ArgumentError(f"cannot write {final}: {exc.strerror or exc}", field="save_as") from None
    finally:
        os.close(dir_fd)
    return final


def _invisible(char: str) -> bool:
    """Control characters, line/paragraph separators and invisible format characters (bidi
    overrides such as U+202E, zero-width spaces), which make a file name lie about itself."""
    return unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp")


def _plain_name(filename: str) -> str:
    """A file name from the API (not trusted) as a plain name: no folders, no control or
    invisible characters (each becomes `_`), never `.` or `..`."""
    name = "".join("_" if _invisible(ch) else ch for ch in Path(filename).name).strip()
    return name if name.strip(".") else "download"


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
    return replace(outcome, data=data, binary=None)
