"""The MCP layer: handlers, session state, instructions, tool calls, confirmations, rendering,
resources, prompts and discovery."""
