#!/usr/bin/env python3
"""Makes the Django test fixtures: `make_fixtures.py OUTDIR` (run by `make django-fixtures` with
the Django of .tools/django).

Real Django makes every byte: users with each password hasher, groups with permissions, direct
permissions, a superuser, staff, inactive and unusable accounts, a user without email, a
duplicate and an invalid address; then `dumpdata` writes them as a project would export them.

OUTDIR/default/  Django's auth.User
    natural.json, natural.jsonl  dumpdata auth.User auth.Group auth.Permission
                                 --natural-foreign --natural-primary (json, jsonl)
    pk.json, pk.jsonl            the same without natural keys, plus contenttypes.ContentType
    expected.json                one object per user (below)
OUTDIR/custom/   accounts.User, an email-based custom user model
    natural.json                 dumpdata accounts.User auth.Group auth.Permission (natural keys)
    expected.json

expected.json: [{"case", "username" (null for the custom model), "email" (as stored, "" when
none), "password" (the plaintext, null when unusable), "algorithm" (the hash's prefix as Django
names it; "!" when unusable), "is_active", "is_staff", "is_superuser", "groups" (names, sorted),
"permissions" (sorted(user.get_all_permissions()): what Django itself answers), "joined"}].

Each model runs in a process of its own (AUTH_USER_MODEL is fixed once Django is set up), with
its own sqlite database in a temporary directory. Passwords are random per run.
"""

import datetime
import hashlib
import json
import os
import secrets
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    if len(sys.argv) == 3 and sys.argv[1] in ("--default", "--custom"):
        make(sys.argv[1][2:], sys.argv[2])
        return
    if len(sys.argv) != 2:
        sys.exit("usage: make_fixtures.py OUTDIR")
    out = sys.argv[1]
    for model in ("default", "custom"):
        with tempfile.TemporaryDirectory(prefix="django-fixtures-") as tmp:
            env = dict(
                os.environ,
                DJANGO_SETTINGS_MODULE="fixtureproject.settings",
                DJANGO_FIXTURES_USER_MODEL=model,
                DJANGO_FIXTURES_DB=os.path.join(tmp, "db.sqlite3"),
                PYTHONDONTWRITEBYTECODE="1",
            )
            subprocess.run(
                [sys.executable, os.path.abspath(__file__), "--" + model, os.path.join(out, model)],
                env=env,
                check=True,
            )


def password():
    """A strong random password (about 130 bits), different for every user and run."""
    return "Dj-" + secrets.token_urlsafe(16)


