"""Parlor's API, served beside the UI: the OpenAI, llama.cpp server, KoboldCpp,
text-generation-webui and TabbyAPI dialects SillyTavern and other clients speak."""
