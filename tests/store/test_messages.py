"""Subscribe-message sends: recorded whole, listed newest first, filtered; never their values."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.store.conftest import APP_A, APP_B, Login
from wxlogin.errors import WxLoginError
from wxlogin.store import Store
from wxlogin.store.records import SendOutcome
from wxlogin.store.tables import message_sends


async def test_a_send_is_recorded_and_listed_as_given(
    store: Store, login: Login, utc_now: datetime
) -> None:
    user = (await login(APP_A, "oa")).user
    recorded = await store.record_message_send(
        user_id=user.id,
        appid=APP_A,
        template_id="tmpl-shipped",
        keywords=["thing1", "time2"],
        outcome=SendOutcome.REFUSED,
        errcode=47003,
        error_code="invalid_message_data",
        field="thing1",
        now=utc_now,
    )
    assert recorded.id and recorded.sent_at == utc_now
    listed = await store.list_message_sends()
    assert listed == [recorded]
    assert listed[0].keywords == ("thing1", "time2")
    assert (listed[0].outcome, listed[0].errcode, listed[0].field) == (
        SendOutcome.REFUSED,
        47003,
        "thing1",
    )


async def test_listing_is_newest_first_filtered_and_paged(
    store: Store, login: Login, utc_now: datetime
) -> None:
    alice = (await login(APP_A, "oa")).user
    bob = (await login(APP_B, "ob")).user
    sends = []
    for minutes, (user, template) in enumerate(
        [(alice, "t-1"), (bob, "t-1"), (alice, "t-2"), (alice, "t-1")]
    ):
        sends.append(
            await store.record_message_send(
                user_id=user.id,
                appid=APP_A if user is alice else APP_B,
                template_id=template,
                keywords=["thing1"],
                outcome=SendOutcome.SENT,
                now=utc_now + timedelta(minutes=minutes),
            )
        )
    newest_first = list(reversed(sends))
    assert await store.list_message_sends() == newest_first
    assert await store.list_message_sends(user_id=alice.id) == [sends[3], sends[2], sends[0]]
    assert await store.list_message_sends(template_id="t-1") == [sends[3], sends[1], sends[0]]
    assert await store.list_message_sends(user_id=alice.id, template_id="t-2") == [sends[2]]
    assert await store.list_message_sends(user_id="nobody") == []
    assert await store.list_message_sends(limit=2, offset=1) == newest_first[1:3]


async def test_no_column_can_hold_a_value(store: Store, db: AsyncEngine) -> None:
    """The table holds names, outcomes and codes: there is nowhere to put a message's values."""
    async with db.connect() as conn:
        columns = await conn.run_sync(
            lambda sync: {c["name"] for c in inspect(sync).get_columns("message_sends")}
        )
    assert columns == {c.name for c in message_sends.columns}
    assert columns == {
        "id",
        "user_id",
        "appid",
        "template_id",
        "keywords",
        "outcome",
        "errcode",
        "error_code",
        "field",
        "sent_at",
    }


async def test_a_send_for_an_unknown_user_is_refused_with_our_error(
    store: Store, utc_now: datetime
) -> None:
    with pytest.raises(WxLoginError) as refused:
        await store.record_message_send(
            user_id="no-such-user",
            appid=APP_A,
            template_id="t",
            keywords=["thing1"],
            outcome=SendOutcome.SENT,
            now=utc_now,
        )
    assert "FOREIGN" not in refused.value.message.upper()  # no driver text
    assert await store.list_message_sends() == []


async def test_a_naive_time_is_refused(store: Store, login: Login) -> None:
    user = (await login(APP_A, "oa")).user
    with pytest.raises(ValueError, match="aware"):
        await store.record_message_send(
            user_id=user.id,
            appid=APP_A,
            template_id="t",
            keywords=["thing1"],
            outcome=SendOutcome.SENT,
            now=datetime(2026, 1, 1),
        )
