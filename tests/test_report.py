"""``tao-automl report``: the self-contained HTML report (opened in real headless Chromium) and the PNG plot."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from conftest import readme_says, write_skill
from fifo_reader import FifoReader
from store_helpers import killed_run_mid_job, killed_run_whose_jobs_ended
from tao_automl.platforms.local.sdk import LocalSDK
from tao_automl.report.data import load_run
from tao_automl.runner.loop import AutoMLRunner

pytest.importorskip("plotly", reason="the report extra is not installed")
pytest.importorskip("matplotlib", reason="the report extra is not installed")

REPO = Path(__file__).resolve().parents[1]
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
PLOTS = ("convergence", "convergence-time", "parallel", "importance", "curves")

TRAINER = textwrap.dedent(
    """
    import json, os, sys, time, yaml
    spec = yaml.safe_load(open(sys.argv[sys.argv.index("-e") + 1]))
    os.makedirs(spec["results_dir"], exist_ok=True)
    t = spec["train"]
    if t["flag"] and t["layers"] >= 5:
        sys.exit("RuntimeError: CUDA out of memory <in> this corner & of the space")
    for epoch in range(1, t["num_epochs"] + 1):
        time.sleep(0.05)
        loss = abs(t["optim"]["lr"] - 0.01) * 10 + 0.1 * t["layers"] + 1.0 / epoch
        with open(os.path.join(spec["results_dir"], "status.json"), "a") as f:
            f.write(json.dumps({"epoch": epoch, "kpi": {"val_loss": loss}}) + "\\n")
    """
)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real multi-fidelity run (ASHA, stopping mode) with stopped, successful and failed recs."""
    root = tmp_path_factory.mktemp("report")
    skill = write_skill(root / "bank", trainer=TRAINER)
    result = AutoMLRunner(LocalSDK(jobs_dir=root / "jobs"), skill).run(
        automl_settings={"algorithm": "asha", "fidelity_mode": "stopping", "metric": "val_loss", "seed": 3,
                         "automl_max_epochs": 9, "automl_reduction_factor": 3, "automl_max_recommendations": 12,
                         "automl_max_concurrent": 3, "poll_interval_s": 0.1},
        workspace_path=root / "ws", gpu_count=0)
    statuses = {h["status"] for h in result["history"]}
    assert {"success", "stopped", "failure"} <= statuses, statuses
    return Path(result["run_dir"])


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tao_automl.cli", *args], capture_output=True, text=True,
                          env={"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"}, timeout=300)


