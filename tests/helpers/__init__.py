"""Helpers for the tests. The modules that define fixtures or hooks (factories, export, suite_report) are
loaded as pytest plugins by tests/conftest.py; tests import the helper functions they use by name."""
