"""Settings for the site ``lab_stampede`` starts: the real settings, plus one lab-only URL.

``ops/stampede_urls.py`` serves everything the site serves (same middleware,
templates, cache code) and adds ``/lab/stampede/<id>``, which must never be
reachable on a real deployment (it sleeps on purpose, to play an expensive query).
"""

from config.settings import *  # noqa: F403 - the real settings, one override below

ROOT_URLCONF = "ops.stampede_urls"
