"""Agent-facing interfaces: the tool functions with their JSON schemas, and the MCP server that serves them."""
