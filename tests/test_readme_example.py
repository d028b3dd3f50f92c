"""The README's "From Python" block, extracted from README.md and run as written (budget shrunk) from a temporary
working directory: relative paths in it must still reach every job (they are made absolute at the boundary)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from conftest import readme_says

ROOT = Path(__file__).resolve().parents[1]


def readme_python_block() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("## From Python", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "README.md has no python block under '## From Python'"
    return match.group(1)


def shrunk(code: str) -> str:
    """The same program with a smaller budget: 2 recs of 2 epochs."""
    small = code.replace('"automl_max_recommendations": 10', '"automl_max_recommendations": 2')
    small = small.replace('"train.num_epochs": 8', '"train.num_epochs": 2')
    assert small.count("2") > code.count("2"), "the README block no longer has the budget this test shrinks"
    return small


def test_readme_python_block_runs_from_a_temporary_cwd(tmp_path: Path) -> None:
    code = shrunk(readme_python_block())
    assert 'workspace_path="runs/"' in code  # the relative path is the point of this test
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    value, _, params = done.stdout.strip().partition(" ")
    assert 0.0 <= float(value) <= 1.0 and "train.optim.lr" in params
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1 and runs[0].name.startswith("run_")


def test_the_setup_sweep_is_the_demo_config_the_readme_describes() -> None:
    """README's Setup runs "a real 10-rec Bayesian sweep of the built-in demo network on this machine" with the config
    its command names, then `tao-automl report runs` from the same folder: the config is that sweep, its workspace is
    that `runs` folder, and it passes preflight (which creates nothing)."""
    recs, = readme_says(r"Run a real (\d+)-rec Bayesian sweep of the built-in demo network on this machine")
    path, = readme_says(r"\.venv/bin/pip install -e '\.\[demo\]' && \.venv/bin/tao-automl run (\S+) ```")
    workspace, = readme_says(r"`\.venv/bin/pip install -e '\.\[report\]' && \.venv/bin/tao-automl report (\w+)` \(a "
                             r"workspace: its newest run\)")
    config = yaml.safe_load((ROOT / path).read_text())
    settings = config["automl_settings"]
    assert (config["platform"], config["skill_dir"]) == ("local", "builtin:demo-digits-mlp")
    assert (settings["algorithm"], settings["automl_max_recommendations"]) == ("bayesian", int(recs))
    assert ((ROOT / path).parent / config["workspace_path"]).resolve() == ROOT / workspace
    done = subprocess.run([sys.executable, "-m", "tao_automl.cli.main", "preflight", path, "--json"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and json.loads(done.stdout)["ok"] is True, done.stdout[-2000:] + done.stderr[-2000:]



def test_the_readme_query_status_signature_is_the_real_one() -> None:
    """README showed `query_status(path, recs="top", ...)`: `query_status(path=...)` and `query_status(run, "all")`
    raise TypeError, as the first parameter is `workspace_path` (SPEC's name) and the rest are keyword-only. The
    README's signature is parsed and compared with the function's: names, kinds and defaults."""
    import ast
    import inspect

    from tao_automl import query_status

    shown = re.findall(r"`tao_automl\.query_status\((.*?)\)`", (ROOT / "README.md").read_text(), re.S)
    assert len(shown) == 1, shown
    readme = ast.parse(f"def query_status({' '.join(shown[0].split())}): pass").body[0]
    assert isinstance(readme, ast.FunctionDef)
    args = readme.args
    positional = [a.arg for a in args.args]
    keyword = {a.arg: ast.literal_eval(d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True)
               if d is not None}
    real = inspect.signature(query_status).parameters
    assert positional == ["workspace_path"] == [n for n, p in real.items() if p.kind is p.POSITIONAL_OR_KEYWORD]
    assert real["workspace_path"].default is inspect.Parameter.empty
    assert keyword == {n: p.default for n, p in real.items() if p.kind is p.KEYWORD_ONLY and n != "call"}
    assert len(keyword) == len(args.kwonlyargs)  # every keyword the README shows has its default


def test_the_public_api_shows_in_dir_and_help() -> None:
    """`tao_automl` and `tao_automl.runner` import their API lazily (module `__getattr__`), and had no `__dir__`:
    `dir(tao_automl)` (a Jupyter user's tab completion) lacked AutoML, AutoMLRunner and query_status, and
    `help(tao_automl)` listed only `__getattr__` as its functions. Run in a fresh interpreter, so nothing imported
    the API before."""
    code = ("import pydoc, tao_automl, tao_automl.runner as r\n"
            "assert {'AutoML', 'AutoMLRunner', 'query_status', '__version__'} <= set(dir(tao_automl))\n"
            "assert 'AutoMLRunner' in dir(r), dir(r)\n"
            "text = pydoc.render_doc(tao_automl, renderer=pydoc.plaintext)\n"
            "assert 'class AutoML(' in text and 'class AutoMLRunner(' in text and 'query_status(' in text, text\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]


def test_what_the_readme_says_varies_in_the_python_block_is_the_finish_order() -> None:
    """README: the block's printed line can differ between runs because, with two recs at a time, what the brain
    has learned when it proposes a rec depends on which running job ended first (or whether both ended before the
    runner looked); while jobs end one at a time its initial design (the first N recs) does not. Driven through
    ask/tell (the same brain and slots as the runner) with two finish orders: always the older in-flight rec first,
    and always the newer first; the same order twice proposes the same recs, also when both are reported before
    the next ask."""
    import math
    import tempfile

    from tao_automl import AutoML
    from tao_automl.bank import builtin_skill_dir

    design, = readme_says(r"While the jobs end one at a time, the first (\d+) recs \(the demo's initial design\) "
                          r"do not depend on which ended first; the later ones do")
    readme_says(r"or whether both ended before the runner looked \(it then proposes two recs at once\)")
    settings = {"algorithm": "bayesian", "metric": "val_accuracy", "automl_max_recommendations": 10,
                "automl_max_concurrent": 2}
    assert f'"automl_max_concurrent": {settings["automl_max_concurrent"]}' in readme_python_block()

    def proposals(newest_first: bool, together: bool = False) -> list[dict[str, Any]]:
        with tempfile.TemporaryDirectory() as folder:
            automl = AutoML(workspace=Path(folder) / "run", skill_dir=builtin_skill_dir("demo-digits-mlp"),
                            settings=settings, log_progress=False)
            flight = automl.next_recommendation()
            proposed = [rec.params for rec in flight]
            while flight:
                ended = list(flight) if together else [(max if newest_first else min)(flight, key=lambda rec: rec.id)]
                for done in ended:
                    flight.remove(done)
                    lr = float(done.params["train.optim.lr"])
                    # a failure above 0.5, as the demo's rec 4 diverges: the design still does not depend on the order
                    automl.report_result(done.id, None if lr > 0.5 else 1 / (1 + abs(math.log10(lr / 0.05))))
                new = automl.next_recommendation()
                flight += new
                proposed += [rec.params for rec in new]
            automl.finish()
            return proposed

    older_first, newer_first = proposals(False), proposals(True)
    assert len(older_first) == len(newer_first) == 10
    assert any(float(p["train.optim.lr"]) > 0.5 for p in older_first[:int(design)])
    assert older_first == proposals(False)  # the same finish order: the same recs
    n = int(design)
    assert older_first[:n] == newer_first[:n]
    assert older_first[n] != newer_first[n]  # the first rec the brain's model proposes already depends on it
    both = proposals(False, together=True)
    assert len(both) == 10 and both == proposals(False, together=True)  # seeded: the same timing, the same recs


def test_the_python_block_at_one_rec_at_a_time_prints_the_same_line_every_time(tmp_path: Path) -> None:
    """README: with `"automl_max_concurrent": 1` the block prints the same line every time (seeded training and
    brain). Run twice as written but for that and a smaller budget: past the initial design, so the brain's own
    proposals are compared too."""
    recs, = readme_says(r"the first (\d+) recs \(the demo's initial design\)")
    code = readme_python_block()
    assert 'With `"automl_max_concurrent": 1` the same call prints the same line every time' in " ".join(
        (ROOT / "README.md").read_text().split())
    one = code.replace('"automl_max_concurrent": 2', '"automl_max_concurrent": 1')
    one = one.replace('"automl_max_recommendations": 10', f'"automl_max_recommendations": {int(recs) + 1}')
    one = one.replace('"train.num_epochs": 8', '"train.num_epochs": 1')
    assert one.count("1") > code.count("1"), "the README block no longer has the settings this test changes"
    printed = []
    for attempt in ("a", "b"):
        (tmp_path / attempt).mkdir()
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "XDG_CACHE_HOME": str(tmp_path / "cache")}
        done = subprocess.run([sys.executable, "-c", one], cwd=tmp_path / attempt, env=env, capture_output=True,
                              text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        printed.append(done.stdout.strip())
    assert printed[0] == printed[1] and "train.optim.lr" in printed[0], printed


def _setup_section() -> str:
    text = (ROOT / "README.md").read_text()
    return text.split("## Setup", 1)[1].split("### Test tiers", 1)[0]


def test_the_setup_says_what_a_fresh_debian_needs_for_python3_m_venv() -> None:
    """README's setup is for "a fresh Debian machine", whose python3 has no ensurepip: `python3 -m venv .venv` fails
    there ("ensurepip is not available ... install the python3-venv package") until python3-venv is installed, which
    the setup did not say. Where dpkg knows the file, the package that holds ensurepip is one the named one brings."""
    import shutil
    import sysconfig

    setup = _setup_section()
    assert "python3 -m venv .venv" in setup and "fresh Debian machine" in setup
    named = re.findall(r"apt-get install (?:-y )?([\w.+-]+)", setup)
    assert "python3-venv" in named, named
    ensurepip = Path(sysconfig.get_paths()["stdlib"]) / "ensurepip" / "__init__.py"
    if shutil.which("dpkg-query") and ensurepip.is_file():
        owner = subprocess.run(["dpkg-query", "-S", str(ensurepip)], capture_output=True, text=True, check=False)
        if owner.returncode == 0:  # a Debian python: the file is a package's
            package = owner.stdout.split(":", 1)[0]
            depends = subprocess.run(["dpkg-query", "-W", "-f=${Depends}", "python3-venv"], capture_output=True,
                                     text=True, check=False).stdout
            assert package == "python3-venv" or package in depends, (package, depends)


def test_the_python_the_setup_names_is_the_one_the_package_declares_and_the_checks_use() -> None:
    """README: "Python ≥ 3.10"; pyproject's requires-python, ruff's target and mypy's python_version say the same."""
    version, = readme_says(r"a fresh Debian machine with Python ≥ (\d+\.\d+)")
    project = (ROOT / "pyproject.toml").read_text()  # read as text: tomllib is 3.11+
    assert re.findall(r'^requires-python = "(.*)"$', project, re.M) == [f">={version}"]
    assert re.findall(r'^target-version = "(.*)"$', project, re.M) == ["py" + version.replace(".", "")]
    assert re.findall(r'^python_version = "(.*)"$', project, re.M) == [version]
