"""Real parts and shared fixtures for the tests, loaded as pytest plugins from tests/conftest.py."""
