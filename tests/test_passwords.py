"""Password hashing (pure): argon2 for new hashes, imported hashes verified and upgraded."""

from passlib.hash import bcrypt, sha512_crypt

from calserver.accounts import passwords


def test_new_hashes_are_argon2():
    assert passwords.hash_password("s3cret").startswith("$argon2")


def test_imported_hashes_verify_and_ask_for_an_argon2_replacement():
    for stored in (bcrypt.hash("s3cret"), sha512_crypt.hash("s3cret")):
        ok, replacement = passwords.verify("s3cret", stored)
        assert ok and replacement is not None and replacement.startswith("$argon2")
        assert passwords.verify("wrong", stored) == (False, None)


def test_long_password_against_bcrypt_is_cut_at_72_bytes_like_radicale():
    stored = bcrypt.hash("é" * 36)  # 72 bytes
    ok, replacement = passwords.verify("é" * 50, stored)
    assert ok and replacement is not None
    assert passwords.verify("x" * 100, stored) == (False, None)


def test_unknown_account_fails_like_a_wrong_password():
    assert passwords.verify("anything", None) == (False, None)
    assert passwords.verify("anything", "not-a-hash") == (False, None)