def test_html_report_is_self_contained_with_every_section(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    proc = _cli("report", str(run_dir), "-o", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"report": str(out), "format": "html", "run_dir": str(run_dir), "recs": 12}
    text = out.read_text()
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", text), "the report loads something from outside"
    assert "Plotly.newPlot" in text and len(text) > 3_000_000  # plotly.js itself is inlined
    assert len(re.findall(r"<tr[^>]*data-rec=", text)) == 12
    for div_id in PLOTS:
        assert f'id="{div_id}"' in text, div_id
    assert "random-forest permutation importance" in text
    assert "Best so far, in the order recs finished" in text and "by rec number" not in text
    assert "CUDA out of memory &lt;in&gt; this corner &amp; of the space" in text  # failure reason, escaped, uncut
    assert "automl_settings.automl_reduction_factor" in text


def test_ranking_and_curves_follow_the_run(run_dir: Path) -> None:
    data = load_run(run_dir)
    ranked = [r for r in data.ranked() if r.has_value]
    keys = [(-(r.budget or 0), r.metric) for r in ranked]
    assert keys == sorted(keys), "recs at a higher budget first, then by value"
    for rec in data.recs:
        if rec.status == "stopped":
            assert rec.epochs and rec.epochs[-1] == (rec.budget, pytest.approx(rec.metric))
        if rec.status == "success":
            assert rec.epochs[-1][1] == pytest.approx(rec.metric)


def test_png_convergence_plot(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "c.png"
    proc = _cli("report", str(run_dir), "--format", "png", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(out)
    from matplotlib.image import imread

    pixels = imread(str(out))
    assert pixels.shape[0] > 300 and pixels.shape[1] > 600 and float(pixels.std()) > 0.05


def test_png_title_fits_the_figure_and_rec_ticks_are_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A multi-fidelity run's title `run_...: best val_loss so far (highest budget reached first)` was cut at the
    figure's right edge, and a 3-rec run's x axis (finished rec, in order) had ticks at 1.25, 1.5, 1.75."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from tao_automl.report.data import RecView, RunData
    from tao_automl.report.png import write_convergence_png

    drawn: list[Figure] = []
    save = Figure.savefig
    monkeypatch.setattr(Figure, "savefig", lambda self, *a, **k: (drawn.append(self), save(self, *a, **k))[1])
    for budget, n in ((9, 3), (None, 3), (None, 40)):
        recs = [RecView(rec_id=i + 1, params={"lr": 0.1}, status="success", metric=1.0 / (i + 1), message=None,
                        job_id=None, budget=budget, rung=None, bracket=None, parent=None, created_at=0.0,
                        submitted_at=0.0, finished_at=float(i + 1), spec_path=None, trial_budget=budget)
                for i in range(n)]
        data = RunData(run_dir=tmp_path, meta={"experiment_id": "run_20261205_101915_fbbc06", "metric": "val_loss",
                                               "direction": "minimize"}, recs=recs)
        assert write_convergence_png(data, tmp_path / "c.png")
        figure = drawn[-1]
        renderer = FigureCanvasAgg(figure).get_renderer()  # as savefig drew it
        axes = figure.axes[0]
        title = axes.title.get_window_extent(renderer)
        assert title.x0 >= 0 and title.x1 <= figure.bbox.width, (title, figure.bbox)
        ticks = [t for t in axes.get_xticks() if 1 <= t <= n]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks


def test_png_of_a_run_without_a_result_exits_1_like_export_best(tmp_path: Path) -> None:
    """No rec has a metric: nothing to plot is the run's outcome (exit 1, kind no_result), as `export --best` says
    there is nothing to export; not a usage error (exit 2)."""
    from conftest import write_skill
    from tao_automl.platforms.local.sdk import LocalSDK
    from tao_automl.runner.loop import AutoMLRunner

    skill = write_skill(tmp_path / "bank", command="/nonexistent/trainer -e {config_path}")
    result = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), skill, log_progress=False).run(
        automl_settings={"algorithm": "random", "metric": "val_loss", "automl_max_recommendations": 1,
                         "poll_interval_s": 0.1}, workspace_path=tmp_path / "ws", gpu_count=0)
    proc = _cli("report", result["run_dir"], "--format", "png", "--json")
    assert proc.returncode == 1 and json.loads(proc.stdout)["error"]["kind"] == "no_result", proc.stdout
    best = _cli("export", result["run_dir"], "--best", "--json")
    assert best.returncode == 1 and json.loads(best.stdout)["error"]["kind"] == "no_result", best.stdout
    # `allowed` says what would make it work, as `run --json` of a sweep without a result says (it was null)
    from tao_automl.cli.main import no_result_error

    said = no_result_error(result).allowed
    assert said and all(json.loads(p.stdout)["error"]["allowed"] == said for p in (proc, best)), (said, proc.stdout)


def test_report_names_its_files_by_absolute_paths(run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """`report ws/run_x --json` printed `"run_dir": "ws/run_x"` and the report's path relative to the current folder
    (an agent in another folder could not open it), while status and export print absolute paths."""
    import os

    from tao_automl.cli.main import main

    monkeypatch.chdir(tmp_path)
    assert main(["report", os.path.relpath(run_dir, tmp_path), "-o", "r.html", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["run_dir"], shown["report"]) == (str(run_dir), str(tmp_path / "r.html"))
    assert main(["report", os.path.relpath(run_dir, tmp_path), "-o", "r.html"]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "r.html")


@pytest.mark.parametrize(("argv", "allowed"), [(["-o", "conv.png"], "a .html or .htm file"),
                                              (["-o", "conv.PNG", "--format", "json"], "a .html or .htm file"),
                                              (["-o", "report.html", "--format", "png"], "a .png file"),
                                              (["-o", "x.json", "--format", "json"], "a .html or .htm file"),
                                              (["-o", "x.JSON"], "a .html or .htm file")])
def test_an_output_named_for_the_other_format_is_refused(argv: list[str], allowed: str, run_dir: Path,
                                                          tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`report RUN -o conv.png` wrote the HTML report into conv.png (and `--format png -o r.html` a PNG into
    r.html), exit 0, and `--format json -o x.json` HTML into x.json (json prints report's result line as JSON): a
    file named for another format is refused, exit 2 naming -o, as `export --best -o` is."""
    from tao_automl.cli.main import main

    target = tmp_path / argv[1]
    code = main(["report", str(run_dir), "-o", str(target), *argv[2:], "--json"])
    error = json.loads(capsys.readouterr().out)["error"]
    assert (code, error["field"], error["value"], error["allowed"]) == (2, "-o", str(target), allowed)
    assert not target.exists()
    assert main(["report", str(run_dir), "-o", str(tmp_path / "plain"), *argv[2:]]) == 0  # no extension: taken


def test_a_json_output_hint_names_the_run_folder_given(run_dir: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """`report RUN -o x.json` pointed to `tao-automl status RUN_DIR --json --recs all` with the placeholder left in:
    the hint names the run folder the command was given, ready to paste."""
    from tao_automl.cli.main import main
    from tao_automl.util.shell import sh

    assert main(["report", str(run_dir), "-o", str(tmp_path / "x.json"), "--json"]) == 2
    hint = json.loads(capsys.readouterr().out)["error"]["hint"]
    assert f"tao-automl status {sh(str(run_dir))} --json --recs all" in hint
    assert "RUN_DIR" not in hint


def test_an_output_named_dash_is_refused_not_written_as_a_file(run_dir: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """`report RUN -o -` wrote the HTML report into a file named `-` in the current folder, exit 0 (export takes `-`
    as stdout, --optuna refuses it): it is refused, exit 2 naming -o, and nothing is written."""
    from tao_automl.cli.main import main

    monkeypatch.chdir(tmp_path)
    for extra in ([], ["--format", "png"]):
        code = main(["report", str(run_dir), "-o", "-", *extra, "--json"])
        error = json.loads(capsys.readouterr().out)["error"]
        assert (code, error["field"], error["value"], error["allowed"]) == (2, "-o", "-", "a file path")
    assert not (tmp_path / "-").exists()


def test_report_on_a_folder_without_state_is_a_one_line_error(tmp_path: Path) -> None:
    proc = _cli("report", str(tmp_path))
    assert proc.returncode == 2 and "no run state at" in proc.stderr and "Traceback" not in proc.stderr


def _browser(profile: Path) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--enable-unsafe-swiftshader", "--window-size=1300,2400", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)


@pytest.mark.skipif(CHROMIUM is None or CHROMEDRIVER is None,
                    reason="needs Debian's chromium and chromium-driver (apt-get install -y chromium chromium-driver)")
def test_report_renders_in_headless_chromium(run_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("selenium", reason="selenium (dev extra) drives Chromium")
    out = tmp_path / "report.html"
    assert _cli("report", str(run_dir), "-o", str(out)).returncode == 0
    driver = _browser(tmp_path / "profile")
    try:
        driver.get(out.as_uri())
        state = driver.execute_script("""
            const plots = {};
            for (const div of document.querySelectorAll('div.plot')) {
              const gd = div.querySelector('.js-plotly-plot');
              const box = gd ? gd.getBoundingClientRect() : {width: 0, height: 0};
              plots[div.dataset.plot] = {traces: gd && gd._fullData ? gd._fullData.length : 0,
                                         svg: gd ? gd.querySelectorAll('.main-svg').length : 0,
                                         width: box.width, height: box.height,
                                         drawn: gd ? gd.querySelectorAll('path, canvas').length : 0};
            }
            return {plots, rows: document.querySelectorAll('#ranked tbody tr').length,
                    plotly: typeof Plotly !== 'undefined'};
        """)
        errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
        png = driver.get_screenshot_as_png()
    finally:
        driver.quit()
    (tmp_path / "screenshot.png").write_bytes(png)
    assert errors == [], errors
    assert state["plotly"] and state["rows"] == len(load_run(run_dir).recs) == 12
    assert set(state["plots"]) == set(PLOTS), state["plots"]
    for name, plot in state["plots"].items():
        assert plot["traces"] >= 1 and plot["svg"] >= 1 and plot["drawn"] >= 1, (name, plot)
        assert plot["width"] > 300 and plot["height"] > 300, (name, plot)
    from matplotlib.image import imread

    pixels = imread(io.BytesIO(png), format="png")
    non_white = (pixels[..., :3].min(axis=-1) < 0.9).mean()
    assert pixels.shape[0] > 500 and non_white > 0.02, f"screenshot looks blank ({non_white:.3%} non-white)"


def test_promotion_run_marks_promoted_recs(tmp_path: Path) -> None:
    """ASHA in promotion mode on the built-in demo network: promoted recs resume their parent's checkpoint."""
    from tao_automl.bank import builtin_skill_dir

    result = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), builtin_skill_dir("demo-digits-mlp")).run(
        train_dataset_uri="builtin:digits",
        automl_settings={"algorithm": "asha", "metric": "val_loss", "automl_max_epochs": 3,
                         "automl_reduction_factor": 3, "automl_max_recommendations": 5, "automl_max_concurrent": 2,
                         "poll_interval_s": 0.5, "seed": 1},
        workspace_path=tmp_path / "ws", gpu_count=0)
    data = load_run(result["run_dir"])
    promoted = data.promoted()
    assert promoted, "no rec was promoted"
    out = tmp_path / "r.html"
    assert _cli("report", result["run_dir"], "-o", str(out)).returncode == 0
    text = out.read_text()
    for parent, children in promoted.items():
        assert f"rec {parent} (success, promoted to rec {', '.join(map(str, children))})" in text


def test_report_never_shows_a_secret_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tao_automl.report.data import RecView, RunData
    from tao_automl.report.html import write_html_report

    monkeypatch.setenv("LEPTON_API_TOKEN", "tok-0123456789abcdef")
    rec = RecView(rec_id=1, params={"lr": 0.1}, status="failure", metric=None, job_id="j1", budget=None, rung=None,
                  bracket=None, parent=None, created_at=0.0, submitted_at=0.0, finished_at=1.0, spec_path=None,
                  message="auth failed with tok-0123456789abcdef")
    data = RunData(run_dir=tmp_path, meta={"experiment_id": "run_x", "metric": "loss", "direction": "minimize",
                                           "settings": {"metric": "loss"},
                                           "run_args": {"platform_kwargs": {"token": "tok-0123456789abcdef"}}},
                   recs=[rec])
    text = write_html_report(data, tmp_path / "r.html").read_text()
    assert "tok-0123456789abcdef" not in text and "auth failed with" in text


def test_a_single_fidelity_reports_epochs_column_shows_each_recs_epochs_like_status(
        tmp_path: Path, toy_skill: Path) -> None:
    """The report's epochs column was "-" for every rec of a single-fidelity run while status showed the rec's
    epochs (here 1: the toy trainer's status.json reports epoch 1 whatever the spec's num_epochs, 3, asks)."""
    from tao_automl.cli.text_report import ranked_table
    from tao_automl.report.html import write_html_report
    from tao_automl.status import query_status

    result = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), toy_skill).run(
        automl_settings={"algorithm": "random", "metric": "val_loss", "automl_max_recommendations": 2,
                         "automl_max_concurrent": 2, "poll_interval_s": 0.2, "seed": 0},
        spec_overrides={"train.num_epochs": 3}, workspace_path=tmp_path / "ws", gpu_count=0)
    status_epochs = {line.split()[1]: line.split()[4]
                     for line in ranked_table(query_status(result["run_dir"])).splitlines()[2:4]}
    assert status_epochs == {"1": "1", "2": "1"}
    text = write_html_report(load_run(result["run_dir"]), tmp_path / "r.html").read_text()
    for rec_id in (1, 2):
        row = re.search(rf"<tr[^>]*data-rec={rec_id}>(.*?)</tr>", text)
        assert row is not None
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(1))
        assert cells[1] == str(rec_id) and cells[4] == "1", cells


