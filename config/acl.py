"""The Redis users of a deployment: ``app`` with least privilege, ``admin`` for people and labs, ``default`` off.

Every part of the app (web, stream workers, Celery, the channel layer)
connects as ``app``.  Its rights are what the app uses and nothing more:

- **commands**: the command categories of what the test suite sends as
  ``app`` (``+@hash +@stream ...``), minus ``@dangerous`` and ``@admin``, plus
  the few single commands it needs beyond those (``INFO``, ``TIME``),
  minus what no app may run whatever a category says (``FLUSHALL``, ``KEYS``,
  ``CONFIG``, ``DEBUG``, ``SCRIPT FLUSH``, ``FUNCTION FLUSH``/``DELETE`` ...).
  They are generated (``REDIS_ACL_LEARN=1 make test`` records what ``app``
  sends and rewrites ``acl_app_commands.txt``) and checked on every run: a
  test the app user was refused for fails, naming the command and the key.
- **keys**: one pattern per family of the key registry (``config.keyspace``:
  ``lb:{*}:best``, ``cart:*`` ...) under ``REDIS_KEY_PREFIX``, plus the names
  the libraries build (Celery's, the channel layer's).  A family declared in
  any app's ``keys.py`` is allowed with it: nothing to regenerate for keys.
- **channels**: the pub/sub channels of the registry (``type="channel"``) and
  Celery's.

``admin`` has every right (``redis-cli --user admin``; the labs); ``default``
(what a client gets without ``AUTH``) is off.  Passwords are never committed:
``users_file`` writes their SHA-256 (``#<hex>``), and the plain ones come from
the environment or are generated into ``var/redis/`` at first run
(``manage.py redis_acl local``, called by ``scripts/run.sh``).
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from collections.abc import Iterable
from pathlib import Path

COMMANDS_FILE = Path(__file__).with_name("acl_app_commands.txt")

APP_USER = "app"
ADMIN_USER = "admin"

#: Never for the app, whatever its categories allow (appended last, so they win).
#: ``MODULE LIST`` is allowed (the shop asks once which Stack modules the server has), not the rest of MODULE.
#: ``SORT`` is allowed (the tag pages read a stored result with ``SORT ... LIMIT``): it is in ``@dangerous``
#: for its ``BY``/``GET`` patterns, which Redis 7 refuses to a user without access to every key, as ``app`` is.
DENIED = ("flushall", "flushdb", "keys", "config", "debug", "shutdown", "monitor", "save", "bgsave",
          "bgrewriteaof", "replicaof", "slaveof", "failover", "cluster", "migrate", "restore", "swapdb", "move",
          "acl", "module|load", "module|loadex", "module|unload", "sync", "psync", "script|flush", "script|kill", "function|flush", "function|delete",
          "function|restore", "function|kill", "client|kill", "client|pause")

#: Categories never granted as a whole: they hold the commands above.
DENIED_CATEGORIES = ("dangerous", "admin")

#: The data-type and protocol categories a command may be granted through.
GRANTABLE_CATEGORIES = ("string", "hash", "list", "set", "sortedset", "stream", "bitmap", "hyperloglog", "geo",
                        "pubsub", "scripting", "transaction", "connection", "keyspace")


def library_key_patterns(prefix: str) -> list[str]:
    """Key names the libraries build (not in the registry): Celery's broker keys, the channel layer's, the cache's.

    The prefixes are the ones ``config/settings.py`` gives them
    (``CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"]``, the channel
    layer's ``prefix``, the cache's ``KEY_PREFIX``).
    """
    p = f"{prefix}:" if prefix else ""
    return [f"{p}celery:*", f"{p}asgi*", f"{p}cache:*"]


def library_channel_patterns(prefix: str, db: int = 0) -> list[str]:
    """Pub/sub channels Celery uses: remote control (``pidbox``) and events (``celeryev``).

    ``PSUBSCRIBE`` is allowed only for a pattern listed *literally*, so
    kombu's two subscription patterns are listed as kombu writes them
    (``/<db>.<exchange>``); ``PUBLISH`` matches the glob.
    """
    p = f"{prefix}:" if prefix else ""
    return [f"{p}celery:/*", f"{p}celery:/{db}.celery.pidbox", f"{p}celery:/{db}.celeryev/worker.*"]


def command_rules(path: Path = COMMANDS_FILE) -> list[str]:
    """The app user's command rules, in order (comments and blank lines skipped)."""
    lines = path.read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def _glob(pattern: str) -> str:
    """A registry pattern (``lb:{<board>}:best``) as an ACL key glob (``lb:{*}:best``)."""
    escaped = pattern.replace("\\", "\\\\").replace("[", "\\[").replace("?", "\\?")
    return re.sub(r"<[^>]*>", "*", escaped)


def key_patterns(prefix: str, families: Iterable[tuple[str, str]]) -> list[str]:
    """``~`` patterns for ``(pattern, type)`` families of the registry, under ``prefix``, and the libraries'."""
    p = f"{prefix}:" if prefix else ""
    globs = sorted({p + _glob(pattern) for pattern, kind in families if kind != "channel"})
    return [*globs, *library_key_patterns(prefix)]


def channel_patterns(prefix: str, families: Iterable[tuple[str, str]], db: int = 0) -> list[str]:
    """``&`` patterns: the registry's channels under ``prefix``, and the libraries' (Celery's on database ``db``)."""
    p = f"{prefix}:" if prefix else ""
    globs = sorted({p + _glob(pattern) for pattern, kind in families if kind == "channel"})
    return [*globs, *library_channel_patterns(prefix, db)]


