"""Radicale auth plugin on the users table (``[auth] type = calserver.auth``).

Overrides ``_login_ext_with_groups`` (never ``login``, which Radicale wraps with name
normalisation and constant-time padding). Verified passwords are cached per process;
each cached login is re-checked against the user's ``auth_epoch`` (one indexed read),
so a password change or a disabled account takes effect at once in every process.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import re
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from radicale import auth as radicale_auth
from radicale import config as radicale_config

from calserver import db, keys, ops
from calserver.accounts import logins, passwords
from calserver.accounts.throttle import Throttle, ThrottlePolicy, known_key

#: fail2ban reads this logger; keep the message format stable:
#: ``calserver: authentication failure for user=<name> from=<address>``
security_log = logging.getLogger("calserver.security")

_UNSAFE = re.compile(r"[^\w.@+-]", re.UNICODE)


def _printable(value: str) -> str:
    """A login name as it may appear in a log line (no spaces, no control characters)."""
    return _UNSAFE.sub("?", value)[:100] or "-"


def client_address(context: radicale_auth.AuthContext) -> str:
    """The client's address; X-Remote-Addr is trusted only from a proxy on loopback."""
    remote = context.remote_addr or ""
    forwarded = (context.x_remote_addr or "").strip()
    if forwarded:
        try:
            if ipaddress.ip_address(remote).is_loopback:
                return forwarded
        except ValueError:
            pass
    return remote or "unknown"


@dataclass
class _Cached:
    digest: bytes
    epoch: int
    expires: float


#: The WSGI environ key of an in-process request that calserver's web app makes for the
#: user whose session it has verified (calserver.web.dav). No client can set it: a
#: request header reaches the environ as ``HTTP_*``.
SIGNED_IN = "calserver.signed_in"


class Auth(radicale_auth.BaseAuth):
    def __init__(self, configuration: radicale_config.Configuration) -> None:
        super().__init__(configuration)
        self._engine = db.engine_for(configuration)
        self._ttl = configuration.get("auth", "login_cache_ttl")
        self._key = keys.server_key(configuration)
        self._cache: dict[str, _Cached] = {}
        self._cache_lock = threading.Lock()
        # the password of an in-process signed-in login: never leaves this process
        self._in_process = secrets.token_hex(32)
        self._throttle = Throttle(
            self._engine,
            ThrottlePolicy(
                free_attempts=configuration.get("auth", "throttle_free_attempts"),
                address_free_attempts=configuration.get("auth", "throttle_address_free_attempts"),
                max_delay=configuration.get("auth", "throttle_max_delay"),
                window=configuration.get("auth", "throttle_window"),
            ),
        )

    def warm_up(self) -> None:
        """Compile the statements of a sign-in before the first request
        (``calserver.warmup``): the account's row and the throttle's counters."""
        logins.account(self._engine, "calserver-warm-up")  # a web app's sign-in
        keys = ["user:calserver-warm-up", "addr:127.0.0.1"]
        known = known_key("calserver-warm-up", "127.0.0.1")
        logins.account_and_failures(
            self._engine, "calserver-warm-up", list(Throttle.fitted(keys, known))
        )

    def get_external_login(self, environ: Mapping[str, Any]) -> tuple[()] | tuple[str, str]:
        """An in-process request of the web app (:data:`SIGNED_IN`) signs in its user;
        every other request signs in with HTTP Basic."""
        user = environ.get(SIGNED_IN)
        if isinstance(user, str) and user:
            return (user, self._in_process)
        return ()

    def _digest(self, login: str, password: str) -> bytes:
        message = login.encode("utf-8") + b"\0" + password.encode("utf-8")
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def _login_ext_with_groups(
        self, login: str, password: str, context: radicale_auth.AuthContext
    ) -> tuple[str, set[str]]:
        address = client_address(context)
        if hmac.compare_digest(password.encode(), self._in_process.encode()):
            # the web app verified the session of an enabled account just now
            row = logins.account(self._engine, login)
            return (str(row.name) if row is not None and not row.disabled else ""), set()
        if "\x00" in login or "\x00" in password:  # no such account can exist
            self._log_failure(login, address, throttled=False)
            return "", set()
        account, origin = "user:" + login, "addr:" + address
        known = known_key(login, address)
        # the account and the throttle's counters in one read (issue 15)
        row, failures = logins.account_and_failures(
            self._engine, login, list(Throttle.fitted([account, origin], known))
        )
        waiting = self._throttle.waiting_among(failures, [account, origin], known=known)
        # the account's counter does not hold back an address it signed in from lately
        # (calserver.accounts.throttle); same path whether or not the account exists
        if origin in waiting or (account in waiting and known not in waiting):
            self._log_failure(login, address, throttled=True)
            return "", set()
        user = self._check(login, password, known, account not in waiting, row)
        if not user:
            self._throttle.record_failure([account, origin])
            self._log_failure(login, address, throttled=False)
            return "", set()
        return user, set()

    def _check(self, login: str, password: str, known: str, forget_failures: bool, row: Any) -> str:
        """The user's name when ``password`` is theirs (``row``: their account, from
        ``logins.account``), else "". A verified password (not a cached one) is
        remembered for ``known`` (the account and address), and forgets the account's
        failures unless it got in while they held others back."""
        digest = self._digest(login, password)
        now = time.time()
        if row is not None and not row.disabled:
            with self._cache_lock:
                cached = self._cache.get(login)
            if (
                cached is not None
                and cached.epoch == row.auth_epoch
                and cached.expires > now
                and hmac.compare_digest(cached.digest, digest)
            ):
                return str(row.name)
            if (
                row.digest is not None
                and row.epoch == row.auth_epoch
                and row.expires > now
                and hmac.compare_digest(bytes.fromhex(row.digest), digest)
            ):
                self._remember(login, digest, row.auth_epoch, row.expires)
                return str(row.name)
        ok, new_hash = passwords.verify(password, row.password_hash if row is not None else None)
        if row is None or row.disabled or not ok:
            return ""
        # an imported bcrypt/crypt hash is stored as argon2 from now on; the login is cached
        keep = (digest.hex(), row.auth_epoch, now + self._ttl) if self._ttl else None
        logins.record_verified(self._engine, row.id, new_hash, keep)
        if forget_failures:
            self._throttle.clear("user:" + login)
        self._throttle.signed_in(known)
        self._remember(login, digest, row.auth_epoch, now + self._ttl)
        return str(row.name)

    def _remember(self, login: str, digest: bytes, epoch: int, expires: float) -> None:
        if self._ttl:
            with self._cache_lock:
                self._cache[login] = _Cached(digest, epoch, expires)

    def _log_failure(self, login: str, address: str, throttled: bool) -> None:
        security_log.warning(
            "calserver: authentication failure for user=%s from=%s%s",
            _printable(login),
            address,
            " (throttled)" if throttled else "",
        )
        ops.count_failed_login(throttled)