def test_a_single_fidelity_run_is_ranked_by_its_metric_as_status_ranks_it(tmp_path: Path) -> None:
    """A random run whose trainer stops some recs itself (after epoch 1 of 3, with a worse loss): those recs' epochs
    are recorded, and the report ranked every one of them above the recs that trained all 3 epochs (a budget
    ranking, which status applies to multi-fidelity runs only), so its best was a worse rec than status's and the
    run's result named; it said "ranked by budget reached, then metric". It now ranks by the metric, as status."""
    from tao_automl.status import query_status

    trainer = textwrap.dedent(
        """
        import json, os, sys, yaml
        spec = yaml.safe_load(open(sys.argv[sys.argv.index("-e") + 1]))
        os.makedirs(spec["results_dir"], exist_ok=True)
        t = spec["train"]
        early = t["optim"]["lr"] > 0.01  # a large lr: the trainer stops itself after epoch 1, with a worse loss
        for epoch in range(1, (1 if early else t["num_epochs"]) + 1):
            loss = (5.0 if early else 1.0) + t["layers"]
            with open(os.path.join(spec["results_dir"], "status.json"), "a") as f:
                f.write(json.dumps({"epoch": epoch, "kpi": {"val_loss": loss}}) + "\\n")
        """)
    skill = write_skill(tmp_path / "bank", trainer=trainer)
    result = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), skill).run(
        automl_settings={"algorithm": "random", "metric": "val_loss", "automl_max_recommendations": 6,
                         "automl_max_concurrent": 3, "poll_interval_s": 0.1, "seed": 0},
        spec_overrides={"train.num_epochs": 3}, workspace_path=tmp_path / "ws", gpu_count=0)
    stopped_early = {h["rec_id"] for h in result["history"] if h["params"]["train.optim.lr"] > 0.01}
    assert stopped_early and len(stopped_early) < 6, stopped_early  # both kinds of rec ran
    data = load_run(result["run_dir"])
    best = data.best()
    assert best is not None and best.rec_id == query_status(result["run_dir"])["best"]["rec_id"], best
    values = [r.metric for r in data.ranked() if r.metric is not None]
    assert values == sorted(values), [(r.rec_id, r.budget, r.metric) for r in data.ranked()]
    assert not data.is_multi_fidelity and data.best_so_far_label == "best so far"


def _every_rec_failed(workspace: Path) -> None:
    """An ask/tell run of 2 recs in ``workspace``, each reported failed, finished (it ends ``failed``)."""
    from tao_automl.automl import AutoML

    schema = {"properties": {"train": {"type": "collection", "properties": {
        "lr": {"type": "float", "default": 0.1, "minimum": 0.001, "maximum": 1.0}}}},
        "automl_default_parameters": ["train.lr"]}
    automl = AutoML(workspace=workspace, network="toy", search_schema=schema,
                    settings={"metric": "val_loss", "algorithm": "random", "automl_max_recommendations": 2})
    for rec in automl.next_recommendation():
        automl.report_result(rec.id, None, status="failure", message="diverged")
    automl.finish()


