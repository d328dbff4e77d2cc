"""The `zkgrad` command line."""
