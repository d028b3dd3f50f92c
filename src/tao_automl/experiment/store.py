"""The run's durable state: one SQLite database in WAL mode under the run folder.

Every change is one transaction that updates the ``recs`` table and appends to the ``events``
journal, committed before the caller acts on it. Lookups go through indexes (rec id,
``events(kind, rec_id)``, ``recs(status, metric_value)``), so no per-rec read grows with the run's length. Readers
(:func:`tao_automl.status.query_status`) open the file read-only; WAL lets them read a consistent
snapshot while the runner writes, without blocking it.
"""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import time
from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping, Sequence
from enum import Enum

from tao_automl.errors import WorkspaceError
from tao_automl.util.private import private_file
from tao_automl.util.secrets import Redactor

TYPE_CHECKING = False  # typing and pathlib stay out of `tao-automl status`'s start-up
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any, NamedTuple

DB_NAME = "state.db"
#: The name prefix of a run folder being set up (published under its name without it): not a run yet.
STAGING_PREFIX = ".staging-"
#: The format of the run store this code reads and writes, kept in state.db's header (``PRAGMA user_version``): written
#: when a store is created, checked on every open. A store of a newer format (made by a newer tao-run-automl) is refused
#: untouched; one of format 0 (made before the marker) is read as it is, and on a writable open gets its missing columns
#: first and its format after. Bump it with any change that older code would misread.
STORE_FORMAT = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS recs (
    rec_id INTEGER PRIMARY KEY,
    params TEXT NOT NULL,
    specs TEXT NOT NULL,
    status TEXT NOT NULL,
    job_name TEXT,
    job_id TEXT,
    results_dir TEXT,
    metric_value REAL,
    message TEXT,
    trial TEXT,
    created_at REAL NOT NULL,
    submitted_at REAL,
    finished_at REAL,
    updated_at REAL NOT NULL,
    spec_path TEXT,
    budget INTEGER,
    budget_reached INTEGER
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    rec_id INTEGER,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL
);
"""

#: Event kind: a cancel (``stop --cancel-jobs``, or the runner's own when it stops a sweep) found a rec's job already
#: ended, and its result waits for ``resume`` to collect it.
JOB_ENDED_UNCOLLECTED = "job_ended_uncollected"
#: Event kind: ``stop --cancel-jobs`` is about to cancel a rec's job (payload: ``job_id``, ``message``), recorded before
#: the cancel, so a resume that finds the job cancelled (the stop was killed before it recorded the rec's end) says
#: who cancelled it instead of blaming someone outside the sweep.
CANCEL_DECIDED = "cancel_decided"
#: The message of a rec cancelled by ``stop --cancel-jobs``.
STOP_CANCEL_MESSAGE = "cancelled: `tao-automl stop --cancel-jobs`"
#: Meta key: the ``stop --cancel-jobs`` that is cancelling the run's in-flight jobs, as ``{"pid", "host", "at"}``:
#: committed before it signals the orchestrator, null once it is done (with an event of that name each time). A stop
#: killed on the way leaves it naming a process that no longer runs, which every view ignores
#: (:func:`tao_automl.experiment.holder.cancelling_jobs`): its jobs may run on.
CANCEL_JOBS_ASKED = "cancel_jobs_asked"
#: Meta key: true when the sweep stopped on a failure cause that `resume` cannot fix (its metric, a job time limit,
#: diverging values: ``runner.failures.needs_new_run``); status and stop then point at a new run, not a resume.
NEW_RUN_NEEDED = "new_run_needed"
#: Meta key: true when the sweep ended before its budget because its brain proposed no more recs (autoresearch after
#: failed recs in a row, a schedule that is over): a resume ends it the same way, so no view offers one.
ENDED_EARLY = "ended_early"
#: How the stop reason of such a sweep starts (``Experiment.record_ended_early``): a run folder older than
#: :data:`ENDED_EARLY` says it this way alone.
ENDED_EARLY_REASON = "the sweep ended after "
#: The event of a job the platform keeps queued, with its reason (``status`` shows the latest while it waits).
JOB_PENDING = "job_pending"
#: Meta key: seconds no orchestrator ran the sweep (from each end or last recorded activity to the resume after it);
#: ``elapsed_s`` and the ETA leave them out.
PAUSED_KEY = "paused_s"
#: Meta key: the run's failed tracker calls, summed over every process that ran it (an orchestrator, its resumes, an
#: ask/tell process, ``stop --cancel-jobs``): a list of ``{"tracker", "count", "first"}`` (a list, not a mapping by
#: tracker, so that a tracker whose name reads like a secret is not redacted away); read it with
#: :func:`tracking_errors_of`.
TRACKING_ERRORS = "tracking_errors"
#: Meta key: the tao-run-automl version that created the run (absent in runs made before it was recorded).
CREATED_BY = "created_by"
#: Meta key: each version that took the run over (its first reopening, by a resume, an ask/tell reopen or the
#: orchestrator of ``run --detach``, after another version ran it), oldest first: ``{"version", "at"}``.
RESUMED_BY = "resumed_by"
#: Event kind: a tracker's first failure in one process (at most one per tracker and process), with that failure.
TRACKER_FAILED = "tracker_failed"


class RecStatus(str, Enum):
    """A rec's state: ``created`` before its job exists, ``pending``/``running`` while it runs, then final."""

    CREATED = "created"
    PENDING = "pending"
    RUNNING = "running"
    SUCCESS = "success"
    FAILURE = "failure"
    CANCELLED = "cancelled"
    STOPPED = "stopped"

    @property
    def is_final(self) -> bool:
        """True once the rec has its result (or its failure): nothing about it changes any more."""
        return self in FINAL_STATES

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


