"""The hook table: named handlers for tools that are more than one plain request.

A table entry names its hook (`hook = "start_timer"`); the manifest loader refuses names
that are not here, so a typo fails at start-up, not at call time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from dversum_mcp.api.calls import Call, Outcome
from dversum_mcp.api.hooks import audit, board, bookings, files, pages, timers, timesheets

__all__ = ["HOOKS", "Hook"]

Hook = Callable[[Call], Awaitable[Outcome]]

HOOKS: dict[str, Hook] = {
    "append_to_page": pages.append_to_page,
    "booking_slots": bookings.booking_slots,
    "create_time_entry": timers.create_time_entry,
    "current_user": bookings.current_user,
    "delete_page": pages.delete_page,
    "download_file": files.download_file,
    "get_page": pages.get_page,
    "get_running_timer": timers.get_running_timer,
    "insert_into_page": pages.insert_into_page,
    "list_my_audit_log": audit.list_my_audit_log,
    "project_board": board.project_board,
    "start_timer": timers.start_timer,
    "stop_timer": timers.stop_timer,
    "summarize_time": timesheets.summarize_time,
    "upload_file": files.upload_file,
    "write_page": pages.write_page,
}