def make(model, out):
    sys.path.insert(0, HERE)
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import identify_hasher, make_password, verify_password
    from django.contrib.auth.models import Group, Permission
    from django.core.management import call_command

    from fixtureproject.hashers import Argon2iPasswordHasher

    call_command("migrate", verbosity=0, interactive=False)
    os.makedirs(out, exist_ok=True)
    User = get_user_model()

    def perm(name):
        app_label, codename = name.split(".")
        return Permission.objects.get(content_type__app_label=app_label, codename=codename)

    sales = Group.objects.create(name="Sales")
    sales.permissions.set([perm(p) for p in ("shop.view_order", "shop.add_order", "shop.ship_order")])
    accounting = Group.objects.create(name="Accounting")
    accounting.permissions.set(
        [perm(p) for p in ("shop.view_order", "shop.view_invoice", "shop.change_invoice")]
    )
    groups = {"Sales": sales, "Accounting": accounting}

    expected = []
    joined = datetime.datetime(2021, 3, 1, 9, 30, tzinfo=datetime.timezone.utc)

    def user(case, email, *, username=None, hasher="default", raw_hash=None, usable=True,
             active=True, staff=False, superuser=False, in_groups=(), perms=(), name=""):
        nonlocal joined
        joined += datetime.timedelta(days=17, seconds=3671)
        plain = password() if usable else None
        if model == "default":
            u = User(username=username, email=email, first_name=name.partition(" ")[0],
                     last_name=name.partition(" ")[2], date_joined=joined)
        else:
            u = User(email=email, name=name, created_at=joined, favourite_colour="teal")
        u.is_active, u.is_staff, u.is_superuser = active, staff, superuser
        if not usable:
            u.set_unusable_password()
        elif raw_hash is not None:
            # Legacy forms Django 5.2 no longer makes, stored as an old install has them.
            u.password = raw_hash(plain)
        else:
            u.password = make_password(plain, hasher=hasher)
        u.save()
        u.groups.set([groups[g] for g in in_groups])
        u.user_permissions.set([perm(p) for p in perms])
        u = User.objects.get(pk=u.pk)  # permissions are cached per instance: read afresh
        if usable and raw_hash is None:
            ok, _ = verify_password(plain, u.password)
            assert ok, f"Django does not verify its own {case} hash"
        if not usable:
            algorithm = "!"
        elif raw_hash is not None:
            algorithm = case
        else:
            algorithm = identify_hasher(u.password).algorithm
        expected.append({
            "case": case,
            "username": username if model == "default" else None,
            "email": u.email,
            "password": plain,
            "algorithm": algorithm,
            "is_active": u.is_active,
            "is_staff": u.is_staff,
            "is_superuser": u.is_superuser,
            "groups": sorted(g.name for g in u.groups.all()),
            "permissions": sorted(u.get_all_permissions()),
            # As dumpdata writes it (DjangoJSONEncoder).
            "joined": joined.isoformat().replace("+00:00", "Z"),
        })

    if model == "default":
        user("pbkdf2_sha256", "Ada.Lovelace@Example.com", username="ada", hasher="pbkdf2_sha256",
             in_groups=("Sales", "Accounting"), name="Ada Lovelace")
        user("pbkdf2_sha1", "Blaise.Pascal@EXAMPLE.org", username="blaise", hasher="pbkdf2_sha1",
             in_groups=("Accounting",))
        user("argon2id", "Carl.Gauss@Example.com", username="carl", hasher="argon2",
             perms=("shop.delete_invoice",), name="Carl Gauss")
        user("argon2i", "Dorothy.Vaughan@example.COM", username="dorothy",
             hasher=Argon2iPasswordHasher())
        user("bcrypt_sha256", "Emmy.Noether@Example.com", username="emmy", hasher="bcrypt_sha256",
             in_groups=("Sales",), perms=("shop.add_invoice", "shop.view_order"))
        user("bcrypt", "Felix.Klein@Example.com", username="felix", hasher="bcrypt")
        user("scrypt", "Grace.Hopper@Example.com", username="grace", hasher="scrypt",
             perms=("shop.view_invoice",))
        user("md5", "Hedy.Lamarr@Example.com", username="hedy", hasher="md5")
        user("unsalted_md5", "Ida.Rhodes@Example.com", username="ida",
             raw_hash=lambda p: hashlib.md5(p.encode()).hexdigest())
        user("sha1", "Joan.Clarke@Example.com", username="joan",
             raw_hash=lambda p: "sha1$%s$%s" % ("x7Kq2", hashlib.sha1(("x7Kq2" + p).encode()).hexdigest()))
        user("superuser", "Root.Admin@Example.com", username="root", superuser=True, staff=True)
        user("staff", "Kay.Staff@Example.com", username="kay", staff=True)
        user("inactive", "Lise.Meitner@Example.com", username="lise", active=False,
             in_groups=("Sales",))
        user("unusable", "Mary.Unusable@Example.com", username="mary", usable=False)
        user("no_email", "", username="Nikola_T", in_groups=("Sales",))
        user("duplicate", " ada.LOVELACE@example.COM", username="ada2")
        user("invalid_email", "not-an-email", username="olga")
        dumps = [
            ("natural.json", "json", True), ("natural.jsonl", "jsonl", True),
            ("pk.json", "json", False), ("pk.jsonl", "jsonl", False),
        ]
        labels = ["auth.User", "auth.Group", "auth.Permission"]
    else:
        user("pbkdf2_sha256", "Quinn.Custom@Example.com", name="Quinn Custom")
        user("group_and_direct", "Rosa.Custom@EXAMPLE.com", name="Rosa Custom", hasher="argon2",
             in_groups=("Accounting",), perms=("shop.delete_order",))
        user("superuser", "Sam.Super@Example.com", name="Sam Super", hasher="bcrypt_sha256",
             superuser=True, staff=True)
        user("inactive", "Tess.Inactive@Example.com", name="Tess Inactive", hasher="scrypt",
             active=False)
        dumps = [("natural.json", "json", True)]
        labels = ["accounts.User", "auth.Group", "auth.Permission"]

    for name, fmt, natural in dumps:
        call_command(
            "dumpdata",
            *(labels if natural else labels + ["contenttypes.ContentType"]),
            format=fmt,
            natural_foreign=natural,
            natural_primary=natural,
            output=os.path.join(out, name),
            verbosity=0,
        )
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
