"""Training runs: a workspace on disk, the proven training loop, the float shadow, the demo, reports."""