@pytest.mark.parametrize(("algorithm", "epochs"), [("random", 1), ("random", 2), ("asha", 3)])
def test_the_header_names_the_epochs_of_the_best_as_status_does(algorithm: str, epochs: int, tmp_path: Path) -> None:
    """The header's best says the epochs it was measured at, in the words status's `best:` line uses; no test read
    that line, and a single-fidelity run's header said no epochs at all while status said "at 1 epoch" (it read the
    trial's budget only). A tiny real sweep each way: its jobs train and report per epoch."""
    from tao_automl.report.html import _header

    settings = {"algorithm": algorithm, "metric": "val_loss", "seed": 3, "automl_max_recommendations": 2,
                "automl_max_concurrent": 2, "poll_interval_s": 0.1}
    overrides = {"train.num_epochs": epochs}  # asha sets each rec's epochs itself, from automl_max_epochs
    if algorithm == "asha":
        settings.update(automl_max_epochs=epochs, automl_reduction_factor=3, automl_max_recommendations=4)
        overrides = {}
    result = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), write_skill(tmp_path / "bank", trainer=TRAINER)).run(
        automl_settings=settings, workspace_path=tmp_path / "ws", gpu_count=0, spec_overrides=overrides)
    best = result["best"]
    reached = best["budget_reached"]  # asha: the rung its metric was measured at (1 or 3, as the jobs ran)
    assert reached == epochs or algorithm == "asha", best
    said = "at 1 epoch" if reached == 1 else f"at {reached} epochs"
    header = _header(load_run(result["run_dir"]))
    assert re.search(rf"best: <b>rec {best['rec_id']}: val_loss = [0-9.]+ {said}</b>", header), header
    status = _cli("status", result["run_dir"])
    line = next(x for x in status.stdout.splitlines() if x.startswith("best: "))
    assert line.startswith(f"best: rec {best['rec_id']} with val_loss = ") and line.endswith(f" {said}"), line


