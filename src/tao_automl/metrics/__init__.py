"""Reading a job's metric: status.json and log parsing, the objective sign, the SDK-facing reader."""