#: Rec states before a job exists, while it runs, and after it ended.
UNSUBMITTED = RecStatus.CREATED
ACTIVE_STATES = (RecStatus.PENDING, RecStatus.RUNNING)
FINAL_STATES = (RecStatus.SUCCESS, RecStatus.FAILURE, RecStatus.CANCELLED, RecStatus.STOPPED)
#: Indexes on what is looked up (created after the added columns exist, so older run folders get them too).
_INDEXES = """
CREATE INDEX IF NOT EXISTS events_kind_rec ON events (kind, rec_id);
CREATE INDEX IF NOT EXISTS recs_status_metric ON recs (status, metric_value);
"""
#: Meta key: whether some trial carries an epoch budget (recs are then ranked by the budget reached first).
MULTI_FIDELITY_KEY = "multi_fidelity"
#: Recs whose metric is ranked (a stopped rec keeps the value it reached) and the SQL that selects them.
RANKED_STATES = (RecStatus.SUCCESS, RecStatus.STOPPED)
#: The largest count SQLite's ``LIMIT``/``OFFSET`` take (a 64-bit integer); a larger one binds as an OverflowError.
_SQL_MAX_COUNT = 2**63 - 1


def _sql_count(count: int | None) -> int:
    """``count`` as a ``LIMIT``/``OFFSET`` value: -1 (no limit) for None; a count past what SQLite takes (a
    ``status --limit 99999999999999999999``) means the same as its largest, which no run reaches."""
    return -1 if count is None else min(count, _SQL_MAX_COUNT)


_RANKABLE = "status IN ('success', 'stopped') AND metric_value > -9e999 AND metric_value < 9e999"
#: Columns added after the first release, with their SQL type (older run folders get them on a writable open).
_ADDED_COLUMNS = {"spec_path": "TEXT", "budget": "INTEGER", "budget_reached": "INTEGER"}


if TYPE_CHECKING:
    class RecRow(NamedTuple):
        """One rec as persisted (a named tuple: cheap to import and to build; ``row._replace(...)`` for a copy)."""

        rec_id: int
        params: dict[str, Any]
        specs: dict[str, Any]
        status: RecStatus
        job_name: str | None
        job_id: str | None
        results_dir: str | None
        metric_value: float | None
        message: str | None
        trial: dict[str, Any] | None
        created_at: float
        submitted_at: float | None
        finished_at: float | None
        updated_at: float
        spec_path: str | None = None  # the spec file the job received (written when the rec is rendered)
        budget: int | None = None  # epochs the rendered spec asks for
        #: epochs its metric was measured at (stopped recs: fewer than budget); a failure's: the epochs it trained
        budget_reached: int | None = None
else:  # the same fields without typing.NamedTuple, whose import and per-field checks slow `status`'s start-up
    RecRow = namedtuple("RecRow", [
        "rec_id", "params", "specs", "status", "job_name", "job_id", "results_dir", "metric_value", "message",
        "trial", "created_at", "submitted_at", "finished_at", "updated_at", "spec_path", "budget", "budget_reached",
    ], defaults=(None, None, None))


_NUMBER = (int, float)
#: The meta keys every run writes when it is created (and a few written later), with the types the code writes for
#: each and their words; a key not listed here is read as it is.
_META_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "experiment_id": ((str,), "a text"), "run_dir": ((str,), "a path"), "created_at": (_NUMBER, "a time (a number)"),
    "ended_at": ((*_NUMBER, type(None)), "a time (a number) or null"), "algorithm": ((str,), "an algorithm name"),
    "metric": ((str, list), "a metric name or a list of them"),
    "direction": ((str, list), "minimize, maximize or a list of them"), "budget": ((int,), "a number of recs"),
    "settings": ((dict,), "a mapping of settings"), "space": ((list,), "a list of params, each a mapping with a name"),
    "base_spec": ((dict,), "a spec (a mapping)"), "state": ((str,), "a run state"), "mode": ((str,), "a text"),
    "run_args": ((dict,), "a mapping of run() arguments"), "platform": ((dict,), "a mapping"),
    CANCEL_JOBS_ASKED: ((dict, type(None)), "a mapping or null"),
}
#: The meta keys a run made by the runner (mode ``runner``) writes in the transaction that creates it.
_RUNNER_META = ("run_args", "platform")
_DIRECTIONS = ("minimize", "maximize")
#: The meta values whose items are checked too (a list's): what each of its values must be.
_META_ITEMS: dict[str, Callable[[Any], bool]] = {
    "metric": lambda v: isinstance(v, str) or all(isinstance(m, str) for m in v),
    "direction": lambda v: v in _DIRECTIONS if isinstance(v, str) else all(d in _DIRECTIONS for d in v),
    "space": lambda v: all(isinstance(p, dict) and isinstance(p.get("name"), str) for p in v),
}