def test_a_finished_run_without_a_result_says_so_not_wait(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A run that ended with every rec failed: the header says none succeeded (not 'none yet'), and the PNG's error
    points at the failures instead of 'wait for a rec to finish'."""
    from tao_automl.cli.main import main
    from tao_automl.report.html import _header

    _every_rec_failed(tmp_path / "run")
    assert "best: <b>none (no rec succeeded)" in _header(load_run(tmp_path / "run"))
    assert main(["report", str(tmp_path / "run"), "--format", "png", "--json"]) == 1  # no result, as export --best
    error = json.loads(capsys.readouterr().out)["error"]
    assert "yet" not in error["message"] and "tao-automl status" in error["hint"]


def test_the_plots_of_an_ended_run_without_a_result_do_not_say_yet(tmp_path: Path) -> None:
    """Every rec failed and the run ended `failed`: the header said "none (no rec succeeded)" while each plot's section
    said "no finished rec with a metric yet", as if waiting would bring one."""
    from tao_automl.report.html import write_html_report

    _every_rec_failed(tmp_path / "run")
    data = load_run(tmp_path / "run")
    assert data.meta["state"] in ("finished", "failed")
    text = write_html_report(data, tmp_path / "r.html").read_text()
    empty = re.findall(r"<p class='muted empty' id=([a-z-]+)-empty>([^<]*)</p>", text)
    assert {div for div, _ in empty} >= {"convergence", "convergence-time", "parallel", "curves"}
    assert not [why for _, why in empty if "yet" in why], empty
    assert "the run has ended" in dict(empty)["convergence"]


def test_settings_the_algorithm_does_not_read_are_marked(tmp_path: Path) -> None:
    """hyperband_es always stops early: its run's stored default ``fidelity_mode: promotion`` is shown as not read
    (it read as if the run had promoted)."""
    from tao_automl.report.data import RunData
    from tao_automl.report.html import write_html_report

    data = RunData(run_dir=tmp_path, meta={"experiment_id": "run_x", "metric": "loss", "direction": "minimize",
                                           "algorithm": "hyperband_es",
                                           "settings": {"metric": "loss", "algorithm": "hyperband_es",
                                                        "fidelity_mode": "promotion", "automl_max_epochs": 9,
                                                        "automl_population_size": 8}},
                   recs=[])
    text = write_html_report(data, tmp_path / "r.html").read_text()
    assert "<td>automl_settings.fidelity_mode</td><td><pre>promotion (not read by hyperband_es)</pre>" in text
    assert "<td>automl_settings.automl_population_size</td><td><pre>8 (not read by hyperband_es)</pre>" in text
    assert "<td>automl_settings.automl_max_epochs</td><td><pre>9</pre>" in text


def _views(points: list[tuple[dict[str, Any], float]]) -> Any:
    from tao_automl.report.data import RecView, RunData

    recs = [RecView(rec_id=i + 1, params=params, status="success", metric=value, message=None, job_id=None,
                    budget=None, rung=None, bracket=None, parent=None, created_at=0.0, submitted_at=0.0,
                    finished_at=1.0, spec_path=None) for i, (params, value) in enumerate(points)]
    return RunData(run_dir=Path("/nonexistent"), meta={"metric": "val_loss", "direction": "minimize"}, recs=recs)


def test_importance_note_counts_the_recs_of_the_fullest_epoch() -> None:
    """A pbt run of 12 recs, 4 at each of epochs 3, 6 and 9 (each resumed rec's curve covers its own chunk): the note
    said "needs at least 5 finished recs with different values at one epoch; this run has 0"."""
    from tao_automl.report.data import RecView, RunData
    from tao_automl.report.html import _importance

    go = pytest.importorskip("plotly.graph_objects")
    recs = []
    for i in range(12):
        budget = 3 * (i // 4 + 1)
        recs.append(RecView(rec_id=i + 1, params={"lr": 0.01 * (i + 1)}, status="success", metric=0.1 * i,
                            message=None, job_id=None, budget=budget, rung=i // 4, bracket=i % 4,
                            parent=None if i < 4 else i - 3, created_at=0.0, submitted_at=0.0, finished_at=1.0,
                            spec_path=None, epochs=[(e, 0.1 * i + e) for e in range(budget - 2, budget + 1)],
                            budget_reached=budget, trial_budget=budget))
    data = RunData(run_dir=Path("/nonexistent"), meta={"metric": "val_acc", "direction": "maximize"}, recs=recs)
    figure, note = _importance(go, data)
    assert figure is None
    assert note == ("needs at least 5 finished recs with different values at one epoch; this run has at most 4 at "
                    "one epoch")


def test_importance_says_whether_the_params_predict_the_metric_at_all() -> None:
    """The forest fits its recs whatever they hold, so shares drawn from pure noise looked as confident as real
    ones. The note now gives the forest's out-of-bag R²: high when a param drives the metric, <= 0 (with a warning
    that the shares say little) when nothing does."""
    pytest.importorskip("sklearn")
    import numpy as np

    from tao_automl.report.html import fit_note
    from tao_automl.report.importance import param_importance

    rng = np.random.default_rng(0)
    configs = [{"lr": float(rng.uniform(-4, 0)), "wd": float(rng.uniform(0, 1)), "depth": int(rng.integers(1, 9))}
               for _ in range(24)]
    driven = param_importance(_views([(c, (c["lr"] + 2) ** 2) for c in configs]))
    assert next(iter(driven.shares)) == "lr" and driven.oob_r2 is not None and driven.oob_r2 > 0.5
    assert fit_note(driven.oob_r2).startswith(f"Out-of-bag R² {driven.oob_r2:.2f}: how much")
    noise = param_importance(_views([(c, float(rng.normal())) for c in configs]))
    assert noise.shares and noise.oob_r2 is not None and noise.oob_r2 <= 0
    assert "say little about what matters" in fit_note(noise.oob_r2)


def test_a_constant_metric_says_so_and_auto_names_its_pick_and_the_curve_its_order() -> None:
    """A metric equal on all 8 recs: "needs at least 5 finished recs with different values; this run has 8". The
    header said `algorithm auto` with the pick nowhere in the report; the "by rec number" curve was in finish order."""
    from tao_automl.report.html import _algorithm_text, _importance

    go = pytest.importorskip("plotly.graph_objects")
    figure, note = _importance(go, _views([({"lr": 0.1 * i, "wd": 0.01 * i}, 0.5) for i in range(1, 9)]))
    assert figure is None and note.startswith("every one of the 8 finished recs has the same val_loss (0.5)")
    assert _algorithm_text({"algorithm": "auto", "algorithm_choice": {"algorithm": "bayesian", "reason": "numeric"}}) \
        == "auto, which picked bayesian: numeric"
    assert _algorithm_text({"algorithm": "tpe"}) == "tpe"


def _many(n: int) -> Any:
    """``n`` recs with 4-epoch curves (val_loss driven by lr), every 7th stopped after 2 epochs, every 11th with one
    epoch; rec 2 continued from rec 1's checkpoint (so the best, rec 2, has a chain)."""
    from tao_automl.report.data import RecView, RunData

    recs = []
    for i in range(1, n + 1):
        lr = 0.001 * ((i * 37) % 101 + 1)
        final = {1: 5.0, 2: -1.0}.get(i, abs(lr - 0.05) + 0.001 * i)  # rec 1 poor, rec 2 (its promotion) best
        stopped, single = i % 7 == 0, i % 11 == 0
        last = 1 if single else 2 if stopped else 4
        recs.append(RecView(rec_id=i, params={"lr": lr, "wd": 0.01 * (i % 5)}, status="stopped" if stopped else
                            "success", metric=final, message=None, job_id=None, budget=None, rung=None, bracket=None,
                            parent=1 if i == 2 else None, created_at=0.0, submitted_at=0.0, finished_at=float(i),
                            spec_path=None, epochs=[(e, final + 1.0 / e - 1.0 / last) for e in range(1, last + 1)]))
    return RunData(run_dir=Path("/nonexistent"), meta={"metric": "val_loss", "direction": "minimize"}, recs=recs)


def test_the_report_is_one_file_that_fetches_nothing(tmp_path: Path) -> None:
    """README: `report` writes "one self-contained HTML file (...; opens with no network)": plotly's script is inlined,
    and no tag loads a script, style sheet, image or frame from elsewhere."""
    pytest.importorskip("sklearn")
    from tao_automl.report.html import write_html_report

    readme_says(r"one self-contained HTML file \(extra `report`; opens with no network\)")
    text = write_html_report(_many(5), tmp_path / "r.html").read_text()
    tags = re.findall(r"<(?:script|link|img|iframe|source|embed|object)\b[^>]*>", text, re.I)
    assert tags and not [t for t in tags if re.search(r"\b(?:src|href|data)\s*=", t, re.I)], tags
    assert "Plotly.newPlot" in text and len(text) > 1_000_000  # the library itself is in the file
    assert list(tmp_path.iterdir()) == [tmp_path / "r.html"]


def test_the_reports_shipped_limits_are_the_readmes() -> None:
    """README: "past 50 recs with a curve the 20 best and their chains are named, ...; past 2,000 recs the importance
    uses 2,000 drawn at random". The tests around pass their own limits; these are the ones a report uses."""
    from tao_automl.report.html import ALL_CURVES_UP_TO, BEST_CURVES
    from tao_automl.report.importance import MAX_RECS

    curves, best, past, used = readme_says(r"past (\d+) recs with a curve the (\d+) best and their chains are named, "
                                           r"the rest drawn in grey; past ([\d,]+) recs the importance uses ([\d,]+) "
                                           r"drawn at random")
    assert (int(curves), int(best)) == (ALL_CURVES_UP_TO, BEST_CURVES)
    assert MAX_RECS == int(past.replace(",", "")) == int(used.replace(",", ""))


def test_importance_of_a_long_run_fits_a_random_draw_of_recs_and_says_so() -> None:
    """Issue 14: the forest and its shuffles on all 10,000 recs of a long sweep took ~19 s of the report. Beyond
    ``max_recs`` points the forest is fitted on that many drawn at random (fixed seed): the same numbers as a forest
    fitted on exactly those recs, and the note says "of N of M recs, drawn at random". Small runs are unchanged."""
    pytest.importorskip("sklearn")
    from tao_automl.report.data import RunData
    from tao_automl.report.html import _importance
    from tao_automl.report.importance import param_importance, subsample

    go = pytest.importorskip("plotly.graph_objects")
    data = _many(300)
    drawn = param_importance(data, max_recs=100)
    assert drawn.drawn == (100, 300) and next(iter(drawn.shares)) == "lr"
    chosen = subsample(300, 100)
    assert chosen is not None and len(set(chosen)) == 100 and chosen == sorted(chosen) == subsample(300, 100)
    alone = param_importance(RunData(run_dir=data.run_dir, meta=data.meta, recs=[data.recs[i] for i in chosen]))
    assert alone.drawn is None and (alone.shares, alone.oob_r2) == (drawn.shares, drawn.oob_r2)
    figure, note = _importance(go, data, max_recs=100)
    assert figure is not None and "on the val_loss of 100 of 300 recs, drawn at random with a fixed seed" in note
    figure, note = _importance(go, data)  # under the cap: every rec, the note as before
    assert figure is not None and "on 300 recs' val_loss: how much" in note and "drawn at random" not in note


def test_curves_of_many_recs_name_the_best_and_their_chains_and_draw_the_rest_in_grey() -> None:
    """Issue 14: one plotly trace per rec (10,004 for a 10,000-rec run) took ~11 s, most of the file, and made a
    legend no one can read. Past ``all_up_to`` recs with a curve, the ``best`` best-ranked recs and the recs their
    checkpoints continued from keep their own named traces; every other curve is still drawn, in grey, as a few
    traces with gaps between recs, and a note says so. Up to ``all_up_to``: one trace per rec, no note."""
    from tao_automl.report.html import _curves

    go = pytest.importorskip("plotly.graph_objects")
    data = _many(300)
    figure, note = _curves(go, data, all_up_to=50, best=5)
    best = [r.rec_id for r in data.ranked()][:5]
    named = [t for t in figure.data if t.name.startswith("rec ")]
    # rec 1: the checkpoint rec 2 (the best) continued from, poor itself
    assert 1 not in best and [int(t.name.split()[1]) for t in named] == sorted([*best, 1])
    assert 2 in best and "rec 1 (success, promoted to rec 2)" in {t.name for t in named}
    grey = [t for t in figure.data if not t.name.startswith("rec ")]
    stopped = sum(1 for r in data.recs if r.status == "stopped" and r.rec_id not in {*best, 1})
    assert len(grey) == 4 and {t.name for t in grey if t.showlegend} == {f"{294 - stopped} other recs",
                                                                         f"{stopped} other stopped recs"}
    drawn = [(rec_id, x, y) for t in grey for rec_id, x, y in zip(t.customdata, t.x, t.y, strict=True) if rec_id]
    assert {rec_id for rec_id, _, _ in drawn} == {r.rec_id for r in data.recs} - {*best, 1}  # every other curve
    assert len(drawn) == sum(len(r.epochs) for r in data.recs if r.rec_id not in {*best, 1})
    assert all(y == pytest.approx(dict(data.rec(rec_id).epochs)[x], rel=1e-5) for rec_id, x, y in drawn)
    lines = [t for t in grey if t.mode == "lines"]  # a gap after each rec's curve: no line joins two recs
    assert lines and all(t.connectgaps is False and t.y.count(None) == len(set(t.customdata) - {None}) for t in lines)
    assert note == ("300 recs have a curve: the 5 best (as ranked in the table) and the 1 recs whose checkpoints "
                    "they continued from are drawn in colour and named in the legend; the other 294 are drawn in grey "
                    "(dotted or x: stopped), hover names each point's rec.")
    figure, note = _curves(go, _many(50), all_up_to=50, best=5)
    assert note == "" and [t.name for t in figure.data][:2] == ["rec 1 (success, promoted to rec 2)",
                                                                "rec 2 (success)"] and len(figure.data) == 50


def test_a_plot_never_hovers_a_whole_number_a_value_is_not() -> None:
    """A val_accuracy of 0.9999996 hovered ``1`` (a score no rec reached) in every plot: the grey curves (past
    ``all_up_to`` recs) carried each value as float(f"{v:.6g}"), and plotly's own hover format rounds any value to 4
    decimals past its magnitude (its bundled code: ``_tickround + 4``). Plots now carry a metric with the table's
    digits (6, more where those read as a whole number it is not) and hover it with up to 15 digits (d3 ``~g``,
    which drops trailing zeros as Python's ``g`` does)."""
    import dataclasses

    from tao_automl.report.html import HOVER_FORMAT, _convergence, _curves, _pareto

    go = pytest.importorskip("plotly.graph_objects")
    assert HOVER_FORMAT == ".15~g"
    data = _many(60)
    data.recs[-1] = dataclasses.replace(data.recs[-1], epochs=[(1, 0.9999996), (2, 0.123456789)])  # a grey curve
    data.recs[1] = dataclasses.replace(data.recs[1], epochs=[(1, 0.9999996)])  # rec 2, the best: a named curve
    data.recs[2] = dataclasses.replace(data.recs[2], metric=0.9999996)
    figure, _ = _curves(go, data, all_up_to=50, best=5)
    assert figure.layout.yaxis.hoverformat == HOVER_FORMAT
    drawn = {(rec_id, x): y for t in figure.data if not t.name.startswith("rec ")
             for rec_id, x, y in zip(t.customdata, t.x, t.y, strict=True) if rec_id}
    assert drawn[(60, 1)] == 0.9999996 and drawn[(60, 2)] == 0.123457
    named = next(t for t in figure.data if t.name.startswith("rec 2 "))
    assert [format(y, ".15g") for y in named.y] == ["0.9999996"]
    converged = _convergence(go, data, by_time=False)
    assert converged.layout.yaxis.hoverformat == HOVER_FORMAT and 0.9999996 in converged.data[0].y
    # the Pareto plot of a two-metric run: both axes carry and hover a metric so (its hover format was unchecked)
    accuracy = {1: 0.9999996, 2: 0.99, 3: 0.98}
    two = [dataclasses.replace(rec, values={"val_accuracy": accuracy[rec.rec_id], "model_size": 2.0 * rec.rec_id})
           for rec in _many(3).recs]
    front = {"objectives": [{"name": "val_accuracy"}, {"name": "model_size"}], "best_rec_id": 1,
             "pareto_front": [{"rec_id": r.rec_id} for r in two]}
    pareto, _ = _pareto(go, dataclasses.replace(data, recs=two, front=front))
    assert pareto.layout.xaxis.hoverformat == pareto.layout.yaxis.hoverformat == HOVER_FORMAT
    assert list(pareto.data[-1].x) == [0.9999996], pareto.data[-1]  # the pick, rec 1


def test_a_report_of_more_than_50_curves_draws_a_bounded_number_of_traces_and_says_which(tmp_path: Path) -> None:
    """The whole report with the shipped limits: 60 recs with curves (over ``ALL_CURVES_UP_TO``) gave 60 named traces;
    now the 20 best, rec 1 (rec 2's checkpoint) and the grey rest in 3 traces, with the note. The table keeps every
    rec and the importance (60 recs, under its cap) every rec."""
    pytest.importorskip("sklearn")
    from tao_automl.report.html import write_html_report

    text = write_html_report(_many(60), tmp_path / "r.html").read_text()
    curves = text[text.index("<h2>Learning curves</h2>"):text.index("<h2>Failures</h2>")]
    assert curves.count('"name":"rec ') == 20 + 1  # named traces (60 before)
    assert curves.count('"legendgroup":"other ') == 3  # grey: ended lines and markers, stopped lines (none before)
    assert "60 recs have a curve: the 20 best (as ranked in the table) and the 1 recs whose checkpoints" in curves
    assert len(re.findall(r"<tr[^>]*data-rec=", text)) == 60
    assert "on 60 recs&#x27; val_loss: how much" in text


def _three_epoch_run(tmp_path: Path, trainer: str) -> dict[str, Any]:
    """One rec of ``trainer`` for 3 epochs (random search, its OOM corner off): the runner's result."""
    skill = write_skill(tmp_path / "bank", trainer=trainer)
    return AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), skill).run(
        automl_settings={"algorithm": "random", "metric": "val_loss", "seed": 1, "automl_max_recommendations": 1,
                         "poll_interval_s": 0.1},
        custom_param_ranges={"train.flag": {"valid_options": [False]}},
        spec_overrides={"train.num_epochs": 3}, workspace_path=tmp_path / "ws", gpu_count=0)


