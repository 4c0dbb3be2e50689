"""Secrets at rest, token hashing and random tokens.

Secrets (TOTP seeds, integration credentials) are encrypted with keys derived from
``PATRON_SECRET_KEY``; keys listed in ``PATRON_OLD_SECRET_KEYS`` still decrypt, so the
secret key can be rotated and values re-encrypted at leisure.
"""

from __future__ import annotations

import base64
import hashlib
import secrets

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from patron.config import Settings


def _fernet(secret: str) -> Fernet:
    derived = hashlib.sha256(b"patron-secret-box:" + secret.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(derived))


class SecretBox:
    def __init__(self, settings: Settings) -> None:
        keys = [settings.secret_key, *settings.old_secret_keys]
        self._fernet = MultiFernet([_fernet(key.get_secret_value()) for key in keys])

    def encrypt(self, plaintext: str) -> bytes:
        return self._fernet.encrypt(plaintext.encode())

    def decrypt(self, ciphertext: bytes) -> str:
        try:
            return self._fernet.decrypt(ciphertext).decode()
        except InvalidToken as error:
            raise ValueError("secret cannot be decrypted with the configured keys") from error

    def rotate(self, ciphertext: bytes) -> bytes:
        return self._fernet.rotate(ciphertext)


def random_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def token_hash(token: str) -> bytes:
    """Lookup hash for high-entropy tokens (sessions, links, API keys)."""
    return hashlib.sha256(token.encode()).digest()
