"""The vault: credentials in, audited secrets out.

Every secret is encrypted under its tenant's data key (see ``crypto``); the only way back to a
plaintext is ``decrypt_for_call``, which needs a purpose and a call id and appends the access
event *before* decrypting (no audit row, no secret).
"""

from __future__ import annotations

import logging
import os
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from . import crypto
from .clock import now
from .crypto import Binding, Keyring
from .errors import (
    AccessDenied,
    AuditWriteFailed,
    CredentialNotFound,
    DecryptFailed,
    PurgeIncomplete,
    VaultInputError,
)
from .model import PLATFORM_TENANT, AccessEvent, AccessResult, Credential, HealthEvent, Status
from .secret import Secret
from .store import DuckDBVaultRepository, Reencrypted, SealedSecret, VaultRepository

if TYPE_CHECKING:
    from .alerts import AlertEngine
    from .resolve import Resolution

log = logging.getLogger(__name__)

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,127}$")
_URL = re.compile(r"^https?://[^\s/?#]+[^\s]*$")
# Purposes the vault itself uses for non-call accesses (alert rules list what is allowed).
PURPOSE_ROTATION = "data_key_rotation"
PURPOSE_HEALTH = "health_check"

AccessObserver = Callable[[AccessEvent, "SealedSecret | None"], None]


def check_id(field: str, value: str, *, allow_platform: bool = False) -> str:
    if allow_platform and value == PLATFORM_TENANT:
        return value
    if not isinstance(value, str) or not _ID.match(value):
        raise VaultInputError(
            field, "must be 1-128 characters: letters, digits and . _ : @ / - (not leading)"
        )
    return value


@dataclass(frozen=True, slots=True)
class KekRotation:
    kek_id: str
    rewrapped: int
    retired: list[str]


