"""LLM pre-annotation with Label Studio review and SQLite storage."""

__version__ = "0.1.0"
