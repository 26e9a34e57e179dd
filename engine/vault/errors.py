"""Vault errors. Messages name ids and fields, never key or secret material."""

from __future__ import annotations


class VaultError(Exception):
    """Base class for every vault failure."""


class VaultInputError(VaultError):
    """Bad input: names the field and what is wrong."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


class CredentialNotFound(VaultError):
    """No such credential for this tenant (also raised for another tenant's credential, so a
    caller cannot learn that it exists)."""


class AccessDenied(VaultError):
    """The access was refused (and logged) before any key material was touched."""


class AuditWriteFailed(VaultError):
    """The access log could not be written, so the secret was not decrypted."""


class DecryptFailed(VaultError):
    """The ciphertext or data key failed authentication, or no KEK could open it."""


class NoCredential(VaultError):
    """Resolution found no usable credential (the resolution row records why)."""


class PurgeIncomplete(VaultError):
    """The change committed, but compacting the key store failed: the old ciphertext's bytes
    may remain in freed blocks until the next successful compaction."""
