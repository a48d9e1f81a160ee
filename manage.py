#!/usr/bin/env python
"""Django's command-line utility."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from config.env import load_run_env

    # While `make run` runs, a command typed in another terminal uses the Redis and database it chose
    # (var/run.env); anything set in the environment wins.
    load_run_env()
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
