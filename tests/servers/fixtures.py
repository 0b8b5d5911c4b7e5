"""Fixtures for the private servers (registered in ``tests/conftest.py`` through ``pytest_plugins``)."""

from __future__ import annotations

import pytest

from tests.servers.alertmanager import Alertmanager


@pytest.fixture(scope="session")
def alertmanager_server(tmp_path_factory):
    """One private Alertmanager for the session (tests tell their silences apart by the run id in the comment)."""
    server = Alertmanager(tmp_path_factory.mktemp("alertmanager")).start()
    yield server
    server.stop()


@pytest.fixture
def fresh_alertmanager(tmp_path_factory):
    """A private Alertmanager of this test alone (for tests counting every alert it holds)."""
    server = Alertmanager(tmp_path_factory.mktemp("alertmanager")).start()
    yield server
    server.stop()
