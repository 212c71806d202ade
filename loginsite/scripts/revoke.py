"""``loginsite-revoke CONFIG.ini [--sub SUB ...] [--jti JTI ...]``: end sessions from a shell.

For an operator who must cut off a user ("sign out everywhere" for a ``sub``) or one session
(a ``jti``) now, on every server. It reads the same INI file and environment variables as the
app, so it writes to the same Redis under the same key prefix. It only works with the redis
store: a memory store lives inside each app process and cannot be reached from here, and the
none store revokes nothing. It exits 0 only once every entry is stored in Redis.

Exit status: 0 revoked; 1 Redis unreachable or the write failed (nothing may have been revoked);
2 bad arguments, bad settings, or a store that cannot be revoked from another process.

Arguments are checked before anything is written, because a revocation of a value that can never
match a session would be reported as a success and end nothing: ``--sub`` must be a login.gov
subject (a UUID; login.gov issues them in lower case, so other cases are lowered) and ``--jti`` a
session id as loginsite mints them.

Every revocation asked for, done or not, is an ``operator.revoke`` event on the audit trail
(``loginsite.audit``) naming the operating-system user who ran the command (and ``SUDO_USER``
through sudo). The script applies the INI file's logging configuration, as ``pserve`` does, so
the events reach the same sink as the app's; an INI file without one sends them to stderr.
"""

from __future__ import annotations

import argparse
import logging
import os
import pwd
import re
import secrets
import sys
import time
from collections.abc import Sequence
from urllib.parse import urlsplit

from loginsite.operations import audit
from loginsite.revocation import revoke_session, revoke_user
from loginsite.revocation.redis import RedisRevocationStore
from loginsite.scripts.ini import ConfigFileError, load_ini
from loginsite.settings import AppSettings, SettingsError, app_settings

#: How long to wait for Redis (connect and load, then write), in multiples of redis_timeout.
WAIT_FACTOR = 5


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="loginsite-revoke",
        description="Revoke sessions on every server sharing the Redis revocation store.",
    )
    parser.add_argument("config_uri", metavar="CONFIG.ini", help="the app's INI file")
    parser.add_argument(
        "--sub",
        action="extend",
        nargs="+",
        default=[],
        help="end every session this user has now: the login.gov subject, a UUID (the "
        'account page\'s "Login.gov user ID", sub= in the auth.* log events)',
    )
    parser.add_argument(
        "--jti",
        action="extend",
        nargs="+",
        default=[],
        help="end this one session: its 22-character session id (session_id= in the "
        "auth.signed_in and auth.signed_out log events)",
    )
    return parser


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
#: ``secrets.token_urlsafe(16)``, as the session codec mints ``jti``.
_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{22}")
_WHERE_SUB = (
    'It is shown on the user\'s account page as "Login.gov user ID" and logged as sub= in '
    "the auth.signed_in and auth.signed_out events."
)
_WHERE_JTI = (
    "It is logged as session_id= in the auth.signed_in and auth.signed_out events; to end "
    "every session of a user, use --sub instead."
)


class BadArgument(ValueError):
    """An argument that could never match a session; the message says what was expected."""


def normalised_sub(value: str) -> str:
    """login.gov's ``sub``: a UUID, in lower case as login.gov issues it."""
    text = value.strip().lower()
    if _UUID.fullmatch(text):
        return text
    if "@" in value:
        raise BadArgument(
            f"--sub {value!r} is an email address, but sessions are keyed by the login.gov "
            f"subject, a UUID such as 6f1c1b52-8a6e-4d0b-9a53-2b6f7d3c2e11. {_WHERE_SUB}"
        )
    raise BadArgument(
        f"--sub {value!r} is not a login.gov subject: expected a UUID (32 hexadecimal digits "
        f"as 8-4-4-4-12, e.g. 6f1c1b52-8a6e-4d0b-9a53-2b6f7d3c2e11). {_WHERE_SUB}"
    )


def checked_session_id(value: str) -> str:
    """A session id exactly as minted: case matters, so nothing is normalised but spaces."""
    text = value.strip()
    if _SESSION_ID.fullmatch(text):
        return text
    raise BadArgument(
        f"--jti {value!r} is not a session id: expected 22 characters of letters, digits, "
        f"'-' and '_'. {_WHERE_JTI}"
    )


def _load_settings(config_uri: str) -> AppSettings:
    try:
        ini = load_ini(config_uri)
    except ConfigFileError as exc:
        raise SettingsError("CONFIG.ini", str(exc)) from None
    return app_settings(ini)