class Vault:
    """Credential storage with envelope encryption, audited access and key rotation."""

    def __init__(
        self,
        repo: VaultRepository,
        keyring: Keyring,
        *,
        key_file: Path | None = None,
        observers: list[AccessObserver] | None = None,
    ) -> None:
        self.repo = repo
        self._keyring = keyring
        self._key_file = key_file  # where the keyring persists (None: it came from the env)
        self._observers = list(observers or [])
        self._rotation_lock = threading.Lock()
        self.alert_engine: AlertEngine | None = None

    @classmethod
    def open(
        cls,
        db_path: Path | None = None,
        key_file: Path | None = None,
        *,
        alerts: bool = True,
        alert_webhook: str | None = None,
    ) -> Vault:
        """The embedded default: DuckDB files and the KEK from the env or the data-dir key file,
        with the bundled alert rules watching every access (webhook: ``alert_webhook``, else
        ``$BYOKVAULT_ALERT_WEBHOOK``, else the rules file's)."""
        keyring = crypto.load_keyring(key_file=key_file)
        from_file = (
            None if os.environ.get(crypto.KEK_ENV) else (key_file or crypto.default_key_file())
        )
        vault = cls(DuckDBVaultRepository(db_path), keyring, key_file=from_file)
        if alerts:
            from .alerts import AlertEngine

            vault.alert_engine = AlertEngine(vault.repo, webhook_url=alert_webhook)
            vault.add_observer(vault.alert_engine)
        return vault

    def close(self) -> None:
        if self.alert_engine is not None:
            self.alert_engine.close()  # delivers what is queued first
        self.repo.close()

    def audit_health(self) -> str:
        """Either "ok" or why key access is refused (its audit log failed closed)."""
        return self.repo.audit_health()

    def add_observer(self, observer: AccessObserver) -> None:
        self._observers.append(observer)

    @property
    def keyring(self) -> Keyring:
        return self._keyring

    # -- credentials ------------------------------------------------------------------------

    def add_credential(
        self,
        tenant_id: str,
        provider_id: str,
        label: str,
        secret: Secret | None,
        *,
        base_url: str | None = None,
    ) -> Credential:
        """Store a credential. ``secret`` may be None only for a local endpoint (base_url)."""
        check_id("tenant_id", tenant_id, allow_platform=True)
        check_id("provider_id", provider_id)
        label = _check_label(label)
        if base_url is not None and not _URL.match(base_url):
            raise VaultInputError("base_url", "must be an http:// or https:// URL")
        if secret is None and base_url is None:
            raise VaultInputError("secret", "required unless the credential is a local endpoint")
        if secret is not None and not isinstance(secret, Secret):
            raise VaultInputError("secret", "must be a Secret")
        credential_id = "cred_" + uuid.uuid4().hex
        ciphertext, dk_version = None, None
        if secret is not None:
            dk_version, data_key = self._current_data_key(tenant_id)
            binding = Binding(tenant_id, credential_id, provider_id, 1, dk_version)
            ciphertext = crypto.encrypt_secret(data_key, secret, binding)
        fingerprint = secret.fingerprint() if secret is not None else None
        self.repo.insert_credential(
            credential_id,
            tenant_id,
            provider_id,
            base_url,
            label,
            fingerprint,
            1,
            dk_version,
            ciphertext,
            now(),
        )
        log.info("credential %s added for tenant %s (%s)", credential_id, tenant_id, provider_id)
        return self._credential(tenant_id, credential_id)

    def list_credentials(self, tenant_id: str, provider_id: str | None = None) -> list[Credential]:
        check_id("tenant_id", tenant_id, allow_platform=True)
        return self.repo.credentials(tenant_id, provider_id)

    def get_credential(self, tenant_id: str, credential_id: str) -> Credential:
        return self._credential(tenant_id, credential_id)

    def replace_secret(self, tenant_id: str, credential_id: str, secret: Secret) -> Credential:
        """Re-key: the new secret replaces the old, whose ciphertext is then destroyed (the
        database is compacted so its bytes are not left in freed blocks)."""
        if not isinstance(secret, Secret):
            raise VaultInputError("secret", "must be a Secret")
        current = self._credential(tenant_id, credential_id)
        dk_version, data_key = self._current_data_key(tenant_id)
        version = current.secret_version + 1
        binding = Binding(tenant_id, credential_id, current.provider_id, version, dk_version)
        ciphertext = crypto.encrypt_secret(data_key, secret, binding)
        self.repo.replace_secret(
            credential_id, ciphertext, secret.fingerprint(), version, dk_version, now()
        )
        self._purge()
        log.info("credential %s re-keyed to secret version %d", credential_id, version)
        return self._credential(tenant_id, credential_id)

    def delete_credential(self, tenant_id: str, credential_id: str) -> None:
        self._credential(tenant_id, credential_id)
        self.repo.delete_credential(credential_id)
        self._purge()
        log.info("credential %s deleted", credential_id)

    def _purge(self) -> None:
        try:
            self.repo.purge_freed_space()
        except Exception as exc:
            raise PurgeIncomplete(
                f"change committed, but compaction failed ({type(exc).__name__}): old bytes may "
                "remain until the next compaction"
            ) from None

    def set_status(self, credential_id: str, status: Status, reason: str | None) -> None:
        self.repo.set_status(credential_id, Status(status), reason, now())

    def record_call_failure(
        self, credential_id: str, http_status: int | None, api_style: str = ""
    ) -> Status:
        """Learn a credential's status from a real call's failure (see ``health.classify``)."""
        from .health import record_call_failure

        return record_call_failure(self, credential_id, http_status, api_style)

    def health_history(
        self, tenant_id: str, credential_id: str, limit: int = 20
    ) -> list[HealthEvent]:
        self._credential(tenant_id, credential_id)
        return self.repo.health_events(credential_id, limit)

    def access_log(
        self, tenant_id: str, credential_id: str | None = None, limit: int = 100
    ) -> list[AccessEvent]:
        check_id("tenant_id", tenant_id, allow_platform=True)
        return self.repo.access_log(tenant_id, credential_id, limit)

    def resolve(
        self,
        tenant_id: str,
        provider_id: str,
        call_id: str,
        *,
        allow_platform_fallback: bool,
        provider_kind: str = "cloud",
        actor: str = "resolver",
        wait: bool = True,
    ) -> Resolution:
        """Which credential answers this call (see ``resolve.resolve``)."""
        from .resolve import resolve

        return resolve(
            self,
            tenant_id,
            provider_id,
            call_id,
            allow_platform_fallback=allow_platform_fallback,
            provider_kind=provider_kind,
            actor=actor,
            wait=wait,
        )

    def _credential(self, tenant_id: str, credential_id: str) -> Credential:
        check_id("tenant_id", tenant_id, allow_platform=True)
        found = self.repo.credential(credential_id) if isinstance(credential_id, str) else None
        if found is None or found.tenant_id != tenant_id:
            raise CredentialNotFound(f"no credential {credential_id!r} for tenant {tenant_id!r}")
        return found

    # -- the one way out --------------------------------------------------------------------

    def decrypt_for_call(
        self, tenant_id: str, credential_id: str, *, purpose: str, call_id: str, actor: str
    ) -> Secret:
        """The plaintext secret for one call. The access event is appended first: if that
        write fails, nothing is decrypted."""
        check_id("tenant_id", tenant_id, allow_platform=True)
        sealed = self.repo.secret_for_decrypt(credential_id)
        refusal = _refusal(tenant_id, sealed, purpose, call_id)
        if refusal is not None:
            self._audit(
                actor,
                tenant_id,
                credential_id,
                purpose,
                call_id,
                AccessResult.denied,
                refusal,
                sealed,
                required=False,
            )
            if sealed is None or sealed.tenant_id != tenant_id:
                raise CredentialNotFound(
                    f"no credential {credential_id!r} for tenant {tenant_id!r}"
                )
            raise AccessDenied(f"credential {credential_id}: {refusal}")
        assert sealed is not None
        self._audit(
            actor,
            tenant_id,
            credential_id,
            purpose,
            call_id,
            AccessResult.opened,
            None,
            sealed,
            required=True,
        )
        try:
            return self._open(credential_id, sealed)
        except DecryptFailed as exc:
            self._audit(
                actor,
                tenant_id,
                credential_id,
                purpose,
                call_id,
                AccessResult.failed,
                str(exc),
                sealed,
                required=False,
            )
            raise

    def _open(self, credential_id: str, sealed: SealedSecret) -> Secret:
        assert sealed.ciphertext is not None and sealed.dk_version is not None
        binding = Binding(
            sealed.tenant_id,
            credential_id,
            sealed.provider_id,
            sealed.secret_version,
            sealed.dk_version,
        )
        try:
            data_key = self._unwrap(sealed.tenant_id, sealed.dk_version, sealed.wrapped)
        except crypto.KeyUnavailable:
            # A KEK rotation may have switched forms between our read and our keyring lookup:
            # one fresh read sees the new form (and a reloaded key file sees the new KEK).
            self._reload_keyring()
            fresh = self.repo.secret_for_decrypt(credential_id)
            if fresh is None or fresh.secret_version != sealed.secret_version:
                raise DecryptFailed(f"credential {credential_id}: changed during access") from None
            try:
                data_key = self._unwrap(fresh.tenant_id, fresh.dk_version or 0, fresh.wrapped)
            except crypto.VaultCryptoError as exc:
                raise DecryptFailed(str(exc)) from None
            sealed, binding = (
                fresh,
                Binding(
                    fresh.tenant_id,
                    credential_id,
                    fresh.provider_id,
                    fresh.secret_version,
                    fresh.dk_version or 0,
                ),
            )
        except crypto.VaultCryptoError as exc:
            raise DecryptFailed(str(exc)) from None
        try:
            return crypto.decrypt_secret(data_key, sealed.ciphertext or b"", binding)
        except crypto.VaultCryptoError as exc:
            raise DecryptFailed(str(exc)) from None

    def _audit(
        self,
        actor: str,
        tenant_id: str,
        credential_id: str,
        purpose: str | None,
        call_id: str | None,
        result: AccessResult,
        detail: str | None,
        sealed: SealedSecret | None,
        *,
        required: bool,
    ) -> None:
        event = AccessEvent(
            uuid.uuid4().hex,
            now(),
            str(actor),
            tenant_id,
            str(credential_id),
            purpose or None,
            call_id or None,
            result,
            detail,
        )
        try:
            self.repo.append_access(event)
        except Exception as exc:
            log.error(
                "access log write failed for credential %s: %s", credential_id, type(exc).__name__
            )
            if required:
                raise AuditWriteFailed(
                    f"credential {credential_id}: access log write failed; not decrypted"
                ) from None
            return
        for observer in self._observers:
            try:
                observer(event, sealed)
            except Exception:  # alerting must never break or leak through an access
                log.exception("access observer failed for event %s", event.event_id)

    # -- data keys --------------------------------------------------------------------------

    def _current_data_key(self, tenant_id: str) -> tuple[int, bytes]:
        for _ in range(3):
            version = self.repo.latest_data_key(tenant_id)
            if version is None:
                fresh = crypto.new_key()
                wrapped = crypto.wrap_data_key(self._keyring, tenant_id, 1, fresh)
                if self.repo.create_data_key(
                    tenant_id, 1, self._keyring.current_id, wrapped, now()
                ):
                    return 1, fresh
                continue  # another writer created it; read theirs
            forms = self.repo.wrapped_keys(tenant_id, version)
            if forms:
                return version, self._unwrap(tenant_id, version, forms)
        raise DecryptFailed(f"tenant {tenant_id}: data key unavailable")

    def _unwrap(self, tenant_id: str, dk_version: int, forms: dict[str, bytes]) -> bytes:
        keyring = self._keyring
        ordered = sorted(forms, key=lambda kid: kid != keyring.current_id)
        for kek_id in ordered:
            if keyring.cipher(kek_id) is not None:
                return crypto.unwrap_data_key(keyring, tenant_id, dk_version, kek_id, forms[kek_id])
        raise crypto.KeyUnavailable(f"data key {tenant_id}/v{dk_version}: no loaded KEK wraps it")

    def _reload_keyring(self) -> None:
        if self._key_file is not None and self._key_file.exists():
            try:
                self._keyring = crypto.read_key_file(self._key_file)
            except crypto.VaultCryptoError:
                log.warning("key file %s could not be reloaded", self._key_file)

    def rotate_kek(self, new_key: bytes | None = None) -> KekRotation:
        """Rewrap every data key under a new KEK without stopping readers.

        1. the new KEK joins the keyring (and the key file) as current: both open everything;
        2. each data key gets a second wrapped form under the new KEK;
        3. the switch deletes the old forms in one statement (only those with a new sibling);
        4. the old KEK leaves the keyring (and the key file); freed bytes are purged.
        Without ``new_key``, the keyring's current KEK is the target (the env-var flow:
        BYOKVAULT_KEK=new, BYOKVAULT_KEK_PREVIOUS=old).
        """
        with self._rotation_lock:
            if new_key is not None:
                self._keyring = self._keyring.with_current(new_key)
                self._persist_keyring()
            target = self._keyring.current_id
            rewrapped = 0
            while True:
                missing = self.repo.data_keys_missing_kek(target)
                for tenant_id, version, forms in missing:
                    data_key = self._unwrap(tenant_id, version, forms)
                    wrapped = crypto.wrap_data_key(self._keyring, tenant_id, version, data_key)
                    self.repo.add_wrapped_key(tenant_id, version, target, wrapped, now())
                    rewrapped += 1
                self.repo.drop_wrapped_keys_except(target)
                if set(self.repo.kek_usage()) <= {target}:
                    break
            retired = sorted(self._keyring.ids - {target})
            self._keyring = self._keyring.only_current()
            self._persist_keyring()
            self._purge()
            log.info("KEK rotated to %s: %d data keys rewrapped", target, rewrapped)
            return KekRotation(target, rewrapped, retired)

    def _persist_keyring(self) -> None:
        if self._key_file is not None:
            crypto.write_key_file(self._key_file, self._keyring)

    def rotate_data_key(self, tenant_id: str, *, actor: str = "vault") -> int:
        """A new data key for the tenant; every secret re-encrypted under it, in one
        transaction; the old data key destroyed. Returns the new version."""
        check_id("tenant_id", tenant_id, allow_platform=True)
        current, _ = self._current_data_key(tenant_id)
        new_version, fresh = current + 1, crypto.new_key()
        rotation_id = "rot_" + uuid.uuid4().hex
        items = []
        for cid, provider_id, sv, dkv, ciphertext in self.repo.tenant_ciphertexts(tenant_id):
            secret = self.decrypt_for_call(
                tenant_id, cid, purpose=PURPOSE_ROTATION, call_id=rotation_id, actor=actor
            )
            del ciphertext, dkv  # decrypt_for_call re-read them in one snapshot
            binding = Binding(tenant_id, cid, provider_id, sv, new_version)
            items.append(Reencrypted(cid, sv, crypto.encrypt_secret(fresh, secret, binding)))
        wrapped = crypto.wrap_data_key(self._keyring, tenant_id, new_version, fresh)
        self.repo.commit_data_key_rotation(
            tenant_id, new_version, self._keyring.current_id, wrapped, items, now()
        )
        self._purge()
        log.info(
            "tenant %s data key rotated to v%d (%d secrets)", tenant_id, new_version, len(items)
        )
        return new_version


def _check_label(label: str) -> str:
    if not isinstance(label, str) or not label.strip() or len(label) > 200:
        raise VaultInputError("label", "must be 1-200 characters")
    return label.strip()


def _refusal(
    tenant_id: str, sealed: SealedSecret | None, purpose: str | None, call_id: str | None
) -> str | None:
    """Why an access is refused before touching keys, or None."""
    if sealed is None or sealed.tenant_id != tenant_id:
        return "no such credential for this tenant"
    if not purpose or not isinstance(purpose, str):
        return "a purpose is required"
    if not call_id or not isinstance(call_id, str):
        return "a call id is required"
    if sealed.ciphertext is None:
        return "credential has no secret (local endpoint)"
    return None