def _meta_value(path: str, key: str, text: Any) -> Any:
    """Meta ``key``'s stored ``text`` decoded; a value that is not JSON, or not what the code writes for ``key``
    (:data:`_META_TYPES`, :data:`_META_ITEMS`), is a damaged store (:func:`damaged`) named by its key."""
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        raise damaged(path, f"meta {key!r} is not JSON: {_shown(text)}") from None
    expected, items = _META_TYPES.get(key), _META_ITEMS.get(key)
    if expected is not None and not (_of_type(value, expected[0]) and (items is None or items(value))):
        raise damaged(path, f"meta {key!r} holds {_shown(value)}, expected {expected[1]}")
    return value


def _of_type(value: Any, types: tuple[type, ...]) -> bool:
    """Whether ``value`` is one of ``types``, a bool counting as no number (JSON ``true`` is no count)."""
    return isinstance(value, types) and not (isinstance(value, bool) and bool not in types)


def _shown(value: Any) -> str:
    """``value`` for an error line: its repr, cut at 60 characters."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


#: The columns of a rec row after the JSON ones are decoded, with the types the code writes and their words.
_REC_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "params": ((dict,), "a mapping of params"), "specs": ((dict,), "a spec (a mapping)"),
    "trial": ((dict, type(None)), "a mapping or null"), "metric_value": ((*_NUMBER, type(None)), "a number or null"),
    "created_at": (_NUMBER, "a time (a number)"), "updated_at": (_NUMBER, "a time (a number)"),
    "submitted_at": ((*_NUMBER, type(None)), "a time (a number) or null"),
    "finished_at": ((*_NUMBER, type(None)), "a time (a number) or null"),
    "budget": ((int, type(None)), "a number of epochs or null"),
    "budget_reached": ((int, type(None)), "a number of epochs or null"),
    **{name: ((str, type(None)), "a text or null") for name in ("job_name", "job_id", "results_dir", "message",
                                                                 "spec_path")},
}


def _row(r: sqlite3.Row, path: str) -> RecRow:
    """Rec row ``r`` of the store at ``path``; a column holding what the code never writes (JSON that is not, an
    unknown status, a text for a time or a number) is a damaged store naming the rec and column (:func:`damaged`)."""
    keys = r.keys()
    values = {name: r[name] for name in keys}
    rec_id = values["rec_id"]
    for name in ("params", "specs", "trial"):
        text = values[name]
        if name == "trial" and not text:
            values[name] = None
            continue
        try:
            values[name] = json.loads(text)
        except (TypeError, ValueError):
            raise damaged(path, f"rec {rec_id}: {name} is not JSON: {_shown(text)}") from None
    for name, (types, words) in _REC_TYPES.items():
        if name in values and not _of_type(values[name], types):
            raise damaged(path, f"rec {rec_id}: {name} holds {_shown(values[name])}, expected {words}")
    try:
        status = RecStatus(values["status"])
    except ValueError:
        raise damaged(path, f"rec {rec_id}: status holds {_shown(values['status'])}, expected one of "
                            f"{', '.join(s.value for s in RecStatus)}") from None
    added = {name: values[name] for name in _ADDED_COLUMNS if name in keys}
    return RecRow(
        rec_id=rec_id, params=values["params"], specs=values["specs"], status=status,
        job_name=values["job_name"], job_id=values["job_id"], results_dir=values["results_dir"],
        metric_value=values["metric_value"], message=values["message"], trial=values["trial"],
        created_at=values["created_at"], submitted_at=values["submitted_at"],
        finished_at=values["finished_at"], updated_at=values["updated_at"], **added,
    )


def _uri_path(path: str) -> str:
    """``path`` as the path of an SQLite ``file:`` URI: ``%``, ``?`` and ``#`` escaped (else a folder named
    ``m #1`` opened the file ``m `` read-write, and ``pct%41`` another file)."""
    return path.replace("%", "%25").replace("?", "%3f").replace("#", "%23")


