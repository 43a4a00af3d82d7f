"""Settings of the Django project that makes the test fixtures (make_fixtures.py).

No server, no middleware: models, the auth app and a throw-away sqlite database. The user
model is Django's own `auth.User`, or `accounts.User` (email-based) when
DJANGO_FIXTURES_USER_MODEL=custom.
"""

import os
import tempfile

SECRET_KEY = "fixtures-only-not-a-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CUSTOM_USER = os.environ.get("DJANGO_FIXTURES_USER_MODEL") == "custom"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "shop",
]
# Installed only when it is the user model: beside auth.User its groups and
# user_permissions relations would clash with auth.User's.
if CUSTOM_USER:
    INSTALLED_APPS.append("accounts")
AUTH_USER_MODEL = "accounts.User" if CUSTOM_USER else "auth.User"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DJANGO_FIXTURES_DB")
        or os.path.join(tempfile.mkdtemp(prefix="django-fixtures-"), "db.sqlite3"),
    }
}

# Django 5.2's defaults first (PBKDF2-SHA256 at 1,000,000 iterations makes new passwords), then
# the others the fixtures use.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
    "django.contrib.auth.hashers.BCryptPasswordHasher",
    "django.contrib.auth.hashers.MD5PasswordHasher",
]
