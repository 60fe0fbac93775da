"""The long fuzz run: the hardening suites with many more examples per tool.

    python bench/fuzz_long.py [--rounds N] [-- extra pytest args]

Sets DVERSUM_LONG_TESTS=1 (60 valid + every invalid case + 40 garbage values per tool,
all targets of call_read_tool/call_write_tool, 4 kill -9 rounds) and runs
tests/hardening/test_fuzz.py and test_durability.py `--rounds` times; hypothesis draws
the same examples each round (derandomized), so further rounds mainly repeat the
durability kills at other moments. Writes a JSON summary to bench/results/fuzz_long.json.
Traffic stays on 127.0.0.1; each run is bounded (pytest-timeout per test).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("pytest_args", nargs="*")
    args = parser.parse_args()
    env = {**os.environ, "DVERSUM_LONG_TESTS": "1"}
    runs = []
    for round_ in range(args.rounds):
        started = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "tests/hardening/test_fuzz.py", "tests/hardening/test_durability.py",
             "-p", "no:randomly", "--timeout", "900", *args.pytest_args],
            cwd=ROOT, env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        lines = proc.stdout.splitlines()
        summary = [line for line in lines if line.startswith(("fuzz:", "durability:", "secret guard:"))]
        tail = next((line for line in reversed(lines) if re.search(r"\d+ (passed|failed)", line)), "")
        runs.append(
            {"round": round_ + 1, "exit": proc.returncode, "seconds": round(time.monotonic() - started, 1),
             "result": tail.strip("= "), "summary": summary}
        )  # fmt: skip
        print(json.dumps(runs[-1], ensure_ascii=False))
        if proc.returncode != 0:
            print(proc.stdout[-5000:], file=sys.stderr)
    out = ROOT / "bench" / "results" / "fuzz_long.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(runs, indent=2, ensure_ascii=False) + "\n")
    return 0 if all(r["exit"] == 0 for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
