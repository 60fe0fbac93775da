"""How MCP messages and webhook events reach the server: stdio, SSE / Streamable HTTP, the webhook inbox.

Imports nothing from the layers above (cli, server, tools, api).
"""
