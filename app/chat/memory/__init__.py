"""Long-term memory: recall of messages that left the context window."""
