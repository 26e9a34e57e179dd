"""Through the gateway, the vault's guarantee holds on the journal-first audit path: when the
provider receives a tenant's key, the access event of that call is already durable in the
vault's audit log, even while the audit tables are held back; the tables catch up after."""

from __future__ import annotations

import threading

import httpx
from gatewaykit import OPENAI_KEY, TENANT, Stack, fresh_fake, stack

from byokvault.engine.vault import auditlog
from byokvault.engine.vault.store import audit_log_path

__all__ = ["fresh_fake", "stack"]  # the module's fixtures


def test_the_key_reaches_the_provider_only_after_its_access_event_is_durable(
    stack: Stack, monkeypatch
) -> None:
    vault = stack.app.state.resources.vault
    journal = audit_log_path(vault.repo.path)
    release = threading.Event()
    apply = vault.repo.audit_log._apply

    def held(rows):  # the tables get nothing until released: only the log has the rows
        release.wait(30)
        apply(rows)

    monkeypatch.setattr(vault.repo.audit_log, "_apply", held)
    durable_when_called: list[set[str]] = []
    take = stack.fake._take_behaviour

    def observed(request):  # runs when the provider receives the forwarded request
        if request.key == OPENAI_KEY:
            rows = auditlog.read(journal)
            opened = {r.values[6] for r in rows if r.table == "access" and r.values[7] == "opened"}
            durable_when_called.append(opened)
        return take(request)

    monkeypatch.setattr(stack.fake, "_take_behaviour", observed)
    try:
        answer = httpx.post(
            stack.base + "/v1/chat/completions",
            headers={"authorization": f"Bearer {stack.token}"},
            json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        call_id = answer.headers["x-byokvault-call-id"]
        [opened] = durable_when_called
        assert call_id in opened  # logged durably before the key left the gateway
        resolved = {r.values[0] for r in auditlog.read(journal) if r.table == "resolution"}
        assert call_id in resolved  # and the resolution row before the record was billed
    finally:
        release.set()
    events = [e for e in vault.access_log(TENANT) if e.call_id == call_id]
    assert [e.result for e in events] == ["opened"]  # the tables caught up
    assert vault.repo.resolution(call_id).credential_id == events[0].credential_id
