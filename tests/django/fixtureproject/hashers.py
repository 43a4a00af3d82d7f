"""Argon2i in Django's format: Django's Argon2PasswordHasher makes argon2id; a project that
subclassed it for argon2i (or ran Django before 3.2) stores `argon2$argon2i$...`, which
Django's own hasher still verifies."""

from django.contrib.auth.hashers import Argon2PasswordHasher


class Argon2iPasswordHasher(Argon2PasswordHasher):
    def params(self):
        argon2 = self._load_library()
        params = super().params()
        params.type = argon2.low_level.Type.I
        return params
