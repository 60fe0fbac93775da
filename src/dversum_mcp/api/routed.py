"""An `ApiClient` that sends each request with the client of the user the current call acts for.

The multi-user server builds its handlers once, around one `RoutedClient`; per request it sets
`CURRENT` to that user's own `ApiClient` (their dVersum token, their rate limit). A request made
when no user is set fails closed with `unauthorized`, it never falls back to another token.
"""

from __future__ import annotations

import contextvars
from collections.abc import Mapping
from typing import Any

from dversum_mcp.api.client import ApiClient, ApiResponse, RequestLog
from dversum_mcp.api.errors import ApiError

__all__ = ["CURRENT", "RoutedClient"]

CURRENT: contextvars.ContextVar[ApiClient | None] = contextvars.ContextVar("dversum_current_client", default=None)


class RoutedClient(ApiClient):
    def __init__(self) -> None:
        super().__init__(base_url="http://unrouted.invalid", token="")

    def _collect(self, entry: RequestLog) -> None:
        if self.on_request is not None:
            self.on_request(entry)

    async def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, Any] | None = None,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
        public: bool = False,
        deadline: float | None = None,
        absolute_url: str | None = None,
        download: bool = False,
    ) -> ApiResponse:
        client = CURRENT.get()
        if client is None:
            raise ApiError(
                401,
                "not_linked",
                "No dVersum account is linked to this request",
                hint="Reconnect the dVersum connector in your assistant to link your account.",
            )
        if client.on_request is None:
            client.on_request = self._collect
        return await client.request(
            method,
            path,
            query=query,
            json_body=json_body,
            form=form,
            files=files,
            public=public,
            deadline=deadline,
            absolute_url=absolute_url,
            download=download,
        )
