"""Ordered schema revisions: 0001 is the first release's schema."""
