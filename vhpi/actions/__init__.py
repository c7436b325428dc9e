"""One module per user-facing action, each with a `run_<action>(config, ...)` entry."""
