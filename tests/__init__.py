"""The tests: one module per concern, `test_*.py`; what several of them share is in `support/`.

Run from the repository's root (`python -m pytest`, or `python -m pytest tests/test_x.py`):
pytest puts the root on the path, so tests import `tests.support.<module>`.
"""
