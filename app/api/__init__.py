"""OpenAI-compatible API served beside the UI."""
