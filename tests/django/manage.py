#!/usr/bin/env python3
"""Django's command line for the fixtures project (e.g. makemigrations after a model change:
DJANGO_FIXTURES_USER_MODEL=custom .tools/django/bin/python tests/django/manage.py makemigrations)."""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fixtureproject.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
