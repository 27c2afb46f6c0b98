"""The chat service: the one place that orchestrates a turn."""