def test_curves_are_read_from_the_status_json_a_folder_down_like_the_recs_metric(tmp_path: Path) -> None:
    """A job writing TAO's ``RESULTS_DIR/train/status.json`` got its metric read from there, but the report's
    learning curve looked only at ``RESULTS_DIR/status.json`` and showed no epochs; the Optuna export's intermediate
    values (`tao-automl export --optuna`) still did after the report was fixed: both read it now."""
    from tao_automl.export.run_data import load_run as export_run

    trainer = TRAINER.replace('os.path.join(spec["results_dir"], "status.json")',
                              'os.path.join(spec["results_dir"], "train", "status.json")').replace(
        'os.makedirs(spec["results_dir"], exist_ok=True)',
        'os.makedirs(os.path.join(spec["results_dir"], "train"), exist_ok=True)')
    result = _three_epoch_run(tmp_path, trainer)
    assert result["history"][0]["status"] == "success", result["history"]
    (rec,) = load_run(result["run_dir"]).recs
    assert [epoch for epoch, _ in rec.epochs] == [1, 2, 3]
    assert rec.epochs[-1][1] == pytest.approx(rec.metric)
    assert sorted(export_run(result["run_dir"]).epochs.get(rec.rec_id, {}).items()) == rec.epochs


def test_curves_of_a_job_run_again_in_its_folder_are_the_last_run_s_as_its_metric_is(tmp_path: Path) -> None:
    """A job run again in the same results folder (a pod restarted) appends its epochs from 1 after the first run's
    lines; the runner takes the metric and the epochs reached from the last run, but the report's curve and the
    Optuna export's intermediate values kept the first run's later epochs (4 and 5 here) after the rerun's 1-3."""
    from tao_automl.export.run_data import load_run as export_run

    trainer = TRAINER.replace('for epoch in range(1, t["num_epochs"] + 1):',
                              'with open(os.path.join(spec["results_dir"], "status.json"), "a") as f:\n'
                              '    for epoch in range(1, 6):  # the run a restart cut short\n'
                              '        f.write(json.dumps({"epoch": epoch, "kpi": {"val_loss": 9.0}}) + "\\n")\n'
                              'for epoch in range(1, t["num_epochs"] + 1):')
    assert trainer != TRAINER
    result = _three_epoch_run(tmp_path, trainer)
    (h,) = result["history"]
    assert h["status"] == "success" and h["metric_value"] != 9.0, h
    (rec,) = load_run(result["run_dir"]).recs
    assert [epoch for epoch, _ in rec.epochs] == [1, 2, 3] and 9.0 not in [v for _, v in rec.epochs], rec.epochs
    assert rec.epochs[-1][1] == pytest.approx(rec.metric)
    assert sorted(export_run(result["run_dir"]).epochs.get(rec.rec_id, {}).items()) == rec.epochs


