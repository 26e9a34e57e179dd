"""Envelope encryption: binding (a ciphertext moved anywhere else fails), tamper detection,
format versioning, the Secret type and the KEK sources."""

from __future__ import annotations

import base64
import copy
import json
import pickle
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from byokvault.engine.vault import crypto
from byokvault.engine.vault.crypto import Binding, Keyring, VaultCryptoError
from byokvault.engine.vault.secret import Secret, install_log_redaction, redact_text

DATA_KEY = bytes(range(32))
BASE = Binding("tenant-a", "cred_1", "openai", 1, 1)
SECRET = Secret("sk-test-0123456789abcdef")

ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=24)
versions = st.integers(min_value=1, max_value=1_000_000)


@settings(max_examples=200, deadline=None)
@given(
    field=st.sampled_from(
        ["tenant_id", "credential_id", "provider_id", "secret_version", "dk_version"]
    ),
    text=ids,
    number=versions,
)
def test_ciphertext_moved_to_another_row_fails(field: str, text: str, number: int) -> None:
    blob = crypto.encrypt_secret(DATA_KEY, SECRET, BASE)
    value = number if field.endswith("version") else text
    moved = Binding(**{**_fields(BASE), field: value})
    if moved == BASE:
        return  # not a move
    with pytest.raises(VaultCryptoError):
        crypto.decrypt_secret(DATA_KEY, blob, moved)
    assert crypto.decrypt_secret(DATA_KEY, blob, BASE) == SECRET


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_any_flipped_bit_fails(data: st.DataObject) -> None:
    blob = bytearray(crypto.encrypt_secret(DATA_KEY, SECRET, BASE))
    bit = data.draw(st.integers(min_value=0, max_value=len(blob) * 8 - 1))
    blob[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(VaultCryptoError):
        crypto.decrypt_secret(DATA_KEY, bytes(blob), BASE)


@settings(max_examples=100, deadline=None)
@given(tenant=ids, other=ids, version=versions, other_version=versions, bit=st.integers(0, 479))
def test_wrapped_data_key_bound_and_tamper_evident(
    tenant: str, other: str, version: int, other_version: int, bit: int
) -> None:
    ring = Keyring([crypto.new_key()])
    wrapped = crypto.wrap_data_key(ring, tenant, version, DATA_KEY)
    assert crypto.unwrap_data_key(ring, tenant, version, ring.current_id, wrapped) == DATA_KEY
    if (other, other_version) != (tenant, version):
        with pytest.raises(VaultCryptoError):
            crypto.unwrap_data_key(ring, other, other_version, ring.current_id, wrapped)
    flipped = bytearray(wrapped)
    flipped[(bit // 8) % len(flipped)] ^= 1 << (bit % 8)
    with pytest.raises(VaultCryptoError):
        crypto.unwrap_data_key(ring, tenant, version, ring.current_id, bytes(flipped))


def test_wrong_kek_cannot_unwrap() -> None:
    ring, other = Keyring([crypto.new_key()]), Keyring([crypto.new_key()])
    wrapped = crypto.wrap_data_key(ring, "t", 1, DATA_KEY)
    with pytest.raises(crypto.KeyUnavailable):
        crypto.unwrap_data_key(other, "t", 1, ring.current_id, wrapped)


def test_format_is_versioned_and_nonces_are_fresh() -> None:
    a = crypto.encrypt_secret(DATA_KEY, SECRET, BASE)
    b = crypto.encrypt_secret(DATA_KEY, SECRET, BASE)
    assert a[:1] == crypto.FORMAT_V1 == b[:1]
    assert a[1:13] != b[1:13] and a != b  # fresh 96-bit nonce per encryption
    with pytest.raises(VaultCryptoError, match="unknown ciphertext format"):
        crypto.decrypt_secret(DATA_KEY, b"\x02" + a[1:], BASE)
    with pytest.raises(VaultCryptoError):
        crypto.decrypt_secret(DATA_KEY, a[:20], BASE)


def test_secret_does_not_leak_through_python_protocols() -> None:
    plain = SECRET.reveal()
    rendered_forms = (repr(SECRET), str(SECRET), f"{SECRET}", f"{SECRET!r}", format(SECRET, ">40"))
    for rendered in rendered_forms:
        assert plain not in rendered and "redacted" in rendered
    with pytest.raises(TypeError):
        pickle.dumps(SECRET)
    with pytest.raises(TypeError):
        copy.deepcopy(SECRET)
    with pytest.raises(TypeError):
        json.dumps({"k": SECRET})
    with pytest.raises(AttributeError):
        SECRET._value = "x"  # type: ignore[misc]
    assert SECRET.fingerprint() == plain[-4:]
    with pytest.raises(ValueError):
        Secret("   ")


def test_redaction_scrubs_key_shapes() -> None:
    line = (
        "calling with Authorization: Bearer sk-live-abcdefgh12345678"
        " and key=AIzaSyA1234567890abcdefghij"
    )
    scrubbed = redact_text(line)
    assert "abcdefgh12345678" not in scrubbed and "AIzaSyA1234567890" not in scrubbed


def test_log_redaction_filter_scrubs_records_on_a_handler() -> None:
    import logging

    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Collect()
    install_log_redaction(handler)
    install_log_redaction(handler)  # idempotent
    assert len(handler.filters) == 1
    logger = logging.getLogger("byokvault.test.redaction")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        logger.debug("header x-api-key: %s", "sk-ant-live-abcdefgh12345678")
        logger.warning("secret %s and %r", SECRET, SECRET)
    finally:
        logger.removeHandler(handler)
    assert lines and all("abcdefgh12345678" not in ln and SECRET.reveal() not in ln for ln in lines)


def test_kek_from_env_with_previous_keys() -> None:
    old, new = crypto.new_key(), crypto.new_key()
    env = {
        crypto.KEK_ENV: base64.b64encode(new).decode(),
        crypto.KEK_PREVIOUS_ENV: base64.b64encode(old).decode(),
    }
    ring = crypto.load_keyring(env)
    assert ring.current_id == crypto.kek_id_of(new)
    assert ring.ids == {crypto.kek_id_of(old), crypto.kek_id_of(new)}


@pytest.mark.parametrize(
    ("value", "message"),
    [("not base64!!", "not valid base64"), (base64.b64encode(b"short").decode(), "32 bytes")],
)
def test_bad_kek_env_is_a_clear_error(value: str, message: str) -> None:
    with pytest.raises(VaultCryptoError, match=message) as err:
        crypto.load_keyring({crypto.KEK_ENV: value})
    assert "BYOKVAULT_KEK" in str(err.value)


def test_key_file_created_0600_and_stable(tmp_path: Path) -> None:
    path = tmp_path / "vault.kek"
    first = crypto.load_keyring({}, key_file=path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert crypto.load_keyring({}, key_file=path).current_id == first.current_id
    path.chmod(0o644)
    with pytest.raises(VaultCryptoError, match="readable by others"):
        crypto.load_keyring({}, key_file=path)


def _fields(b: Binding) -> dict[str, object]:
    return {f: getattr(b, f) for f in Binding.__slots__}
