"""Subscribe messages on the client side: the value rules, and send_subscribe_message against
the simulator (in process): one accept, one send; each refusal its own exception."""

from __future__ import annotations

import random

import pytest

from tests.message_vectors import ALPHABET, CASES
from tests.wechat.conftest import APPID, APPID_B, RecordingTransport
from wxlogin import errors
from wxlogin.simulator import Simulator
from wxlogin.simulator.subscribe import value_fits
from wxlogin.wechat import WeChatClient
from wxlogin.wechat import protocol as wx
from wxlogin.wechat.protocol import FieldKind
from wxlogin.wechat.subscribe import MessageTemplate, check_message, value_problem

TEMPLATE = "tmpl-order-shipped-0000000000000000000000000"
FIELDS = {"thing1": "thing", "time2": "time", "amount3": "amount"}
DATA = {"thing1": "您的订单已发货", "time2": "2026-12-01 10:00", "amount3": "¥8.80"}

# ---------------------------------------------------------------------------- the value rules


@pytest.mark.parametrize(("kind", "value", "taken"), CASES, ids=lambda c: repr(c)[:40])
def test_each_kind_refuses_what_wechat_refuses(kind: FieldKind, value: str, taken: bool) -> None:
    problem = value_problem(kind, value)
    assert (problem is None) is taken, problem


def test_a_refusal_never_repeats_the_value() -> None:
    """A message's values are personal data (an address, a name): the reason names the rule
    and the length, not the value."""
    address = "深圳市宝安区大运街道留仙居北区13栋2004室"
    problem = value_problem(FieldKind.THING, address)
    assert problem is not None and "23 characters" in problem
    assert address not in problem and "留仙居" not in problem


def test_the_client_and_the_simulator_agree_on_values_next_to_the_known_ones() -> None:
    """Two readings of WeChat's rules, written apart: any value one takes and the other
    refuses is a bug in one of them. Every case above, changed by one character many times."""
    rng = random.Random(20261201)
    disagreements = []
    for kind, value, _ in CASES:
        for _ in range(200):
            chars = list(value)
            where = rng.randint(0, len(chars))
            change = rng.choice(("insert", "replace", "delete"))
            if change == "insert" or not chars:
                chars.insert(where, rng.choice(ALPHABET + "0123456789"))
            elif change == "replace":
                chars[min(where, len(chars) - 1)] = rng.choice(ALPHABET + "0123456789")
            else:
                del chars[min(where, len(chars) - 1)]
            mutated = "".join(chars)
            if (value_problem(kind, mutated) is None) != value_fits(kind, mutated):
                disagreements.append((kind.value, mutated))
    assert disagreements == []