class RunStore:
    """Read/write access to one run's ``state.db``."""

    def __init__(self, run_dir: str | Path, *, readonly: bool = False) -> None:
        self.path = os.path.join(os.fspath(run_dir), DB_NAME)
        self._moved: tuple[str, str] | tuple[()] | None = None  # see _located: not looked up yet
        self._budget_column: bool | None = None  # see _has_budget_reached: not looked up yet
        self.closed = False
        self._tx_serial = 0  # bumped per transaction: a late rollback never ends a newer one
        if readonly:
            if not os.path.exists(self.path):
                raise FileNotFoundError(self.path)
            self._conn = sqlite3.connect(f"file:{_uri_path(self.path)}?mode=ro", uri=True, timeout=5.0,
                                         check_same_thread=False)
            self._check_format()
            self._check_tables()  # a dropped table: refused here, not as "no such table" in whichever read meets it
        else:
            existed = os.path.exists(self.path) and os.stat(self.path).st_size > 0
            private_file(self.path)
            try:
                self._conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None,
                                             check_same_thread=False)
                self._check_format()  # before anything is written: a newer store stays as it is
                if existed:
                    self._check_intact()  # before the schema script, which would rebuild a dropped table
                self._conn.execute("PRAGMA journal_mode=WAL")
                # WAL + NORMAL: a commit is in the WAL file before the call returns, so killing the process at
                # any instant loses nothing; fsync happens at checkpoints, not per commit (an OS crash may drop
                # the last commits, which resume re-derives: jobs are found again by their deterministic names).
                self._conn.execute("PRAGMA synchronous=NORMAL")
                self._conn.executescript(_SCHEMA)
                self._add_missing_columns()
                self._conn.executescript(_INDEXES)
                if self._format() < STORE_FORMAT:  # a new store, or an older one now brought up to this format
                    self._conn.execute(f"PRAGMA user_version = {STORE_FORMAT}")
            except sqlite3.DatabaseError as exc:
                if disk_full(exc, self.path):  # an intact store on a full disk: free space, then go on
                    raise no_space(self.path, run_dir if existed else None) from None
                raise damaged(self.path, str(exc)) from None
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA busy_timeout=5000")
        #: Every value written goes through it: credentials never reach state.db (by key name or known value).
        self.redactor = Redactor.from_environment()

    def _format(self) -> int:
        return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    def _check_format(self) -> None:
        """A store of a newer format than :data:`STORE_FORMAT` is refused (:func:`newer_format`), before any write."""
        found = self._format()
        if found > STORE_FORMAT:
            self._conn.close()
            raise newer_format(self.path, found)

    def _check_intact(self) -> None:
        """An existing store must pass SQLite's quick check and hold every table; else it is refused."""
        result = [row[0] for row in self._conn.execute("PRAGMA quick_check").fetchall()]
        if result != ["ok"]:
            raise damaged(self.path, "; ".join(str(r) for r in result[:3]))
        self._check_tables()

    def _check_tables(self) -> None:
        """The store must hold every table; a store missing one is refused as damaged (:func:`damaged`)."""
        tables = {row[0] for row in self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        missing = sorted({"meta", "recs", "events"} - tables)
        if missing:
            self._conn.close()
            raise damaged(self.path, f"table(s) {', '.join(missing)} missing")

    def _dump(self, value: Any, **kwargs: Any) -> str:
        return json.dumps(self.redactor.redact(value), **kwargs)

    def close(self) -> None:
        self._conn.close()
        self.closed = True

    def _add_missing_columns(self) -> None:
        have = {r[1] for r in self._conn.execute("PRAGMA table_info(recs)")}
        for name, sql_type in _ADDED_COLUMNS.items():
            if name not in have:
                self._conn.execute(f"ALTER TABLE recs ADD COLUMN {name} {sql_type}")

    def _end_stale_transaction(self) -> None:
        """Roll back a transaction that an interrupt (Ctrl-C, ``stop``'s SIGTERM) cut off before its ``with`` began.

        A signal raised between ``BEGIN`` and the body of a ``with self._tx()`` leaves the transaction open with
        nothing to close it; the next write (``close("interrupted")`` among them) would then fail with "cannot
        start a transaction within a transaction". Nothing of it was committed, so rolling it back loses nothing.
        """
        if self._conn.in_transaction:
            import logging  # a rare path: the read-only commands start without logging

            logging.getLogger(__name__).warning("rolling back a store transaction left open by an interrupt")
            self._conn.execute("ROLLBACK")
        self._tx_serial += 1

    def _tx(self) -> _Transaction:
        """``with self._tx() as conn``: one write transaction, committed at the end, rolled back on any error."""
        return _Transaction(self, write=True)

    def snapshot(self) -> _Transaction:
        """Reads inside see one consistent state of the run (a read transaction; never blocks the writer)."""
        return _Transaction(self, write=False)

    def _event(self, conn: sqlite3.Connection, kind: str, rec_id: int | None, payload: Mapping[str, Any]) -> None:
        conn.execute(
            "INSERT INTO events (ts, rec_id, kind, payload) VALUES (?, ?, ?, ?)",
            (time.time(), rec_id, kind, self._dump(dict(payload), default=str)),
        )

    # -- meta -----------------------------------------------------------------------------------
    def set_meta(self, values: Mapping[str, Any], *, event: str | None = None) -> None:
        with self._tx() as conn:
            self.redactor.learn(values)
            for key, value in values.items():
                conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, self._dump(value)))
            if event:
                self._event(conn, event, None, {"keys": sorted(values)})

    def add_tracking_errors(self, failed: Mapping[str, Mapping[str, Any]], first_here: Sequence[str] = ()) -> None:
        """Add one process's tracker failures since it last added them (``{tracker: {"count": N, "first": ...}}``)
        to the run's (meta :data:`TRACKING_ERRORS`, whose first failure of each tracker stays), with a
        :data:`TRACKER_FAILED` event for each tracker in ``first_here`` (its first failure in that process); one
        transaction (a read and a write of one meta row, whatever the run's length)."""
        with self._tx() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (TRACKING_ERRORS,)).fetchone()
            summed = merged_tracking_errors(tracking_errors_of({TRACKING_ERRORS: json.loads(row[0])} if row else {}),
                                            failed)
            stored = [{"tracker": name, **entry} for name, entry in summed.items()]
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                         (TRACKING_ERRORS, self._dump(stored)))
            for name in first_here:
                if name in failed:
                    self._event(conn, TRACKER_FAILED, None, {"tracker": name, "first": failed[name].get("first")})

    def meta(self) -> dict[str, Any]:
        """The run's metadata; a value that is not JSON, or not of the type the code writes for its key
        (:data:`_META_TYPES`), is a damaged store (:func:`damaged`), named by its key, never an error deep inside a
        reader."""
        meta = {r["key"]: _meta_value(self.path, r["key"], r["value"])
                for r in self._conn.execute("SELECT key, value FROM meta")}
        if meta.get("mode") == "runner" and "space" in meta:  # a runner's run writes these with its other keys
            for key in _RUNNER_META:
                if key not in meta:
                    raise damaged(self.path, f"meta {key!r} is missing from a run the runner made")
        return meta

    def _located(self, row: RecRow) -> RecRow:
        """``row`` with its ``results_dir`` and ``spec_path`` inside the run folder where it is now: a folder moved
        (or copied) after its recs ran stores them under the folder's old place (meta ``run_dir``), where they are
        no longer; the spec the job received (``specs``) is kept as it was."""
        if self._moved is None:
            self._moved = self._relocation()
        if not self._moved:
            return row
        old, new = self._moved
        results, spec = row.results_dir, row.spec_path
        if isinstance(results, str) and results.startswith(old):
            row = row._replace(results_dir=new + results[len(old):])
        if isinstance(spec, str) and spec.startswith(old):
            row = row._replace(spec_path=new + spec[len(old):])
        return row

    def _relocation(self) -> tuple[str, str] | tuple[()]:
        """(old folder + "/", this folder + "/") when the run's stored ``run_dir`` is not this folder, else ()."""
        found = self._conn.execute("SELECT value FROM meta WHERE key = 'run_dir'").fetchone()
        before = _meta_value(self.path, "run_dir", found[0]) if found is not None else None
        here = os.path.dirname(os.path.abspath(self.path))
        if not isinstance(before, str) or not before or os.path.realpath(before) == os.path.realpath(here):
            return ()
        return before.rstrip(os.sep) + os.sep, here + os.sep

    def relocate_recs(self, before: str, here: str) -> None:
        """Store every rec's ``results_dir`` and ``spec_path`` under ``here`` where they lie under ``before`` (a
        moved run folder, on its reopening); a transaction of its own, no event (the caller records the move)."""
        old, new = before.rstrip(os.sep) + os.sep, here.rstrip(os.sep) + os.sep
        with self._tx() as conn:
            for column in ("results_dir", "spec_path"):
                conn.execute(f"UPDATE recs SET {column} = ? || substr({column}, ?) WHERE substr({column}, 1, ?) = ?",
                             (new, len(old) + 1, len(old), old))
        self._moved = None

    def last_event_at(self) -> float | None:
        """When the newest event was written (the run's last recorded activity), or None without events."""
        row = self._conn.execute("SELECT ts FROM events ORDER BY seq DESC LIMIT 1").fetchone()
        return float(row["ts"]) if row is not None else None

    # -- recs -----------------------------------------------------------------------------------
    def add_rec(self, rec_id: int, params: Mapping[str, Any], specs: Mapping[str, Any], job_name: str,
                trial: Mapping[str, Any] | None = None) -> float:
        """Insert a new rec (state ``created``, with its trial's planned budget, if any, until a rendered spec
        sets it); returns the timestamp written."""
        now = time.time()
        trial_json = self._dump(dict(trial)) if trial is not None else None
        budget = trial.get("budget") if trial is not None else None
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO recs (rec_id, params, specs, status, job_name, trial, budget, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (rec_id, self._dump(dict(params)), self._dump(dict(specs)), UNSUBMITTED, job_name, trial_json,
                 budget if isinstance(budget, int) and not isinstance(budget, bool) else None, now, now),
            )
            self._event(conn, "rec_created", rec_id, {"params": dict(params), "job_name": job_name,
                                                      "trial": dict(trial) if trial is not None else None})
        return now

    def mark_submitted(self, rec_id: int, job_id: str, results_dir: str, status: str = "pending",
                       submitted_at: float | None = None) -> float:
        """Store a rec's job id the moment it exists, submitted at ``submitted_at`` (when it was asked for; default
        and at the latest: now); returns the timestamp written as ``updated_at``."""
        now = time.time()
        with self._tx() as conn:
            conn.execute(
                "UPDATE recs SET job_id=?, results_dir=?, status=?, submitted_at=?, updated_at=? WHERE rec_id=?",
                (job_id, results_dir, status, min(now, submitted_at or now), now, rec_id),
            )
            self._event(conn, "job_submitted", rec_id, {"job_id": job_id, "results_dir": results_dir})
        return now

    def set_rendered(self, rec_id: int, specs: Mapping[str, Any], spec_path: str, budget: int | None) -> float:
        """Replace the rec's spec by the one rendered for its job (overrides, budget, paths applied)."""
        now = time.time()
        with self._tx() as conn:
            conn.execute("UPDATE recs SET specs=?, spec_path=?, budget=?, updated_at=? WHERE rec_id=?",
                         (self._dump(dict(specs)), spec_path, budget, now, rec_id))
            self._event(conn, "spec_rendered", rec_id, {"spec_path": spec_path, "budget": budget})
        return now

    def set_status(self, rec_id: int, status: str) -> float:
        now = time.time()
        with self._tx() as conn:
            conn.execute("UPDATE recs SET status=?, updated_at=? WHERE rec_id=?", (status, now, rec_id))
            self._event(conn, "status", rec_id, {"status": status})
        return now

    def finish_rec(self, rec_id: int, status: str, metric_value: float | None, message: str | None,
                   budget_reached: int | None = None, finished_at: float | None = None) -> float:
        """End a rec; ``budget_reached``: epochs its metric was measured at (a failure's: the epochs its job reported
        before it ended; None: unknown);
        ``finished_at``: when its job ended, if known (default: now).

        Returns the finish time written."""
        if status not in FINAL_STATES:
            raise ValueError(f"finish_rec: {status!r} is not a final state {FINAL_STATES}")
        now = time.time()
        ended = now if finished_at is None else finished_at
        with self._tx() as conn:
            conn.execute(
                "UPDATE recs SET status=?, metric_value=?, message=?, finished_at=?, updated_at=?, budget_reached=? "
                "WHERE rec_id=?",
                (status, metric_value, self.redactor.scrub(message) if message else message, ended, now,
                 budget_reached, rec_id),
            )
            self._event(conn, "rec_finished", rec_id, {"status": status, "metric_value": metric_value,
                                                       "message": message, "budget_reached": budget_reached})
        return ended

    def log_event(self, kind: str, rec_id: int | None = None, **payload: Any) -> None:
        with self._tx() as conn:
            self._event(conn, kind, rec_id, payload)

    def recs(self) -> list[RecRow]:
        """Every rec, in id order (reads and decodes every row: for whole-run views only)."""
        return [self._located(_row(r, self.path)) for r in self._conn.execute("SELECT * FROM recs ORDER BY rec_id")]

    def rec(self, rec_id: int) -> RecRow | None:
        """One rec by id (an index lookup)."""
        r = self._conn.execute("SELECT * FROM recs WHERE rec_id=?", (rec_id,)).fetchone()
        return self._located(_row(r, self.path)) if r is not None else None

    def recs_by_id(self, rec_ids: Sequence[int]) -> list[RecRow]:
        """The recs with these ids, in the order given (unknown ids are skipped)."""
        found: dict[int, RecRow] = {}
        for start in range(0, len(rec_ids), 500):  # SQLite caps the number of bound values
            chunk = tuple(rec_ids[start:start + 500])
            marks = ",".join("?" * len(chunk))
            found.update((r["rec_id"], self._located(_row(r, self.path)))
                         for r in self._conn.execute(f"SELECT * FROM recs WHERE rec_id IN ({marks})", chunk))
        return [found[i] for i in rec_ids if i in found]

    def recs_page(self, offset: int = 0, limit: int | None = None) -> list[RecRow]:
        """Recs in id order from position ``offset``, at most ``limit`` of them (all when None)."""
        rows = self._conn.execute("SELECT * FROM recs ORDER BY rec_id LIMIT ? OFFSET ?",
                                  (_sql_count(limit), _sql_count(offset)))
        return [self._located(_row(r, self.path)) for r in rows]

    def replay_rows(self) -> Iterator[tuple[int, str, float | None, dict[str, Any], dict[str, Any] | None]]:
        """``(rec_id, status, metric_value, params, trial)`` of every rec in id order, specs not decoded; ``params``
        is ``{}`` when the rec has a trial (its ``config`` holds the same values: one JSON decode per rec)."""
        query = ("SELECT rec_id, status, metric_value, CASE WHEN trial IS NULL THEN params END AS params, trial "
                 "FROM recs ORDER BY rec_id")
        for r in self._conn.execute(query):
            yield (r["rec_id"], r["status"], r["metric_value"], json.loads(r["params"]) if r["params"] else {},
                   json.loads(r["trial"]) if r["trial"] else None)

    def finish_order(self) -> dict[int, int]:
        """``{rec_id: journal position}`` of each rec's end (its ``rec_finished`` event): the order in which the
        run learnt the results, which a reopened run replays (one indexed scan)."""
        return {r[0]: r[1] for r in self._conn.execute(
            "SELECT rec_id, MAX(seq) FROM events WHERE kind='rec_finished' GROUP BY rec_id")}

    def count_by_status(self) -> dict[str, int]:
        """``{status: number of recs}`` (the status index answers it)."""
        return {r[0]: r[1] for r in self._conn.execute("SELECT status, count(*) FROM recs GROUP BY status")}

    def is_multi_fidelity(self, meta: Mapping[str, Any] | None = None) -> bool:
        """Whether any trial carries an epoch budget: the run's meta says so (older run folders: a scan)."""
        if meta is not None and MULTI_FIDELITY_KEY in meta:
            return bool(meta[MULTI_FIDELITY_KEY])
        row = self._conn.execute("SELECT 1 FROM recs WHERE trial LIKE '%\"budget\": %' AND "
                                 "json_extract(trial, '$.budget') IS NOT NULL LIMIT 1").fetchone()
        return row is not None

    def ranked_ids(self, direction: str, multi_fidelity: bool, limit: int | None = None,
                   status: str | None = None) -> list[int]:
        """Ids of recs with a rankable metric, best first (highest budget reached first when ``multi_fidelity``);
        ties go to the older rec. ``status`` keeps one of :data:`RANKED_STATES` only."""
        order = "ASC" if direction == "minimize" else "DESC"
        # a store made before the column existed, read as it is (a reader adds no column): no budget reached is
        # known, so its recs rank by metric, as summarise() and the report rank them (budget_reached None: 0)
        by_budget = "coalesce(budget_reached, 0) DESC, " if multi_fidelity and self._has_budget_reached() else ""
        where = _RANKABLE + (" AND status = ?" if status else "")
        rows = self._conn.execute(f"SELECT rec_id FROM recs WHERE {where} "
                                  f"ORDER BY {by_budget}metric_value {order}, rec_id LIMIT ?",
                                  (*((status,) if status else ()), _sql_count(limit)))
        return [r[0] for r in rows]

    def _has_budget_reached(self) -> bool:
        if self._budget_column is None:
            self._budget_column = any(r[1] == "budget_reached" for r in self._conn.execute("PRAGMA table_info(recs)"))
        return self._budget_column

    def latest_unranked_ids(self, k: int) -> list[int]:
        """Ids of the ``k`` newest recs without a rankable metric (failed, cancelled, in flight), newest first:
        those in flight (not ended yet), then the ended ones by when they ended (a rec that timed out after later
        ones failed is among the newest), then by id."""
        unranked = (UNSUBMITTED, *ACTIVE_STATES, *(st for st in FINAL_STATES if st not in RANKED_STATES))
        marks = ",".join("?" * len(unranked))
        rows = self._conn.execute(  # spelled as status lists so that the status index answers it
            f"SELECT rec_id FROM recs WHERE status IN ({marks}) "
            "OR (status IN ('success', 'stopped') AND metric_value IS NULL) "
            "ORDER BY finished_at IS NULL DESC, finished_at DESC, rec_id DESC LIMIT ?",
            (*unranked, _sql_count(k)))
        return [r[0] for r in rows]

    def ids_with_status(self, statuses: Sequence[str]) -> list[int]:
        """Ids of the recs in any of ``statuses``, in id order (the status index answers it)."""
        marks = ",".join("?" * len(statuses))
        rows = self._conn.execute(f"SELECT rec_id FROM recs WHERE status IN ({marks}) ORDER BY rec_id",
                                  tuple(statuses))
        return [r[0] for r in rows]

    def first_finished(self, k: int) -> list[RecRow]:
        """The first ``k`` recs to end, in the order they ended."""
        marks = ",".join("?" * len(FINAL_STATES))
        rows = self._conn.execute(f"SELECT * FROM recs WHERE status IN ({marks}) "
                                  "ORDER BY coalesce(finished_at, 0), rec_id LIMIT ?", (*FINAL_STATES, k))
        return [self._located(_row(r, self.path)) for r in rows]

    def events(self, kind: str | None = None, rec_id: int | None = None) -> list[dict[str, Any]]:
        """Journal entries in order, optionally only one kind and/or one rec's (indexed on ``(kind, rec_id)``)."""
        clauses: list[str] = []
        values: list[Any] = []
        if kind is not None:
            clauses.append("kind=?")
            values.append(kind)
        if rec_id is not None:
            clauses.append("rec_id=?")
            values.append(rec_id)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._conn.execute(f"SELECT seq, ts, rec_id, kind, payload FROM events{where} ORDER BY seq",
                                  tuple(values))
        return [{"seq": r["seq"], "ts": r["ts"], "rec_id": r["rec_id"], "kind": r["kind"],
                 "payload": json.loads(r["payload"])} for r in rows]