def test_a_run_whose_jobs_wrote_no_epochs_says_why_it_has_no_curves_not_that_no_rec_finished(tmp_path: Path) -> None:
    """Five recs succeeded with a val_loss read from their logs, none wrote a per-epoch status.json: the Learning
    curves section said "no finished rec with a metric yet", beside a table of five ranked results."""
    from tao_automl.report.html import write_html_report

    data = _views([({"lr": 0.1 * i}, 0.5 + i) for i in range(1, 6)])
    text = write_html_report(data, tmp_path / "r.html").read_text()
    curves = text[text.index("<h2>Learning curves</h2>"):text.index("<h2>Failures</h2>")]
    assert "no finished rec with a metric yet" not in curves
    assert "no rec reported val_loss per epoch" in curves and "status.json" in curves
    assert len(re.findall(r"<tr[^>]*data-rec=", text)) == 5


def test_the_ranked_table_shows_enough_digits_to_tell_different_metrics_apart(tmp_path: Path) -> None:
    """val_acc 0.91234574, 0.91234571 and 0.91234567 (ranks 1, 2, 3) all read 0.912346 in the report's table, while
    `status` told them apart: three different results looked tied."""
    from tao_automl.report.html import write_html_report

    data = _views([({"lr": 0.1}, 0.91234567), ({"lr": 0.2}, 0.91234571), ({"lr": 0.3}, 0.5),
                   ({"lr": 0.4}, 0.91234574), ({"lr": 0.5}, 0.5)])
    text = write_html_report(data, tmp_path / "r.html").read_text()
    table = text[text.index("<table id=ranked>"):text.index("</table>", text.index("<table id=ranked>"))]
    shown = re.findall(r"<tr[^>]*data-rec=(\d+)><td class=num>\d+</td><td class=num>\d+</td><td>success</td>"
                       r"<td class=num>([^<]*)</td>", table)
    assert [int(rec) for rec, _ in shown] == [3, 5, 1, 2, 4]  # minimised (_views' direction)
    texts = [value for _, value in shown]
    assert texts[0] == texts[1] == "0.5"  # a tie stays a tie
    assert len(set(texts[2:])) == 3 and [float(t) for t in texts[2:]] == [0.91234567, 0.91234571, 0.91234574]


