"""Envelope encryption: a key-encryption key (KEK) wraps one data key per tenant; the data key
encrypts that tenant's provider secrets. AES-256-GCM throughout, fresh 96-bit nonces.

Every blob is ``version byte || nonce || ciphertext+tag`` and is bound, through the GCM
associated data, to where it belongs: a wrapped data key to (tenant, data-key version, KEK id),
a secret to (tenant, credential id, provider, secret version, data-key version). A blob copied
to any other row, or with any bit flipped, fails to decrypt.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .errors import VaultError
from .secret import Secret

FORMAT_V1 = b"\x01"
NONCE_BYTES = 12
KEY_BYTES = 32
KEK_ENV = "BYOKVAULT_KEK"
# Old KEKs still needed to unwrap during a rotation (comma-separated base64).
KEK_PREVIOUS_ENV = "BYOKVAULT_KEK_PREVIOUS"
KEK_FILE_NAME = "vault.kek"


class VaultCryptoError(VaultError):
    """Decryption or key handling failed. Messages never include key or secret material."""


class KeyUnavailable(VaultCryptoError):
    """No KEK in this process's keyring can unwrap the stored data key."""


def kek_id_of(key: bytes) -> str:
    """A stable public name for a KEK: a domain-separated hash, never the key itself."""
    return "kek-" + hashlib.sha256(b"byokvault/kek-id\x00" + key).hexdigest()[:16]


def decode_key(text: str, where: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise VaultCryptoError(f"{where}: not valid base64") from None
    if len(key) != KEY_BYTES:
        raise VaultCryptoError(f"{where}: a KEK must be {KEY_BYTES} bytes, got {len(key)}")
    return key


class Keyring:
    """The KEKs this process holds. ``current`` wraps new data keys; any of them unwraps.

    Immutable: rotation builds a new keyring and swaps the reference, so readers on other
    threads always see a consistent set.
    """

    def __init__(self, keys: Sequence[bytes], current: bytes | None = None) -> None:
        if not keys:
            raise VaultCryptoError("a keyring needs at least one KEK")
        self._ciphers = {kek_id_of(k): AESGCM(k) for k in keys}
        self._keys = {kek_id_of(k): k for k in keys}
        self.current_id = kek_id_of(current if current is not None else keys[-1])
        if self.current_id not in self._ciphers:
            raise VaultCryptoError("the current KEK must be one of the keyring's keys")

    @property
    def ids(self) -> frozenset[str]:
        return frozenset(self._ciphers)

    def cipher(self, kek_id: str) -> AESGCM | None:
        return self._ciphers.get(kek_id)

    def with_current(self, key: bytes) -> Keyring:
        """This keyring plus ``key``, which becomes current."""
        return Keyring([*self._keys.values(), key], current=key)

    def only_current(self) -> Keyring:
        return Keyring([self._keys[self.current_id]])

    def export_lines(self) -> list[str]:
        """Key-file lines (base64, current last): used only to write the 0600 key file."""
        others = [k for kid, k in self._keys.items() if kid != self.current_id]
        return [base64.b64encode(k).decode() for k in [*others, self._keys[self.current_id]]]

    def __repr__(self) -> str:
        return f"Keyring(current={self.current_id}, ids={sorted(self.ids)})"


def new_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def default_key_file() -> Path:
    from ..paths import data_dir

    return data_dir() / KEK_FILE_NAME


def load_keyring(env: Mapping[str, str] | None = None, key_file: Path | None = None) -> Keyring:
    """The KEK from ``$BYOKVAULT_KEK`` (plus ``$BYOKVAULT_KEK_PREVIOUS`` during a rotation), or
    else from the key file, which is created (mode 0600) on first use for local setups."""
    env = os.environ if env is None else env
    if env.get(KEK_ENV):
        current = decode_key(env[KEK_ENV], f"${KEK_ENV}")
        previous = [
            decode_key(part, f"${KEK_PREVIOUS_ENV}[{i}]")
            for i, part in enumerate(env.get(KEK_PREVIOUS_ENV, "").split(","))
            if part.strip()
        ]
        return Keyring([*previous, current], current=current)
    path = key_file or default_key_file()
    if not path.exists():
        write_key_file(path, Keyring([new_key()]))
    return read_key_file(path)


def read_key_file(path: Path) -> Keyring:
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise VaultCryptoError(f"{path}: KEK file must not be readable by others (mode {mode:o})")
    lines = [ln for ln in path.read_text(encoding="ascii").splitlines() if ln.strip()]
    keys = [decode_key(ln, f"{path}:{i + 1}") for i, ln in enumerate(lines)]
    return Keyring(keys, current=keys[-1] if keys else None)


def write_key_file(path: Path, keyring: Keyring) -> None:
    """Atomically (re)write the key file with mode 0600: tmp file, fsync, rename, fsync dir."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, ("\n".join(keyring.export_lines()) + "\n").encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    tmp.replace(path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _aad(kind: str, *fields: str | int) -> bytes:
    """Length-prefixed fields, so ("ab","c") and ("a","bc") never collide."""
    out = bytearray(FORMAT_V1 + kind.encode() + b"\x00")
    for field in fields:
        data = str(field).encode("utf-8")
        out += len(data).to_bytes(4, "big") + data
    return bytes(out)


def _seal(cipher: AESGCM, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return FORMAT_V1 + nonce + cipher.encrypt(nonce, plaintext, aad)


def _open(cipher: AESGCM, blob: bytes, aad: bytes, what: str) -> bytes:
    if len(blob) < 1 + NONCE_BYTES + 16 or blob[:1] != FORMAT_V1:
        raise VaultCryptoError(f"{what}: unknown ciphertext format")
    nonce, body = blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :]
    try:
        return cipher.decrypt(nonce, body, aad)
    except InvalidTag:
        raise VaultCryptoError(f"{what}: authentication failed (tampered or moved)") from None


def wrap_data_key(keyring: Keyring, tenant_id: str, dk_version: int, data_key: bytes) -> bytes:
    """The data key sealed under the keyring's current KEK (whose id goes in its own column)."""
    cipher = keyring.cipher(keyring.current_id)
    assert cipher is not None
    aad = _aad("data-key", tenant_id, dk_version, keyring.current_id)
    return _seal(cipher, data_key, aad)


def unwrap_data_key(
    keyring: Keyring, tenant_id: str, dk_version: int, kek_id: str, wrapped: bytes
) -> bytes:
    cipher = keyring.cipher(kek_id)
    if cipher is None:
        raise KeyUnavailable(f"data key {tenant_id}/v{dk_version}: KEK {kek_id} not loaded")
    aad = _aad("data-key", tenant_id, dk_version, kek_id)
    return _open(cipher, wrapped, aad, f"data key {tenant_id}/v{dk_version}")


@dataclass(frozen=True, slots=True)
class Binding:
    """Where a secret's ciphertext belongs; all of it is authenticated."""

    tenant_id: str
    credential_id: str
    provider_id: str
    secret_version: int
    dk_version: int

    def aad(self) -> bytes:
        return _aad(
            "secret",
            self.tenant_id,
            self.credential_id,
            self.provider_id,
            self.secret_version,
            self.dk_version,
        )


def encrypt_secret(data_key: bytes, secret: Secret, binding: Binding) -> bytes:
    return _seal(AESGCM(data_key), secret.reveal().encode("utf-8"), binding.aad())


def decrypt_secret(data_key: bytes, blob: bytes, binding: Binding) -> Secret:
    plaintext = _open(AESGCM(data_key), blob, binding.aad(), f"credential {binding.credential_id}")
    return Secret(plaintext.decode("utf-8"))
