"""Secrets at rest (Daraja consumer keys and passkeys, SMS keys): Fernet, AES-128-CBC with an
HMAC, keyed from settings. Several keys may be configured, newest first: the newest encrypts,
all decrypt, and `mnetifi secrets rotate` re-encrypts every stored secret with the newest."""

from __future__ import annotations

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from api.config import get_settings


def derived_key(secret_key: str) -> bytes:
    """A Fernet key from the app's secret key, for deployments without encryption_keys."""
    raw = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"mnetifi secrets at rest"
    ).derive(secret_key.encode())
    return base64.urlsafe_b64encode(raw)


@lru_cache
def cipher() -> MultiFernet:
    settings = get_settings()
    if settings.encryption_keys is not None:
        keys = [k.strip() for k in settings.encryption_keys.get_secret_value().split(",")]
        keys = [k for k in keys if k]
    else:
        keys = [derived_key(settings.secret_key.get_secret_value()).decode()]
    if not keys:
        raise ValueError("MNETIFI_ENCRYPTION_KEYS holds no key")
    return MultiFernet([Fernet(k) for k in keys])


def encrypt(plaintext: str) -> str:
    return cipher().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return cipher().decrypt(token.encode()).decode()
    except InvalidToken:
        raise ValueError("a stored secret cannot be decrypted with the configured keys") from None


def reencrypt(token: str) -> str:
    """The same secret under the newest key."""
    return cipher().rotate(token.encode()).decode()
