"""Parlor: local roleplay chat with SillyTavern-exact prompts and llama.cpp in process."""

__version__ = "0.1.0"
