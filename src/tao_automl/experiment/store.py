"""The run's durable state: one SQLite database in WAL mode under the run folder.

Every change is one transaction that updates the ``recs`` table and appends to the ``events``
journal, committed with ``synchronous=FULL`` before the caller acts on it. Readers
(:func:`tao_automl.status.query_status`) open the file read-only; WAL lets them read a consistent
snapshot while the runner writes, without blocking it.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tao_automl.errors import WorkspaceError
from tao_automl.util.private import private_file
from tao_automl.util.secrets import Redactor

DB_NAME = "state.db"

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

#: Rec states before a job exists, while it runs, and after it ended.
UNSUBMITTED = "created"
ACTIVE_STATES = ("pending", "running")
FINAL_STATES = ("success", "failure", "cancelled", "stopped")
#: Columns added after the first release, with their SQL type (older run folders get them on a writable open).
_ADDED_COLUMNS = {"spec_path": "TEXT", "budget": "INTEGER", "budget_reached": "INTEGER"}


@dataclass(frozen=True)
class RecRow:
    """One rec as persisted."""

    rec_id: int
    params: dict[str, Any]
    specs: dict[str, Any]
    status: str
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
    budget_reached: int | None = None  # epochs its metric was measured at (stopped recs: fewer than budget)

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATES


def _row(r: sqlite3.Row) -> RecRow:
    keys = r.keys()
    added = {name: r[name] for name in _ADDED_COLUMNS if name in keys}
    return RecRow(
        rec_id=r["rec_id"], params=json.loads(r["params"]), specs=json.loads(r["specs"]), status=r["status"],
        job_name=r["job_name"], job_id=r["job_id"], results_dir=r["results_dir"], metric_value=r["metric_value"],
        message=r["message"], trial=json.loads(r["trial"]) if r["trial"] else None,
        created_at=r["created_at"], submitted_at=r["submitted_at"],
        finished_at=r["finished_at"], updated_at=r["updated_at"], **added,
    )


class RunStore:
    """Read/write access to one run's ``state.db``."""

    def __init__(self, run_dir: str | Path, *, readonly: bool = False) -> None:
        self.path = Path(run_dir) / DB_NAME
        if readonly:
            if not self.path.exists():
                raise FileNotFoundError(str(self.path))
            self._conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=5.0,
                                         check_same_thread=False)
        else:
            existed = self.path.exists() and self.path.stat().st_size > 0
            private_file(self.path)
            try:
                self._conn = sqlite3.connect(str(self.path), timeout=30.0, isolation_level=None,
                                             check_same_thread=False)
                if existed:
                    self._check_intact()  # before the schema script, which would rebuild a dropped table
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute("PRAGMA synchronous=FULL")
                self._conn.executescript(_SCHEMA)
                self._add_missing_columns()
            except sqlite3.DatabaseError as exc:
                raise damaged(self.path, str(exc)) from None
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA busy_timeout=5000")
        #: Every value written goes through it: credentials never reach state.db (by key name or known value).
        self.redactor = Redactor.from_environment()

    def _check_intact(self) -> None:
        """An existing store must pass SQLite's quick check and hold every table; else it is refused."""
        result = [row[0] for row in self._conn.execute("PRAGMA quick_check").fetchall()]
        if result != ["ok"]:
            raise damaged(self.path, "; ".join(str(r) for r in result[:3]))
        tables = {row[0] for row in self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        missing = sorted({"meta", "recs", "events"} - tables)
        if missing:
            raise damaged(self.path, f"table(s) {', '.join(missing)} missing")

    def _dump(self, value: Any, **kwargs: Any) -> str:
        return json.dumps(self.redactor.redact(value), **kwargs)

    def close(self) -> None:
        self._conn.close()

    def _add_missing_columns(self) -> None:
        have = {r[1] for r in self._conn.execute("PRAGMA table_info(recs)")}
        for name, sql_type in _ADDED_COLUMNS.items():
            if name not in have:
                self._conn.execute(f"ALTER TABLE recs ADD COLUMN {name} {sql_type}")

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

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

    def meta(self) -> dict[str, Any]:
        return {r["key"]: json.loads(r["value"]) for r in self._conn.execute("SELECT key, value FROM meta")}

    # -- recs -----------------------------------------------------------------------------------
    def add_rec(self, rec_id: int, params: Mapping[str, Any], specs: Mapping[str, Any], job_name: str,
                trial: Mapping[str, Any] | None = None) -> None:
        now = time.time()
        trial_json = self._dump(dict(trial)) if trial is not None else None
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO recs (rec_id, params, specs, status, job_name, trial, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (rec_id, self._dump(dict(params)), self._dump(dict(specs)), UNSUBMITTED, job_name, trial_json,
                 now, now),
            )
            self._event(conn, "rec_created", rec_id, {"params": dict(params), "job_name": job_name,
                                                      "trial": dict(trial) if trial is not None else None})

    def mark_submitted(self, rec_id: int, job_id: str, results_dir: str, status: str = "pending") -> None:
        now = time.time()
        with self._tx() as conn:
            conn.execute(
                "UPDATE recs SET job_id=?, results_dir=?, status=?, submitted_at=?, updated_at=? WHERE rec_id=?",
                (job_id, results_dir, status, now, now, rec_id),
            )
            self._event(conn, "job_submitted", rec_id, {"job_id": job_id, "results_dir": results_dir})

    def set_rendered(self, rec_id: int, specs: Mapping[str, Any], spec_path: str, budget: int | None) -> None:
        """Replace the rec's spec by the one rendered for its job (overrides, budget, paths applied)."""
        with self._tx() as conn:
            conn.execute("UPDATE recs SET specs=?, spec_path=?, budget=?, updated_at=? WHERE rec_id=?",
                         (json.dumps(dict(specs)), spec_path, budget, time.time(), rec_id))
            self._event(conn, "spec_rendered", rec_id, {"spec_path": spec_path, "budget": budget})

    def set_status(self, rec_id: int, status: str) -> None:
        with self._tx() as conn:
            conn.execute("UPDATE recs SET status=?, updated_at=? WHERE rec_id=?", (status, time.time(), rec_id))
            self._event(conn, "status", rec_id, {"status": status})

    def finish_rec(self, rec_id: int, status: str, metric_value: float | None, message: str | None,
                   budget_reached: int | None = None) -> None:
        """End a rec; ``budget_reached``: epochs its metric was measured at (None: unknown or no metric)."""
        if status not in FINAL_STATES:
            raise ValueError(f"finish_rec: {status!r} is not a final state {FINAL_STATES}")
        now = time.time()
        with self._tx() as conn:
            conn.execute(
                "UPDATE recs SET status=?, metric_value=?, message=?, finished_at=?, updated_at=?, budget_reached=? "
                "WHERE rec_id=?",
                (status, metric_value, self.redactor.scrub(message) if message else message, now, now, budget_reached,
                 rec_id),
            )
            self._event(conn, "rec_finished", rec_id, {"status": status, "metric_value": metric_value,
                                                       "message": message, "budget_reached": budget_reached})

    def log_event(self, kind: str, rec_id: int | None = None, **payload: Any) -> None:
        with self._tx() as conn:
            self._event(conn, kind, rec_id, payload)

    def recs(self) -> list[RecRow]:
        return [_row(r) for r in self._conn.execute("SELECT * FROM recs ORDER BY rec_id")]

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        query = "SELECT seq, ts, rec_id, kind, payload FROM events"
        rows = self._conn.execute(query + (" WHERE kind=? ORDER BY seq" if kind else " ORDER BY seq"),
                                  (kind,) if kind else ())
        return [{"seq": r["seq"], "ts": r["ts"], "rec_id": r["rec_id"], "kind": r["kind"],
                 "payload": json.loads(r["payload"])} for r in rows]


def read_meta(run_dir: str | Path) -> dict[str, Any]:
    """The run's metadata, read without taking part in writes; a damaged store is a :class:`WorkspaceError`."""
    try:
        store = RunStore(run_dir, readonly=True)
    except sqlite3.DatabaseError as exc:
        raise damaged(Path(run_dir) / DB_NAME, str(exc)) from None
    try:
        return store.meta()
    except sqlite3.DatabaseError as exc:
        raise damaged(store.path, str(exc)) from None
    finally:
        store.close()


def damaged(path: Path, why: str) -> WorkspaceError:
    """The one-line error for a run store that fails its integrity check."""
    return WorkspaceError(f"run store {str(path)!r} is damaged ({why}); it cannot be resumed safely: restore "
                          "state.db from a backup, or start a new run", field="run_dir", value=str(path.parent),
                          allowed="a run folder whose state.db passes SQLite's integrity check")
