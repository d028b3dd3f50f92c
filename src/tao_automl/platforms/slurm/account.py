"""The Slurm account the jobs are charged to: checked before a run (``sbatch --test-only``) and named when Slurm
refuses a submission for it.

A cluster that enforces associations (``AccountingStorageEnforce=associations``, with slurmdbd) refuses a job whose
account does not exist or that the user may not use, at submission: every rec would fail the same way, and a resume
keeps the run's account. ``sbatch --test-only`` asks slurmctld whether it would take a job, without submitting one,
and needs no access to the accounting database (``sacctmgr``); a cluster that keeps no accounting takes any account.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from tao_automl.errors import PlatformError, UserInputError
from tao_automl.platforms.base import PlatformCheck
from tao_automl.platforms.slurm.shell import Shell

#: slurmctld's refusals of a job's account (ESLURM_INVALID_ACCOUNT; a partition's AllowAccounts / DenyAccounts).
ACCOUNT_REFUSED = re.compile(r"Invalid account|account not permitted", re.IGNORECASE)
#: The user's accounts, when the cluster's accounting database answers (``sacctmgr``; absent without slurmdbd).
_ACCOUNTS = 'sacctmgr -n -P show associations where user="$(id -un)" format=account'
_LIST_HINT = "an account your user is associated with (`sacctmgr show associations user=$USER format=account`)"


def user_accounts(shell: Shell) -> list[str] | None:
    """The accounts ``sacctmgr`` lists for the user, or None when it cannot say (no slurmdbd, no sacctmgr)."""
    try:
        result = shell.run(["sh", "-c", _ACCOUNTS], check=False)
    except PlatformError:
        return None
    if result.returncode != 0:
        return None
    accounts = sorted({line.strip() for line in result.stdout.splitlines() if line.strip()})
    return accounts or None


def refused_account(shell: Shell, message: str, account: str | None, field: str) -> UserInputError | None:
    """The error for a Slurm refusal (``message``) of the job's ``account`` (from the setting ``field``), or None
    when Slurm refused it for another reason. A resume keeps the run's account, so it names a new run."""
    if not ACCOUNT_REFUSED.search(message):
        return None
    accounts = user_accounts(shell)
    allowed = accounts if accounts else _LIST_HINT
    what = f"account {account!r}" if account else "no account (the user's default one)"
    why = " ".join(message.split())[-300:]
    return UserInputError(
        f"{field}: Slurm refuses jobs under {what}: {why}; a resume keeps the run's account and would be refused "
        "the same way", field=field, value=account, allowed=allowed,
        hint=f"set {field} to an account you may use and start a new run")


def account_check(shell: Shell, account: str, field: str, partitions: Sequence[str]) -> PlatformCheck:
    """``sbatch --test-only``: whether slurmctld would take a job under ``account`` (on ``partitions``, when
    given: an account may be refused on one partition only); nothing is submitted."""
    where = f" on partition {','.join(partitions)}" if partitions else ""
    argv = ["sbatch", "--test-only", f"--account={account}",
            *([f"--partition={','.join(partitions)}"] if partitions else []), "--output=/dev/null", "--wrap", "true"]
    try:
        result = shell.run(argv, check=False)
    except PlatformError as exc:
        return PlatformCheck("account", None, f"{account} ({field}): not checked: sbatch --test-only failed: {exc}")
    if result.returncode == 0:
        return PlatformCheck("account", True, f"{account} ({field}): slurmctld would take a job under it{where} "
                                              "(sbatch --test-only)")
    message = (result.stderr.strip() or result.stdout.strip() or f"exit code {result.returncode}")[-500:]
    error = refused_account(shell, message, account, field)
    if error is None:
        return PlatformCheck("account", None, f"{account} ({field}): not checked: sbatch --test-only{where} "
                                              f"failed: {message}")
    return PlatformCheck("account", False, error.detail, error=error)
