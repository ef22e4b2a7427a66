"""Subscribers' passwords at rest.

PAP and CHAP need the password itself at the RADIUS server (CHAP hashes it with the router's
challenge), and MS-CHAP needs it or its NT hash (unsalted MD4: as good as the password for
MS-CHAP). So a one-way hash cannot serve all four methods; the password is stored encrypted
(AES-256-CBC, a random IV per value, the IV first) under a key the database never holds:

- the API holds it (MNETIFI_RADIUS_PASSWORD_KEY) and encrypts here, in Python, so the key never
  travels to PostgreSQL with a query from the API either;
- FreeRADIUS holds it (rendered into its sql module's open_query, a file only it reads) and sets
  it on each of its own connections as the session setting `mnetifi.password_key`;
  radius_authorize() decrypts with pgcrypto in the same single query as before.

Threat model. A database dump, a stolen backup, a replica or a read-only SQL injection yields
ciphertext only. Whoever holds the key as well (the FreeRADIUS or API host, its configuration
or environment) can read every password, as FreeRADIUS must to answer CHAP and MS-CHAP; the
FreeRADIUS role can still only call the RADIUS functions (it cannot list subscribers). Not
protected against: a PostgreSQL configured to log every statement (log_statement = 'all'
would log the open_query with the key: keep it at 'ddl' or lower), and a superuser reading
another session's memory. Rotation: a new key means re-encrypting every row with it and
rendering FreeRADIUS with it at the same time (not automated yet)."""

from __future__ import annotations

import os
import secrets
import string

from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from api.config import get_settings

IV_BYTES = 16
# Letters and digits without the ones people misread (0/O, 1/l/I): typed on a CPE or a phone.
_ALPHABET = "".join(c for c in string.ascii_letters + string.digits if c not in "0O1lI")
GENERATED_LENGTH = 12


def key() -> bytes:
    """The 32-byte key: MNETIFI_RADIUS_PASSWORD_KEY, or (development only) one derived from the
    secret key."""
    settings = get_settings()
    if settings.radius_password_key is not None:
        return bytes.fromhex(settings.radius_password_key.get_secret_value())
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"mnetifi subscriber passwords"
    ).derive(settings.secret_key.get_secret_value().encode())


def encrypt(password: str, *, with_key: bytes | None = None) -> bytes:
    """IV ‖ AES-256-CBC(PKCS#7(password)), what radius_authorize() decrypts."""
    iv = os.urandom(IV_BYTES)
    padder = padding.PKCS7(128).padder()
    data = padder.update(password.encode()) + padder.finalize()
    encryptor = Cipher(algorithms.AES(with_key or key()), modes.CBC(iv)).encryptor()
    return iv + encryptor.update(data) + encryptor.finalize()


def decrypt(blob: bytes, *, with_key: bytes | None = None) -> str:
    decryptor = Cipher(algorithms.AES(with_key or key()), modes.CBC(blob[:IV_BYTES])).decryptor()
    data = decryptor.update(blob[IV_BYTES:]) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    return (unpadder.update(data) + unpadder.finalize()).decode()


def generate() -> str:
    """A password for a subscriber, from the CSPRNG (about 68 bits)."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(GENERATED_LENGTH))
