"""The ask/tell core and a run's durable state: experiment, SQLite store, summaries, run folders."""