class _Transaction:
    """A store transaction as a context manager (a small class rather than ``@contextmanager``, so contextlib
    stays out of ``tao-automl status``'s start-up).

    ``write``: ``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back when the body (or an interrupt right after the
    ``BEGIN``) raises. Else a read snapshot: ``BEGIN`` ... ``COMMIT`` whatever happens. Either way it only ends
    the transaction it began: a later one (after :meth:`RunStore._end_stale_transaction`) is left alone.
    """

    __slots__ = ("_mine", "_store", "_write")

    def __init__(self, store: RunStore, *, write: bool) -> None:
        self._store, self._write, self._mine = store, write, -1

    def __enter__(self) -> sqlite3.Connection:
        store = self._store
        store._end_stale_transaction()
        self._mine = store._tx_serial
        try:
            store._conn.execute("BEGIN IMMEDIATE" if self._write else "BEGIN")
            return store._conn
        except BaseException:
            self._end(failed=True)
            raise

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        self._end(failed=exc_type is not None)

    def _end(self, *, failed: bool) -> None:
        conn = self._store._conn
        ours = self._mine == self._store._tx_serial and conn.in_transaction  # not one a later call took over
        if self._write and not failed:
            conn.execute("COMMIT")  # a write whose transaction vanished says so ("no transaction is active")
        elif ours:
            conn.execute("ROLLBACK" if self._write else "COMMIT")