def broker_db() -> int:
    """The database number of Celery's broker URL (its channel names carry it)."""
    from urllib.parse import urlsplit

    from django.conf import settings

    path = urlsplit(getattr(settings, "CELERY_BROKER_URL", "") or "").path.strip("/")
    return int(path) if path.isdigit() else 0


def registry_families() -> list[tuple[str, str]]:
    """``(pattern, type)`` of every declared key family (needs Django's apps loaded)."""
    from config.keyspace import families

    return [(f.pattern, f.type) for f in families()]


def app_rules(prefix: str, families: Iterable[tuple[str, str]] | None = None, *, learn: bool = False) -> str:
    """The app user's rules after ``user app on <password>``.

    ``learn=True``: every command, key and channel (the learning run records
    what the app actually sends, so it must not be refused anything).
    """
    if learn:
        return "resetkeys resetchannels ~* &* +@all"
    db = 0 if families is not None else broker_db()
    families = list(families if families is not None else registry_families())
    parts = ["resetkeys", "resetchannels", "-@all"]
    parts += [f"~{p}" for p in key_patterns(prefix, families)]
    parts += [f"&{c}" for c in channel_patterns(prefix, families, db)]
    parts += command_rules()
    parts += [f"-{c}" for c in DENIED]
    return " ".join(parts)


def generate_command_rules(observed: set[str], members: dict[str, set[str]]) -> tuple[list[str], set[str]]:
    """The app user's command rules from the commands it was seen sending (``name`` or ``name|subcommand``).

    ``members``: ``ACL CAT <category>`` of each category (lower case).
    Returns the rules (``+@<category>`` for each grantable category holding
    an observed command, ``-@dangerous -@admin``, then ``+<command>`` for each
    observed command those took away) and the observed commands that are
    never granted (``DENIED``: reported, not allowed).
    """
    def denied(cmd: str) -> bool:
        return cmd in DENIED or cmd.split("|")[0] in DENIED

    refused = {c for c in observed if denied(c)}
    wanted = observed - refused
    categories = [cat for cat in GRANTABLE_CATEGORIES if wanted & members.get(cat, set())]
    granted = set().union(*(members.get(cat, set()) for cat in categories))
    granted -= set().union(*(members.get(cat, set()) for cat in DENIED_CATEGORIES))
    extra = sorted(c for c in wanted if c not in granted)
    rules = [f"+@{cat}" for cat in categories] + [f"-@{cat}" for cat in DENIED_CATEGORIES] + [f"+{c}" for c in extra]
    return rules, refused


def render_command_rules(rules: list[str], counts: dict[str, int] | None = None) -> str:
    """The text of ``acl_app_commands.txt``."""
    seen = ", ".join(sorted(counts)) if counts else ""
    head = [
        "# The app user's command rules, in order (config/acl.py adds the key and channel patterns and the",
        "# never-granted commands). Generated by `REDIS_ACL_LEARN=1 make test` from what the test suite sent",
        "# as the app user: the categories of those commands, minus @dangerous and @admin, plus the single",
        "# commands that took away. Do not edit by hand: run the suite in learning mode again.",
    ]
    if seen:
        wrapped, line = [], "# seen:"
        for name in seen.split(", "):
            if len(line) + len(name) + 2 > 110:
                wrapped.append(line)
                line = "#"
            line += f" {name}"
        wrapped.append(line)
        head += wrapped
    return "\n".join([*head, *rules, ""])


def password_hash(password: str) -> str:
    """The form an ACL file stores a password in: ``#`` + its SHA-256 (the file never holds the password)."""
    return "#" + hashlib.sha256(password.encode()).hexdigest()


def users_file(*, app_password: str, admin_password: str, prefix: str, default_user: str = "off",
               families: Iterable[tuple[str, str]] | None = None, learn: bool = False) -> str:
    """The text of a Redis ``aclfile``: ``default`` (off), ``admin`` (everything), ``app`` (least privilege).

    ``default_user="on"``: the test suite's own server only, where ``default``
    plays the admin for fixtures and pattern tests (the app still connects as
    ``app``).
    """
    default = ("user default on nopass ~* &* +@all" if default_user == "on"
               else "user default off resetkeys resetchannels -@all")
    # No comment lines: an aclfile allows none (Redis refuses to start).
    return "\n".join([
        default,
        f"user {ADMIN_USER} on {password_hash(admin_password)} ~* &* +@all",
        f"user {APP_USER} on {password_hash(app_password)} {app_rules(prefix, families, learn=learn)}",
        "",
    ])


def local_passwords(directory: Path) -> dict[str, str]:
    """The app and admin passwords: ``REDIS_APP_PASSWORD``/``REDIS_ADMIN_PASSWORD``, else files in ``directory``.

    A missing file is created with a random password (mode 600) on first use,
    so ``make run`` works with no setup and nothing secret is committed.
    """
    directory.mkdir(parents=True, exist_ok=True)
    out = {}
    for user, env in ((APP_USER, "REDIS_APP_PASSWORD"), (ADMIN_USER, "REDIS_ADMIN_PASSWORD")):
        value = os.environ.get(env, "")
        path = directory / f"{user}.password"
        if not value and path.exists():
            value = path.read_text().strip()
        if not value:
            value = secrets.token_hex(24)
            path.touch(mode=0o600)
            path.write_text(value + "\n")
        out[user] = value
    return out


def write_users_file(path: Path, text: str) -> Path:
    """Write an ACL file readable by its owner only (it holds password hashes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(text)
    return path
