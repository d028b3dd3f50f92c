"""``tao-automl mcp``: the server runs as a real subprocess and is driven only through the official MCP client
(``mcp`` package): list tools, dry run, start a demo sweep, stop it half way, resume it, poll to the end and
read the best config; bad arguments and bad configs come back as ``{"error": ...}`` JSON with a hint."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from agent_helpers import cli_env

mcp = pytest.importorskip("mcp")

from mcp import ClientSession, StdioServerParameters  # noqa: E402
from mcp.client.stdio import stdio_client  # noqa: E402

EXPECTED_TOOLS = {"list_models", "describe_search_space", "preflight", "dry_run", "start_sweep", "sweep_status",
                  "stop_sweep", "resume_sweep", "best_config", "report"}


def _config(folder: Path, recs: int, epochs: int) -> dict[str, Any]:
    return {"platform": "local", "platform_options": {"jobs_dir": str(folder / "jobs")},
            "skill_dir": "builtin:demo-digits-mlp", "workspace_path": str(folder / "runs"),
            "train_dataset_uri": "builtin:digits",
            "automl_settings": {"algorithm": "random", "metric": "val_accuracy", "automl_max_recommendations": recs,
                                "automl_max_concurrent": 2, "poll_interval_s": 0.3},
            "spec_overrides": {"train.num_epochs": epochs}, "platform_kwargs": {"gpu_count": 0}}


async def _call(session: ClientSession, name: str, **arguments: Any) -> tuple[dict[str, Any], bool]:
    result = await session.call_tool(name, arguments)
    data = json.loads(result.content[0].text)  # type: ignore[union-attr]
    assert result.structuredContent == data
    return data, bool(result.isError)


async def _ok(session: ClientSession, name: str, **arguments: Any) -> dict[str, Any]:
    data, is_error = await _call(session, name, **arguments)
    assert not is_error, data
    return data


async def _error(session: ClientSession, name: str, **arguments: Any) -> dict[str, Any]:
    data, is_error = await _call(session, name, **arguments)
    assert is_error and set(data) in ({"error"}, {"error", "checks"}), data  # checks: a failed preflight's
    error: dict[str, Any] = data["error"]
    assert set(error) == {"kind", "message", "field", "value", "allowed", "hint", "exit_code"}
    assert error["hint"] and error["message"] and "Traceback" not in error["message"]
    return error


async def _poll(session: ClientSession, run_dir: str, until: Any, timeout: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status = await _ok(session, "sweep_status", run_dir=run_dir, include_recs=False)
        if until(status):
            return status
        assert time.monotonic() < deadline, status
        await asyncio.sleep(0.5)


async def _scenario(folder: Path) -> None:
    params = StdioServerParameters(command=sys.executable, args=["-m", "tao_automl.cli.main", "mcp"],
                                   env=cli_env(), cwd=str(folder))
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        init = await session.initialize()
        assert init.instructions and "start_sweep" in init.instructions  # the skill file, for MCP-only clients
        tools = {t.name: t for t in (await session.list_tools()).tools}
        assert set(tools) == EXPECTED_TOOLS
        assert all(t.inputSchema["type"] == "object" and t.description for t in tools.values())

        models = await _ok(session, "list_models")
        assert "builtin:demo-digits-mlp" in [m["skill_dir"] for m in models["runnable"]]
        space = await _ok(session, "describe_search_space", skill_dir="builtin:demo-digits-mlp")
        assert space["search_space"]

        # errors an agent may provoke: all JSON with a hint
        assert (await _error(session, "dry_run", config=_config(folder, 4, 1), recs=0))["field"] == "recs"
        assert (await _error(session, "sweep_status", run_dir=1))["field"] == "run_dir"
        assert (await _error(session, "start_sweep", confg={}))["field"] == "confg"
        bad = {**_config(folder, 4, 1), "automl_settings": {"algorithm": "bayes"}}
        error = await _error(session, "start_sweep", config=bad)
        assert error["field"] == "automl_settings.algorithm" and error["exit_code"] == 2
        assert (await _error(session, "sweep_status", run_dir=str(folder / "nope")))["kind"] == "workspace"
        assert not (folder / "runs").exists()  # nothing was created by the refused calls

        config = _config(folder, recs=4, epochs=6)
        assert (await _ok(session, "preflight", config=config))["ok"] is True
        dry = await _ok(session, "dry_run", config=config, recs=2)
        assert len(dry["recs"]) == 2 and not (folder / "runs").exists()

        started = await _ok(session, "start_sweep", config=config)
        run_dir = started["run_dir"]
        # it said "detached": true beside "orchestrator": {"detached": false, "started_at": null}
        assert started["detached"] is True and started["orchestrator"]["detached"] is True
        assert started["orchestrator"]["started_at"] is not None and started["orchestrator"]["pid"] == started["pid"]
        await _poll(session, run_dir, lambda s: len(s["active_jobs"]) == 2 and all(
            a["job_id"] for a in s["active_jobs"]))
        stopped = await _ok(session, "stop_sweep", run_dir=run_dir)
        assert stopped["was_running"] is True and stopped["state"] == "interrupted"
        half = await _ok(session, "sweep_status", run_dir=run_dir)
        assert half["done"] is True and half["progress"]["completed"] < 4
        assert half["resumable"] is True and half["next"] == {"tool": "resume_sweep", "arguments": {"run_dir": run_dir}}

        await _ok(session, "resume_sweep", run_dir=run_dir)
        final = await _poll(session, run_dir, lambda s: s["done"])
        assert final["progress"]["state"] == "finished" and final["progress"]["completed"] == 4
        assert final["resumable"] is False and final["next"] is None
        best = await _ok(session, "best_config", run_dir=run_dir)
        assert best["best"]["params"] and best["best"]["metric_value"] == final["progress"]["best_metric"]
        assert best["metric"] == "val_accuracy"
        html = await _ok(session, "report", run_dir=run_dir)
        assert html["available"] is True and Path(html["html"]).is_file()


def test_a_whole_sweep_through_the_official_mcp_client(tmp_path: Path) -> None:
    asyncio.run(_scenario(tmp_path))


async def _failed_preflights(folder: Path) -> None:
    params = StdioServerParameters(command=sys.executable, args=["-m", "tao_automl.cli.main", "mcp"],
                                   env=cli_env(), cwd=str(folder))
    missing = {**_config(folder, 4, 1), "train_dataset_uri": str(folder / "no_such_dataset")}
    typo = {**_config(folder, 4, 1), "automl_settings": {"algorithm": "bayesiann", "metric": "val_accuracy"}}
    path = folder / "typo.yaml"
    path.write_text(json.dumps(typo))  # JSON is YAML
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        for arguments, field in (({"config": missing}, "train_dataset_uri"),
                                 ({"config": typo}, "automl_settings.algorithm"),
                                 ({"config_path": str(path)}, "automl_settings.algorithm")):
            data, is_error = await _call(session, "preflight", **arguments)
            assert is_error, data  # a failed preflight is an error result, as the CLI exits 2 ...
            assert data["ok"] is False and data["checks"]  # ... and keeps its checks
            assert data["error"]["field"] == field and data["error"]["exit_code"] == 2, data["error"]
            hint = data["error"]["hint"]
            assert "call preflight again" in hint and "tao-automl preflight the config" not in hint, hint
            if "config" in arguments:
                assert "the config object" in hint
            else:
                assert str(path) in hint
        for tool in ("dry_run", "start_sweep"):  # preflight runs first there too: its checks come with the error
            data, is_error = await _call(session, tool, config=missing)
            assert is_error and data["error"]["field"] == "train_dataset_uri", data
            assert "train_dataset_uri" in [c["check"] for c in data["checks"] if c["ok"] is False]
        assert not (folder / "runs").exists()


def test_a_failed_preflight_is_an_error_result_keeping_its_checks(tmp_path: Path) -> None:
    asyncio.run(_failed_preflights(tmp_path))
