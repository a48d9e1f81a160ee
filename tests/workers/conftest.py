"""Worker and web processes next to the test process (``tests/processes.py``)."""

from tests.processes import clean_db, shared_db, start_worker, web_server  # noqa: F401 - fixtures