EARLY_STOP_TRAINER = textwrap.dedent(
    """
    import json, os, sys, yaml
    spec = yaml.safe_load(open(sys.argv[sys.argv.index("-e") + 1]))
    os.makedirs(spec["results_dir"], exist_ok=True)
    t = spec["train"]
    # the trainer's own early stopping: layers 1 stops after its first epoch, at a worse value
    for epoch in range(1, (1 if t["layers"] == 1 else t["num_epochs"]) + 1):
        loss = 0.1 * t["layers"] + (5.0 if t["layers"] == 1 else 0.0) + 1.0 / epoch
        with open(os.path.join(spec["results_dir"], "status.json"), "a") as f:
            f.write(json.dumps({"epoch": epoch, "kpi": {"val_loss": loss}}) + "\\n")
    """
)


def test_a_single_fidelity_run_ranks_by_metric_though_a_rec_ended_early(tmp_path: Path) -> None:
    """A bayesian/random run (no epoch budgets) in which one job stopped after 1 of its 3 epochs by its own early
    stopping: `status` ranks by metric (`ranked_by: metric`) and names the best, while the report ranked the early
    rec first and marked it best (it ranked by epochs reached, as for a multi-fidelity run), with the worst value."""
    from tao_automl import query_status
    from tao_automl.report.html import write_html_report

    skill = write_skill(tmp_path / "bank", trainer=EARLY_STOP_TRAINER)
    result = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), skill).run(
        automl_settings={"algorithm": "random", "metric": "val_loss", "seed": 1, "automl_max_recommendations": 4,
                         "automl_max_concurrent": 2, "poll_interval_s": 0.1},
        automl_hyperparameters=["train.layers"], custom_param_ranges={"train.layers": {"valid_min": 1, "valid_max": 2}},
        spec_overrides={"train.num_epochs": 3}, workspace_path=tmp_path / "ws", gpu_count=0)
    run_dir = Path(result["run_dir"])
    early = [h["rec_id"] for h in result["history"] if h["params"]["train.layers"] == 1]
    assert early and len(early) < 4 and all(h["status"] == "success" for h in result["history"])
    status = query_status(run_dir, recs="all")
    assert status["progress"]["ranked_by"] == "metric"
    by_rank = [r["rec_id"] for r in sorted(status["recommendations"], key=lambda r: r["rank"])]
    data = load_run(run_dir)
    assert not data.is_multi_fidelity
    assert [r.rec_id for r in data.ranked()] == by_rank
    assert set(by_rank[-len(early):]) == set(early)  # the worst val_loss ranks last, though it trained fewer epochs
    best = data.best()
    assert best is not None and best.rec_id == status["best"]["rec_id"] != early[0]
    text = write_html_report(data, tmp_path / "r.html").read_text()
    assert f"<tr class=best data-rec={status['best']['rec_id']}>" in text
    assert data.convergence()[-1][1] == status["best"]["metric_value"]


def test_report_shows_a_rec_whose_job_ended_as_status_does(tmp_path: Path) -> None:
    """After `stop --cancel-jobs` on a killed run, status showed its recs `ended_uncollected` (their jobs ended, the
    results wait for resume) while the report said "2 of 3 recs (2 running)" and listed both `running`."""
    from tao_automl.experiment.store import RunStore
    from tao_automl.report.html import write_html_report

    run_dir = tmp_path / "ws" / "run_1"
    killed_run_whose_jobs_ended(run_dir, ended=(1, 2), budget=3)
    data = load_run(run_dir)
    assert [r.status for r in data.recs] == ["ended_uncollected"] * 2
    out = tmp_path / "report.html"
    write_html_report(data, out)
    page = out.read_text()
    assert "(2 ended_uncollected)" in page and "(2 running)" not in page
    assert [r.status for r in RunStore(run_dir, readonly=True).recs()] == ["running", "running"]  # nothing written


def test_report_shows_a_killed_run_interrupted_as_status_does(tmp_path: Path) -> None:
    """kill -9 of a run's orchestrator leaves the store saying `running`; status shows the run `interrupted` (no
    process holds its lock), but the report said "state running" and "best: none yet" as if it went on."""
    from tao_automl.experiment.store import RunStore
    from tao_automl.report.html import write_html_report
    from tao_automl.status import query_status

    run_dir = tmp_path / "ws" / "run_1"
    killed_run_mid_job(run_dir)
    assert query_status(run_dir)["progress"]["state"] == "interrupted"
    data = load_run(run_dir)
    assert data.meta["state"] == "interrupted"
    out = tmp_path / "report.html"
    write_html_report(data, out)
    page = out.read_text()
    assert "state <b>interrupted</b>" in page and "none yet" not in page
    assert RunStore(run_dir, readonly=True).meta()["state"] == "running"  # the report wrote nothing


def test_png_of_a_run_whose_jobs_ended_uncollected_does_not_say_no_rec_finished(tmp_path: Path) -> None:
    """status showed both recs ended_uncollected (their jobs ended, their results wait for a resume); `report --format
    png` said the run was "interrupted before any rec finished"."""
    run_dir = tmp_path / "ws" / "run_1"
    killed_run_whose_jobs_ended(run_dir, ended=(1, 2), budget=2)
    proc = _cli("report", str(run_dir), "--format", "png", "--json")
    assert proc.returncode == 1, proc.stdout
    hint = json.loads(proc.stdout)["error"]["hint"]
    assert "before any rec finished" not in hint
    assert "2 rec(s) ended whose result is not collected yet" in hint and "resume" in hint


def test_a_report_to_a_pipe_or_device_is_written_into_it_not_put_in_its_place(run_dir: Path, tmp_path: Path) -> None:
    """``report -o /dev/null`` renamed the page onto the path: as root a regular file took ``/dev/null``'s place. A
    FIFO stands in for the device."""
    pipe = FifoReader(tmp_path / "pipe.html")
    proc = _cli("report", str(run_dir), "-o", str(pipe.path))
    assert proc.returncode == 0, proc.stderr
    assert pipe.unchanged(), "the pipe was replaced by a file or made user-only"
    page = pipe.received()
    assert page is not None and page.startswith(b"<!DOCTYPE html>") and page.endswith(b"</html>")
