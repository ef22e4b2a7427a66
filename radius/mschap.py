"""MS-CHAPv1 (RFC 2433) and MS-CHAPv2 (RFC 2759) responses, as a RouterOS PPPoE server puts
them in an Access-Request: for the tests and the bench, which play the router.

MD4 is written out here (OpenSSL 3 leaves it out of hashlib unless its legacy provider is
loaded); DES is cryptography's TripleDES with the 8-byte key three times (= single DES)."""

from __future__ import annotations

import hashlib
import os
import struct

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes

_MASK = 0xFFFFFFFF


def _rotl(x: int, n: int) -> int:
    return ((x << n) | (x >> (32 - n))) & _MASK


def md4(data: bytes) -> bytes:
    """RFC 1320."""
    message = data + b"\x80" + b"\x00" * ((55 - len(data)) % 64) + struct.pack("<Q", len(data) * 8)
    a, b, c, d = 0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476
    for offset in range(0, len(message), 64):
        x = struct.unpack("<16I", message[offset : offset + 64])
        aa, bb, cc, dd = a, b, c, d
        for i in range(16):  # round 1
            k, s = i, (3, 7, 11, 19)[i % 4]
            f = (b & c) | (~b & d)
            a, b, c, d = d, _rotl((a + f + x[k]) & _MASK, s), b, c
        for i in range(16):  # round 2
            k, s = (i % 4) * 4 + i // 4, (3, 5, 9, 13)[i % 4]
            g = (b & c) | (b & d) | (c & d)
            a, b, c, d = d, _rotl((a + g + x[k] + 0x5A827999) & _MASK, s), b, c
        for i in range(16):  # round 3
            k, s = (0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15)[i], (3, 9, 11, 15)[i % 4]
            h = b ^ c ^ d
            a, b, c, d = d, _rotl((a + h + x[k] + 0x6ED9EBA1) & _MASK, s), b, c
        a, b, c, d = (a + aa) & _MASK, (b + bb) & _MASK, (c + cc) & _MASK, (d + dd) & _MASK
    return struct.pack("<4I", a, b, c, d)


def nt_hash(password: str) -> bytes:
    return md4(password.encode("utf-16-le"))


def _des_key(seven: bytes) -> bytes:
    """7 bytes spread over 8, a parity bit (ignored) in each."""
    bits = int.from_bytes(seven, "big")
    return bytes(((bits >> (49 - 7 * i)) & 0x7F) << 1 for i in range(8))


def _des(key7: bytes, block: bytes) -> bytes:
    encryptor = Cipher(TripleDES(_des_key(key7) * 3), modes.ECB()).encryptor()  # noqa: S305
    return encryptor.update(block) + encryptor.finalize()


def challenge_response(challenge: bytes, password_hash: bytes) -> bytes:
    """The 24-byte response to an 8-byte challenge (RFC 2433 ChallengeResponse)."""
    padded = password_hash + b"\x00" * 5
    return b"".join(_des(padded[i : i + 7], challenge) for i in (0, 7, 14))


def mschap1(password: str) -> dict[str, str]:
    """MS-CHAP-Challenge and MS-CHAP-Response (ident, flags=1 "use NT response", 24 zero bytes
    of LM response, the NT response) for a new random challenge."""
    challenge = os.urandom(8)
    response = bytes([1, 1]) + b"\x00" * 24 + challenge_response(challenge, nt_hash(password))
    return {"MS-CHAP-Challenge": "0x" + challenge.hex(), "MS-CHAP-Response": "0x" + response.hex()}


def mschap2(username: str, password: str) -> dict[str, str]:
    """MS-CHAP-Challenge (the authenticator challenge) and MS-CHAP2-Response (ident, flags,
    peer challenge, 8 reserved zero bytes, NT response) as RFC 2759 builds them."""
    auth_challenge, peer_challenge = os.urandom(16), os.urandom(16)
    challenge = hashlib.sha1(  # noqa: S324 - the protocol's own hash
        peer_challenge + auth_challenge + username.encode()
    ).digest()[:8]
    nt_response = challenge_response(challenge, nt_hash(password))
    response = bytes([1, 0]) + peer_challenge + b"\x00" * 8 + nt_response
    return {
        "MS-CHAP-Challenge": "0x" + auth_challenge.hex(),
        "MS-CHAP2-Response": "0x" + response.hex(),
    }
