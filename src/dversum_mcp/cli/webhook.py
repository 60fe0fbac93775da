"""`dversum-mcp webhook verify|listen`: check a signature, or print received events as JSON lines.

    dversum-mcp webhook verify --signature sha256=<hex> --body-file body.json   # prints valid/invalid
    dversum-mcp webhook listen [--host 127.0.0.1] [--port 8787]                 # one JSON line per event

The secret is read only from `DVERSUM_WEBHOOK_SECRET`, never from a flag (flags are visible in `ps`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from dversum_mcp.transports.webhook_inbox import (
    SECRET_ENV,
    Event,
    WebhookInbox,
    is_loopback_host,
    verify_webhook_signature,
    webhook_app,
)

__all__ = ["run_webhook_command"]


def _secret_from_env() -> str:
    return os.environ.get(SECRET_ENV, "")


def _verify(args: argparse.Namespace) -> int:
    secret = _secret_from_env()
    if not secret:
        print(f"dversum-mcp: set {SECRET_ENV} to the webhook secret (it is never taken from a flag)", file=sys.stderr)
        return 2
    try:
        if args.body_file == "-":
            body = sys.stdin.buffer.read()
        else:
            with open(args.body_file, "rb") as handle:
                body = handle.read()
    except OSError as exc:
        print(f"dversum-mcp: cannot read {args.body_file}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    valid = verify_webhook_signature(secret, body, args.signature)
    print("valid" if valid else "invalid")
    return 0 if valid else 1


def _print_event(event: Event) -> None:
    sys.stdout.write(json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def _listen(args: argparse.Namespace) -> int:
    import uvicorn

    host, port = args.host, args.port
    if not is_loopback_host(host):
        print(
            f"dversum-mcp: webhook listen binds loopback only (got {host}); expose it with a tunnel instead",
            file=sys.stderr,
        )
        return 2
    secret = _secret_from_env()
    if not secret:
        print(f"dversum-mcp: {SECRET_ENV} not set: signatures are NOT verified", file=sys.stderr)
    inbox = WebhookInbox()
    inbox.on_event.append(_print_event)
    tunnels = tuple(h.strip() for h in os.environ.get("DVERSUM_WEBHOOK_HOSTS", "").split(",") if h.strip())
    app = webhook_app(inbox, secret or None, allowed_hosts=tunnels)
    print(f"dversum-mcp: receiving webhooks on http://{host}:{port}/ (Ctrl-C to stop)", file=sys.stderr)
    config = uvicorn.Config(app, host=host, port=port, log_config=None, log_level="warning", lifespan="off")
    uvicorn.Server(config).run()
    return 0


def run_webhook_command(args: argparse.Namespace) -> int:
    """`dversum-mcp webhook verify|listen`; the exit code."""
    if args.webhook_command == "verify":
        return _verify(args)
    if args.webhook_command == "listen":
        return _listen(args)
    print(f"dversum-mcp: unknown webhook command {args.webhook_command}", file=sys.stderr)
    return 2
