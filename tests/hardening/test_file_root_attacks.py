"""File roots under attack: a parent directory swapped for a symlink (in a tight loop, from
another thread) never makes an upload read, or a download write, outside the allowed folder;
nor do static links, `..`, FIFOs or directories in the path."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dversum_mcp.api.errors import ArgumentError
from dversum_mcp.api.hooks import files
from tests.hardening.attack_support import Tally

TALLY = Tally("file roots")
RACE_S = 2.5
INSIDE = b"inside the root"
OUTSIDE = b"SECRET outside the root"


@pytest.fixture
def layout(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    (root / "d").mkdir(parents=True)
    outside.mkdir()
    (root / "d" / "f.txt").write_bytes(INSIDE)
    (outside / "f.txt").write_bytes(OUTSIDE)
    return root.resolve(), outside.resolve()


_SWAP = """
import os, sys, time
root, outside, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
d, real = os.path.join(root, "d"), os.path.join(root, "d_real")
swaps, end = 0, time.monotonic() + seconds
while time.monotonic() < end:
    try:
        os.rename(d, real); os.symlink(outside, d); os.unlink(d); os.rename(real, d)
        swaps += 1
    except OSError:
        pass
if os.path.islink(d):
    os.unlink(d)
if os.path.exists(real):
    os.rename(real, d)
print(swaps)
"""


class Swapper:
    """Another process swaps root/d for a symlink to the outside folder and back, as fast as it
    can, for a bounded time (a real attacker runs beside the server, not inside it)."""

    def __init__(self, root: Path, outside: Path, seconds: float = RACE_S) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", _SWAP, str(root), str(outside), str(seconds)], stdout=subprocess.PIPE, text=True
        )
        self.swaps = 0

    def running(self) -> bool:
        return self.process.poll() is None

    def __enter__(self) -> Swapper:
        return self

    def __exit__(self, *exc: object) -> None:
        out, _ = self.process.communicate(timeout=30)
        self.swaps = int(out.strip() or 0)


def test_upload_never_reads_through_a_swapped_parent(layout: tuple[Path, Path]) -> None:
    root, outside = layout
    reads = escapes = 0
    with Swapper(root, outside) as swapper:
        while swapper.running():
            try:
                _, data = files._read_upload(str(root / "d" / "f.txt"), [root])
            except (ArgumentError, OSError):  # refused, or the folder was away for a moment
                continue
            reads += 1
            escapes += data == OUTSIDE
    assert swapper.swaps > 100 and reads > 10, (swapper.swaps, reads)
    assert TALLY.count(escapes == 0), f"{escapes} of {reads} uploads read the file outside ({swapper.swaps} swaps)"


def test_save_as_never_writes_through_a_swapped_parent(layout: tuple[Path, Path]) -> None:
    root, outside = layout
    writes = 0
    with Swapper(root, outside) as swapper:
        while swapper.running():
            try:
                files._write_inside(str(root / "d" / "api.bin"), "api.bin", b"API bytes", [root], True)
            except (ArgumentError, OSError):  # refused, or the folder was away for a moment
                continue
            writes += 1
    leaked = sorted(p.name for p in outside.iterdir() if p.name != "f.txt")
    assert swapper.swaps > 100 and writes > 10, (swapper.swaps, writes)
    assert TALLY.count(leaked == []), f"written outside the root: {leaked} ({writes} writes, {swapper.swaps} swaps)"
    assert (outside / "f.txt").read_bytes() == OUTSIDE


def test_static_escapes_are_refused(layout: tuple[Path, Path]) -> None:
    root, outside = layout
    (root / "link").symlink_to(outside)
    (root / "file_link").symlink_to(outside / "f.txt")
    os.mkfifo(root / "fifo")
    reads = [
        str(root / "link" / "f.txt"),
        str(root / "file_link"),
        str(root / "d" / ".." / ".." / "outside" / "f.txt"),
        str(outside / "f.txt"),
        str(root / "fifo"),
        str(root / "d"),
    ]
    for path in reads:
        try:
            _, data = files._read_upload(path, [root])
            held = data != OUTSIDE and path.endswith("f.txt") and "outside" not in path
        except ArgumentError:
            held = True
        assert TALLY.count(held), f"read {path}"
    writes = [str(root / "link" / "x.bin"), str(root / "link") + "/", str(root / "file_link"), str(outside / "x.bin")]
    for target in writes:
        with contextlib.suppress(ArgumentError):
            files._write_inside(target, "x.bin", b"API", [root], True)
        held = sorted(p.name for p in outside.iterdir()) == ["f.txt"] and (outside / "f.txt").read_bytes() == OUTSIDE
        assert TALLY.count(held), f"wrote {target}"


def test_plain_use_still_works(layout: tuple[Path, Path]) -> None:
    root, _ = layout
    assert files._read_upload(str(root / "d" / "f.txt"), [root])[1] == INSIDE
    assert files._read_upload(str(root / "d" / "." / "f.txt"), [root])[1] == INSIDE
    saved = files._write_inside(str(root / "d"), "report.pdf", b"%PDF", [root], False)
    assert saved == root / "d" / "report.pdf" and saved.read_bytes() == b"%PDF"
    with pytest.raises(ArgumentError, match="overwrite"):
        files._write_inside(str(root / "d" / "report.pdf"), "x", b"new", [root], False)
    assert files._write_inside(str(root / "d" / "report.pdf"), "x", b"new", [root], True).read_bytes() == b"new"
    assert files._write_inside(str(root) + "/", "top.txt", b"t", [root], False) == root / "top.txt"
    assert not [p for p in (root / "d").iterdir() if p.name.startswith(".dversum-")]