def test_check_message_names_the_keyword_at_fault() -> None:
    template = MessageTemplate.parse(TEMPLATE, FIELDS)
    assert check_message(template, DATA) == DATA
    cases: list[tuple[dict[str, object], str, str]] = [
        ({**DATA, "thing1": "x" * 21}, "thing1", "21 characters"),
        ({k: v for k, v in DATA.items() if k != "time2"}, "time2", "missing"),
        ({**DATA, "thing9": "extra"}, "thing9", "not a keyword"),
        ({**DATA, "amount3": 8.8}, "amount3", "must be a string"),
    ]
    for data, field, words in cases:
        with pytest.raises(errors.MessageDataRejected) as refused:
            check_message(template, data)
        assert refused.value.field == field
        assert refused.value.message.startswith(field) and words in refused.value.message
        assert (refused.value.code, refused.value.http_status) == ("invalid_message_data", 400)


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({}, "at least one keyword"),
        ({"thing1": "stuff"}, "unknown kind"),
        ({"thing1": "number"}, "the name says 'thing'"),
        ({"Thing1": "thing"}, "not a keyword name"),
    ],
)
def test_a_template_declaration_is_checked(fields: dict[str, str], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        MessageTemplate.parse(TEMPLATE, fields)


# ---------------------------------------------------------------------------- sending


@pytest.fixture
def shipped(sim: Simulator) -> str:
    """The template registered in the simulator; alice has opened the mini program."""
    sim.register_template(APPID, TEMPLATE, FIELDS)
    sim.login(APPID, "alice")
    return sim.openid(APPID, "alice")


async def test_one_accept_allows_one_send(
    client: WeChatClient, sim: Simulator, shipped: str, wire: RecordingTransport
) -> None:
    assert sim.subscribe(APPID, "alice", TEMPLATE) == 1
    await client.send_subscribe_message(
        shipped, TEMPLATE, DATA, page="pages/order?id=42", state="trial", lang="en_US"
    )
    (delivered,) = sim.delivered_messages("alice")
    assert delivered["data"] == DATA
    assert (delivered["page"], delivered["miniprogram_state"], delivered["lang"]) == (
        "pages/order?id=42",
        "trial",
        "en_US",
    )
    with pytest.raises(errors.NotSubscribed) as refused:
        await client.send_subscribe_message(shipped, TEMPLATE, DATA)
    assert (refused.value.errcode, refused.value.code, refused.value.http_status) == (
        43101,
        "not_subscribed",
        403,
    )
    assert refused.value.rid is not None
    assert len(sim.delivered_messages("alice")) == 1
    assert wire.calls[wx.SUBSCRIBE_SEND] == 2  # a refused send is not retried


async def test_accepts_add_up_and_a_reject_adds_nothing(
    client: WeChatClient, sim: Simulator, shipped: str
) -> None:
    sim.subscribe(APPID, "alice", TEMPLATE, "reject")
    with pytest.raises(errors.NotSubscribed):
        await client.send_subscribe_message(shipped, TEMPLATE, DATA)
    sim.subscribe(APPID, "alice", TEMPLATE)
    assert sim.subscribe(APPID, "alice", TEMPLATE) == 2
    await client.send_subscribe_message(shipped, TEMPLATE, DATA)
    await client.send_subscribe_message(shipped, TEMPLATE, DATA)
    with pytest.raises(errors.NotSubscribed):
        await client.send_subscribe_message(shipped, TEMPLATE, DATA)


async def test_47003_names_the_keyword_and_spends_no_accept(
    client: WeChatClient, sim: Simulator, shipped: str
) -> None:
    sim.subscribe(APPID, "alice", TEMPLATE)
    with pytest.raises(errors.InvalidMessageData) as refused:
        await client.send_subscribe_message(shipped, TEMPLATE, {**DATA, "time2": "3pm"})
    assert refused.value.field == "time2"
    assert "time2" in refused.value.message
    assert (refused.value.code, refused.value.http_status) == ("invalid_message_data", 400)
    await client.send_subscribe_message(shipped, TEMPLATE, DATA)  # the accept is still there


async def test_unknown_template_and_unknown_openid(
    client: WeChatClient, sim: Simulator, shipped: str
) -> None:
    sim.subscribe(APPID, "alice", TEMPLATE)
    with pytest.raises(errors.InvalidTemplate) as template:
        await client.send_subscribe_message(shipped, "no-such-template", DATA)
    assert template.value.errcode == 40037
    with pytest.raises(errors.InvalidOpenid):
        await client.send_subscribe_message("o" + "x" * 27, TEMPLATE, DATA)
    # alice's openid in another app is no user of this one.
    sim.login(APPID_B, "alice")
    with pytest.raises(errors.InvalidOpenid):
        await client.send_subscribe_message(sim.openid(APPID_B, "alice"), TEMPLATE, DATA)
    await client.send_subscribe_message(shipped, TEMPLATE, DATA)


async def test_a_superseded_token_is_refreshed_once_and_the_send_retried(
    client: WeChatClient, sim: Simulator, shipped: str, wire: RecordingTransport
) -> None:
    sim.subscribe(APPID, "alice", TEMPLATE)
    await client.get_access_token()
    sim.add_fault(wx.SUBSCRIBE_SEND, errcode=40001)
    await client.send_subscribe_message(shipped, TEMPLATE, DATA)
    assert wire.calls[wx.STABLE_TOKEN] == 2
    assert wire.calls[wx.SUBSCRIBE_SEND] == 2
    assert len(sim.delivered_messages("alice")) == 1


async def test_a_send_whose_answer_was_lost_is_not_sent_again(
    client: WeChatClient, sim: Simulator, shipped: str, wire: RecordingTransport
) -> None:
    sim.subscribe(APPID, "alice", TEMPLATE)
    sim.subscribe(APPID, "alice", TEMPLATE)
    sim.add_fault(wx.SUBSCRIBE_SEND, drop=True)
    with pytest.raises(errors.UpstreamUnavailable) as lost:
        await client.send_subscribe_message(shipped, TEMPLATE, DATA)
    assert lost.value.request_sent
    assert wire.calls[wx.SUBSCRIBE_SEND] == 1


@pytest.mark.parametrize(
    ("openid", "template_id", "data"),
    [("", TEMPLATE, DATA), ("o" + "x" * 27, "", DATA), ("o" + "x" * 27, TEMPLATE, {})],
)
async def test_missing_arguments_are_refused_before_any_request(
    client: WeChatClient,
    wire: RecordingTransport,
    openid: str,
    template_id: str,
    data: dict[str, str],
) -> None:
    with pytest.raises(errors.InvalidRequest):
        await client.send_subscribe_message(openid, template_id, data)
    assert sum(wire.calls.values()) == 0
