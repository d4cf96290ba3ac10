"""Password hashing: argon2 for new hashes; bcrypt, sha512-crypt, sha256-crypt and apr1
(what Radicale's htpasswd files hold) are verified and upgraded at the next login."""

from __future__ import annotations

from functools import cache

from passlib.context import CryptContext

context = CryptContext(
    schemes=["argon2", "bcrypt", "sha512_crypt", "sha256_crypt", "apr_md5_crypt", "md5_crypt"],
    default="argon2",
    deprecated=["bcrypt", "sha512_crypt", "sha256_crypt", "apr_md5_crypt", "md5_crypt"],
)


@cache
def _dummy_hash() -> str:
    """Verified against when the account does not exist, so that an unknown user costs
    the same time as a wrong password. Made at the first use, not at import: every
    command-line process imports this module, and an argon2 hash costs 0.2 s."""
    return context.hash("calserver-dummy-password")


def warm_up() -> None:
    """Make the dummy hash before a server answers its first login (calserver.warmup),
    so that the first unknown user costs what the next ones cost."""
    _dummy_hash()


def hash_password(password: str) -> str:
    return context.hash(password)


def is_known_hash(value: str) -> bool:
    return context.identify(value) is not None


def verify(password: str, stored: str | None) -> tuple[bool, str | None]:
    """Check ``password``; returns (ok, replacement hash when the stored one is outdated).
    ``stored=None`` (no such account) burns the same time and fails."""
    if not stored or not is_known_hash(stored):
        context.verify(password, _dummy_hash())
        return False, None
    try:
        ok, new_hash = context.verify_and_update(password, stored)
    except ValueError:
        # bcrypt only reads 72 bytes; bcrypt 5 refuses longer input where Radicale's
        # htpasswd (and bcrypt 4) cut it, so cut it here as they did.
        if context.identify(stored) != "bcrypt":
            return False, None
        cut = password.encode("utf-8")[:72].decode("utf-8", "ignore")
        ok, new_hash = context.verify_and_update(cut, stored)
        if ok:  # rehash the whole password, not the cut one
            new_hash = hash_password(password)
    return bool(ok), new_hash
