"""OAuth 2.1 for the multi-user server: the authorization server (SDK provider protocol, state in
Redis), client metadata documents, the account-linking page and the shared key set.

Imports only `dversum_mcp.api` (to check a dVersum token) besides the SDK and Redis."""