def _where(url: str) -> str:
    """The Redis address without any password in the URL."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 6379}" if parts.hostname else parts.path


def _start_logging(config_uri: str) -> None:
    """The INI file's logging configuration, as pserve applies it; without one, stderr."""
    import plaster

    loader = plaster.get_loader(config_uri, protocols=["wsgi"])
    if "loggers" in loader.get_sections():
        loader.setup_logging()
    else:
        logging.basicConfig(format="%(levelname)s [%(name)s] %(message)s")
        logging.getLogger(audit.AUDIT_LOGGER).setLevel(logging.INFO)


def _operator() -> dict[str, object]:
    """Who ran the command: the effective user (not $USER, which anyone can set), and the
    user sudo says invoked it."""
    uid = os.geteuid()
    try:
        name: str | None = pwd.getpwuid(uid).pw_name
    except KeyError:  # a uid with no passwd entry (a container)
        name = None
    return {"os_user": name, "os_uid": uid, "sudo_user": os.environ.get("SUDO_USER") or None}


def _audit_all(
    subs: Sequence[str], session_ids: Sequence[str], outcome: str, reason: str, **fields: object
) -> None:
    """One ``operator.revoke`` event per revocation asked for, sharing one run id."""
    origin = audit.Origin(component="loginsite-revoke", request_id=_RUN_ID)
    who = _operator()
    for sub in subs:
        audit.record(
            "operator.revoke", outcome, reason, origin, sub=sub, scope="user", **who, **fields
        )
    for jti in session_ids:
        audit.record(
            "operator.revoke", outcome, reason, origin, sid=jti, scope="session", **who, **fields
        )


#: Ties together the events of one run of the command, as a request id does for a request.
_RUN_ID = secrets.token_hex(8)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help or a usage error, already printed
        return int(exc.code or 0)
    if not args.sub and not args.jti:
        parser.print_usage(sys.stderr)
        print("loginsite-revoke: error: give at least one --sub or --jti", file=sys.stderr)
        return 2
    try:
        subs = [normalised_sub(value) for value in args.sub]
        session_ids = [checked_session_id(value) for value in args.jti]
    except BadArgument as exc:
        print(f"loginsite-revoke: error: {exc} Nothing was revoked.", file=sys.stderr)
        return 2
    try:
        settings = _load_settings(args.config_uri)
    except SettingsError as exc:
        print(f"loginsite-revoke: {exc}", file=sys.stderr)
        return 2
    try:
        _start_logging(args.config_uri)
    except Exception as exc:  # a broken [loggers] section: the audit trail would be lost
        print(
            f"loginsite-revoke: cannot apply the logging configuration of {args.config_uri}: "
            f"{exc}. Nothing was revoked.",
            file=sys.stderr,
        )
        return 2
    revocation = settings.revocation
    if revocation.store != "redis":
        _audit_all(subs, session_ids, audit.FAILURE, "store_not_shared", detail=revocation.store)
    if revocation.store == "memory":
        print(
            "loginsite-revoke: loginsite.revocation.store is memory: each app process keeps its "
            "own list, which another process cannot reach. Revoking from the command line only "
            "works with loginsite.revocation.store = redis.",
            file=sys.stderr,
        )
        return 2
    if revocation.store != "redis":
        print(
            f"loginsite-revoke: loginsite.revocation.store is {revocation.store}: sessions "
            "cannot be revoked at all. Use loginsite.revocation.store = redis.",
            file=sys.stderr,
        )
        return 2
    if revocation.redis_url is not None:
        where = _where(revocation.redis_url)
    else:
        where = f"the Sentinels' master {revocation.sentinel_master}"
    wait = revocation.redis_timeout * WAIT_FACTOR
    # No journal: the script reports success only once Redis holds every entry.
    store = RedisRevocationStore(revocation, initial_wait=0, use_journal=False)
    try:
        if not store.wait_until_synced(wait):
            _audit_all(subs, session_ids, audit.FAILURE, "redis_unreachable")
            message = f"cannot reach Redis at {where}: nothing was revoked"
            print(f"loginsite-revoke: {message}", file=sys.stderr)
            return 1
        now = time.time()
        max_age = settings.session.max_age
        for sub in subs:
            revoke_user(store, sub, max_age=max_age, now=now)
        for jti in session_ids:
            revoke_session(store, jti, expires_at=int(now) + max_age + 1)
        if not store.wait_until_written(wait):
            _audit_all(subs, session_ids, audit.FAILURE, "not_confirmed")
            print(
                f"loginsite-revoke: could not write to Redis at {where}: "
                f"{store.pending_writes} revocation(s) were NOT recorded; run again",
                file=sys.stderr,
            )
            return 1
    finally:
        store.close()
    _audit_all(subs, session_ids, audit.SUCCESS, "revoked")
    for sub in subs:
        print(f"revoked every session of sub {sub} signed in up to now")
    for jti in session_ids:
        print(f"revoked session {jti}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
