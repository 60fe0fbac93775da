#!/usr/bin/env bash
# tiktoken's o200k_base rank file for the token-budget calibration tests, built offline from the npm package
# js-tiktoken@1.0.21 (tiktoken itself would download it from a blob store CI cannot reach). The result lands in
# .cache/tiktoken/ under the name tiktoken looks for (sha1 of its URL); tests set TIKTOKEN_CACHE_DIR to it.
# Idempotent: nothing happens when the file is there with the pinned SHA-256.
set -euo pipefail
cd "$(dirname "$0")/../.."
SHA256=446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d
CACHE=.cache/tiktoken
KEY=fb374d419588a4632f3f557e76b4b70aebbca790   # sha1("https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken")
if [ -f "$CACHE/$KEY" ] && echo "$SHA256  $CACHE/$KEY" | sha256sum -c --status; then
  exit 0
fi
mkdir -p "$CACHE"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if command -v npm >/dev/null; then
  (cd "$work" && npm pack --silent js-tiktoken@1.0.21 >/dev/null)
else  # no Node on this machine: the same tarball straight from the npm registry (checked below by its result)
  python3 -c 'import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])' \
    https://registry.npmjs.org/js-tiktoken/-/js-tiktoken-1.0.21.tgz "$work/js-tiktoken-1.0.21.tgz"
fi
tar xzf "$work/js-tiktoken-1.0.21.tgz" -C "$work"
python3 tools/o200k_from_js_tiktoken.py "$work/package/dist/ranks/o200k_base.js" "$work/o200k_base.tiktoken" >/dev/null
echo "$SHA256  $work/o200k_base.tiktoken" | sha256sum -c --status
mv "$work/o200k_base.tiktoken" "$CACHE/$KEY"
