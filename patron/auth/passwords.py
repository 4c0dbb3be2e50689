"""Password hashing (argon2id) and the password policy."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from zxcvbn import zxcvbn

from patron.errors import InvalidInput

MIN_LENGTH = 10
MAX_LENGTH = 256
MIN_STRENGTH = 2  # zxcvbn score 0..4; below 2 means guessable in well under a day offline

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Verifying an unknown account against this keeps the response time of a miss equal to a hit.
_DUMMY_HASH = _hasher.hash("patron-timing-equaliser")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def check_password_policy(password: str, *, user_inputs: tuple[str, ...] = ()) -> None:
    """Raise ``InvalidInput`` (code ``weak_password``) with advice when a password is refused."""
    if len(password) < MIN_LENGTH:
        raise InvalidInput(
            f"Use at least {MIN_LENGTH} characters.",
            code="weak_password",
            details=[{"field": "password", "message": f"shorter than {MIN_LENGTH} characters"}],
        )
    if len(password) > MAX_LENGTH:
        raise InvalidInput(
            f"Use at most {MAX_LENGTH} characters.",
            code="weak_password",
            details=[{"field": "password", "message": f"longer than {MAX_LENGTH} characters"}],
        )
    inputs = [part for value in user_inputs for part in value.replace("@", " ").split() if part]
    result = zxcvbn(password[:100], user_inputs=inputs)
    if result["score"] < MIN_STRENGTH:
        feedback = result["feedback"]
        advice = " ".join([feedback.get("warning") or "", *feedback.get("suggestions", [])])
        raise InvalidInput(
            "This password is too easy to guess. " + (advice.strip() or "Try a longer passphrase."),
            code="weak_password",
            details=[{"field": "password", "message": "too common or too easy to guess"}],
        )
