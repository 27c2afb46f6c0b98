"""Prompt building: templates, macros, lorebooks and trimming (pure code)."""
