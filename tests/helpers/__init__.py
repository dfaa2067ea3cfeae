"""Helpers and constants shared by test modules; shared fixtures are in ``tests/conftest.py``.

Test modules import from here and never from one another.
"""
