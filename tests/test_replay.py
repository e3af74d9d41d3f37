"""Sending an operation decided "did not happen" again under its own reference
(journaled.replay): only for a request the provider deduplicates by our
reference (CSQ's purchase), with the intent committed again before the send."""

from __future__ import annotations

import dataclasses
import json
import sqlite3

import pytest

from pos_app.journal import JournalError, OpState
from pos_app.providers import OpKind
from pos_app.services import journaled
from pos_app.services.checkout import Till
from tests.conftest import sim_of

FIXED = "EADSHD24AKS5"  # the E-GUMA demo's depot voucher, fixed 50.00


async def decided_not_done(till: Till) -> int:
    """A gift voucher line whose activation was journaled and decided "not done"."""
    till.gifts.add(await till.gifts.check(FIXED))
    line = till.order.gift_vouchers[0]
    op_id, reference, _ = till.journal.begin_op(
        provider="eguma", operation="create", code=FIXED, currency="CHF", amount=line.total,
        order_id=till.order_id, line_id=line.id, request={"free_amount": False, "value": "gift_voucher"},
        before={"can_activate": True}, before_at="2026-12-02T07:00:00+00:00",
        settle_by="2026-12-02T07:01:00+00:00")
    till.journal.finish_op(op_id, OpState.NOT_DONE, result={"resolved_by": "it never arrived"})
    return op_id


def deduplicating(till: Till) -> None:
    """E-GUMA's slot, told it deduplicates activations (as CSQ does purchases)."""
    slot = till.providers["eguma"]
    assert slot.descriptor is not None
    policy = dataclasses.replace(slot.descriptor.policy, deduplicated=frozenset({OpKind.CREATE}))
    slot.descriptor = dataclasses.replace(slot.descriptor, policy=policy)


async def test_replay_sends_again_under_the_same_reference_and_journals_it(eguma_till: Till) -> None:
    till = eguma_till
    op_id = await decided_not_done(till)
    before = till.journal.op(op_id)
    deduplicating(till)
    slot = till.providers["eguma"]
    assert slot.client is not None
    client = slot.client
    seen = []

    async def send(ctx):  # type: ignore[no-untyped-def]
        seen.append(ctx.reference)
        return await client.create_value(FIXED, None, ctx)

    result = await journaled.replay(till.session, slot, before, send)
    assert result.done
    assert seen == [before.reference]  # the reference it had, not a new one
    after = till.journal.op(op_id)
    assert (after.state, after.reference) == (OpState.OK, before.reference)
    assert [a.code for a in sim_of(till).state.activations] == [FIXED]
    assert till.reload().gift_vouchers[0].activated
    with sqlite3.connect(till.journal.path) as db:
        events = [(kind, json.loads(detail)) for kind, detail in
                  db.execute("SELECT kind, detail FROM events WHERE kind LIKE 'provider_op_%' ORDER BY id")]
    assert [kind for kind, _ in events] == ["provider_op_sent", "provider_op_not_done", "provider_op_replayed",
                                            "provider_op_ok"]
    assert events[2][1]["earlier"] == {"resolved_by": "it never arrived"}


async def test_a_request_the_provider_does_not_deduplicate_is_never_replayed(eguma_till: Till) -> None:
    till = eguma_till
    op = till.journal.op(await decided_not_done(till))
    slot = till.providers["eguma"]
    with pytest.raises(ValueError, match="never sent twice"):
        await journaled.replay(till.session, slot, op, lambda ctx: None)  # type: ignore[arg-type, return-value]
    assert till.journal.op(op.id).state == OpState.NOT_DONE
    assert sim_of(till).state.activations == []


async def test_only_an_operation_decided_not_done_is_reopened(eguma_till: Till) -> None:
    till = eguma_till
    op_id = await decided_not_done(till)
    till.journal.reopen_op(op_id, before=None, before_at="2026-12-02T07:02:00+00:00",
                           settle_by="2026-12-02T07:03:00+00:00")
    with pytest.raises(JournalError, match="only one decided 'not done'"):
        till.journal.reopen_op(op_id, before=None, before_at="x", settle_by="y")
