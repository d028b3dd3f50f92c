"""Rec -> spec file + command: the job renderer and its data, roles, TOML and path helpers."""