def tracking_errors_of(meta: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{tracker: {"count": N, "first": "method: Error: message"}}`` of the run's failed trackers, from its meta
    (``{}`` when none failed, or in a run folder made before they were kept)."""
    out: dict[str, dict[str, Any]] = {}
    stored = meta.get(TRACKING_ERRORS)
    for entry in stored if isinstance(stored, list) else []:
        if isinstance(entry, dict) and isinstance(entry.get("tracker"), str):
            count = entry.get("count")
            out[entry["tracker"]] = {"count": count if isinstance(count, int) else 0,
                                     "first": str(entry.get("first") or "")}
    return out


def merged_tracking_errors(stored: Mapping[str, Mapping[str, Any]],
                           added: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Tracker failures ``added`` to ``stored`` (same shape): counts summed, each tracker's earliest first kept."""
    out = {name: dict(entry) for name, entry in stored.items()}
    for name, entry in added.items():
        before = out.get(name)
        if before is None:
            out[name] = {"count": int(entry.get("count") or 0), "first": str(entry.get("first") or "")}
        else:
            before["count"] = int(before.get("count") or 0) + int(entry.get("count") or 0)
    return out


def record_tracking_errors(run_dir: str | Path, failed: Mapping[str, Mapping[str, Any]],
                           first_here: Sequence[str] = ()) -> None:
    """:meth:`RunStore.add_tracking_errors` on a connection of its own (the process's store is closed, or it has
    none: ``stop --cancel-jobs``)."""
    store = RunStore(run_dir)
    try:
        store.add_tracking_errors(failed, first_here)
    finally:
        store.close()


def read_meta(run_dir: str | Path) -> dict[str, Any]:
    """The run's metadata, read without taking part in writes; a damaged store is a :class:`WorkspaceError`."""
    path = os.path.join(os.fspath(run_dir), DB_NAME)
    try:
        store = RunStore(run_dir, readonly=True)
    except sqlite3.DatabaseError as exc:
        raise no_space(path, run_dir) if disk_full(exc, path) else damaged(path, str(exc)) from None
    try:
        return store.meta()
    except sqlite3.DatabaseError as exc:
        raise no_space(path, run_dir) if disk_full(exc, path) else damaged(path, str(exc)) from None
    finally:
        store.close()


#: What to do about a run folder whose state.db cannot be read: every command and tool that meets one says this (a
#: hint to pass another folder would send the caller looking for a run that is here).
DAMAGED_HINT = ("the folder holds a run whose state.db cannot be read (damaged or truncated: a full disk, a copy made "
                "while it was written); restore state.db from a copy, or start a new run")


#: What to do about a run folder whose state.db cannot be opened because its disk is full (SQLite needs a little room
#: even to read it: every first connection re-creates its WAL index, state.db-shm): the run is intact.
FULL_DISK_HINT = ("the disk that holds the run folder is full (SQLite needs a little free space even to read "
                  "state.db); free space there, then run the command again: the run keeps what it recorded (a sweep "
                  "that stopped continues with `tao-automl resume RUN_DIR`)")

_SQLITE_FULL, _SQLITE_IOERR, _SQLITE_IOERR_SHMSIZE = 13, 10, 4874  # SQLite result codes (the low byte: the family)


def disk_full(exc: BaseException, path: str) -> bool:
    """Whether ``exc``, an SQLite error on the store at ``path``, comes from a full disk rather than a damaged file:
    SQLITE_FULL, SQLITE_IOERR_SHMSIZE (the WAL index could not grow), or another I/O error while the disk that holds
    ``path`` has (almost) no room left."""
    code = getattr(exc, "sqlite_errorcode", None)  # Python 3.11+; the message before
    if code is None:
        if "database or disk is full" in str(exc):
            return True
        io_error = "disk I/O error" in str(exc)
    else:
        if code & 0xFF == _SQLITE_FULL or code == _SQLITE_IOERR_SHMSIZE:
            return True
        io_error = code & 0xFF == _SQLITE_IOERR
    if not io_error:
        return False
    try:
        room = os.statvfs(os.path.dirname(os.path.abspath(path)))
    except OSError:
        return False
    return room.f_bavail * room.f_frsize < 1 << 20


def no_space(path: str, run_dir: str | Path | None = None) -> OSError:
    """The ENOSPC error of a store at ``path`` whose disk is full (the CLI names the disk and the next step); with
    ``run_dir``, the run a resume continues once there is space."""
    error = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
    if run_dir is not None:
        error.run_dir = run_dir  # type: ignore[attr-defined]
    return error


def unreadable(run_dir: str | Path, path: str, exc: BaseException) -> tuple[str, str]:
    """``(message, hint)`` of a run store at ``path`` that raised ``exc`` when read: a full disk or a damaged file."""
    if disk_full(exc, path):
        return f"cannot read run state at {str(run_dir)!r}: no space left on the device ({exc})", FULL_DISK_HINT
    return f"cannot read run state at {str(run_dir)!r}: {exc}", DAMAGED_HINT


#: What to do about a run folder whose state.db has a newer format than this code reads.
NEWER_FORMAT_HINT = ("it was made by a newer tao-run-automl: open it with that version (upgrade this one: "
                     "`pip install -U tao-run-automl`, or `git pull` and reinstall a source checkout); this version "
                     "left it untouched")


#: The words of that error that say so (``query_status`` returns its message; its hint is found by them).
NEWER_FORMAT_WORDS = "newer than this tao-run-automl reads"


class NewerStoreFormatError(WorkspaceError):
    """A run store of a newer format than :data:`STORE_FORMAT` (made by a newer tao-run-automl): refused untouched."""


def newer_format(path: str, found: int) -> NewerStoreFormatError:
    """The one-line error for a run store whose format (``found``) is newer than :data:`STORE_FORMAT`."""
    return NewerStoreFormatError(f"run store {path!r} has store format {found}, {NEWER_FORMAT_WORDS} "
                                 f"(format {STORE_FORMAT} or older)", field="run_dir", value=os.path.dirname(path),
                                 allowed=f"a run folder of store format {STORE_FORMAT} or older",
                                 hint=NEWER_FORMAT_HINT)


def damaged(path: str, why: str) -> WorkspaceError:
    """The one-line error for a run store that fails its integrity check."""
    return WorkspaceError(f"run store {path!r} is damaged ({why}); it cannot be used safely", field="run_dir",
                          value=os.path.dirname(path),
                          allowed="a run folder whose state.db passes SQLite's integrity check", hint=DAMAGED_HINT)
