"""``tao-automl mcp``: the tools of :mod:`tao_automl.agentapi.tools` served over MCP (stdio) with the official SDK.

Arguments are validated by our own schema check (so a bad argument comes back as the same ``{"error": ...}``
JSON as every other failure, with a hint), tools run in a worker thread (the server keeps answering), and each
result is returned both as structured content and as JSON text.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from tao_automl.errors import require_extra

log = logging.getLogger(__name__)

SERVER_NAME = "tao-automl"


def _require_mcp() -> None:
    """The ``mcp`` package is installed, else the :class:`MissingExtraError` every extra gives (kind
    ``missing_extra``, the pip command in ``allowed`` and ``hint``)."""
    require_extra("mcp", "mcp", "the MCP server (`tao-automl mcp`)")


def build_server() -> Any:
    """The low-level MCP server with every tool registered."""
    _require_mcp()
    import anyio
    from mcp import types
    from mcp.server.lowlevel import Server

    from tao_automl import __version__
    from tao_automl.agentapi.tools import TOOLS, call_tool
    from tao_automl.cli.agent_commands import skill_path

    # the skill file is the server's instructions: an MCP-only client gets the whole how-to at initialize
    server: Any = Server(SERVER_NAME, version=__version__, instructions=skill_path().read_text())

    async def list_tools() -> list[Any]:
        return [types.Tool(name=t.name, description=t.description, inputSchema=t.schema) for t in TOOLS.values()]

    async def handle_call(name: str, arguments: dict[str, Any]) -> Any:
        result, is_error = await anyio.to_thread.run_sync(call_tool, name, arguments)
        text = json.dumps(result, indent=2, default=str)
        structured = json.loads(text)  # plain JSON data only
        return types.CallToolResult(content=[types.TextContent(type="text", text=text)],
                                    structuredContent=structured, isError=is_error)

    server.list_tools()(list_tools)
    server.call_tool(validate_input=False)(handle_call)
    return server


def serve_stdio() -> None:
    """Serve until the client closes stdin. Anything else printing to stdout is sent to stderr instead."""
    server = build_server()
    import io
    import sys

    import anyio
    from mcp.server.stdio import stdio_server

    protocol_out = anyio.wrap_file(io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8"))
    sys.stdout = sys.stderr  # a stray print must never corrupt the protocol stream

    async def main() -> None:
        async with stdio_server(stdout=protocol_out) as (read, write):
            await server.run(read, write, server.create_initialization_options())

    anyio.run(main)
