"""Inference engines: the Backend protocol and its implementations."""
