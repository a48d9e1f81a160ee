"""Fixtures of the edge tests: the shared file database and the Procfile's web process."""

from tests.processes import procfile_web, shared_db  # noqa: F401 - fixtures
