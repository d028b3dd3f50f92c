"""Results out of a run folder: the best rec's spec, a CSV of every rec, an Optuna journal, the runs of a workspace.

Everything here reads the run's state read-only (safe while the run goes on).
"""
