"""WeChatClient against the simulator, in process: every behaviour of the client."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.test_errors import SPEC_ERRCODES
from tests.wechat.conftest import (
    APPID,
    APPID_B,
    SECRET,
    SECRET_B,
    RecordingTransport,
    Sleeps,
)
from wxlogin import errors
from wxlogin.cache import MemoryCache
from wxlogin.simulator import Simulator
from wxlogin.wechat import WeChatClient
from wxlogin.wechat import protocol as wx

# ---------------------------------------------------------------------------- code2Session


async def test_code_to_session_returns_the_users_ids_and_key(
    client: WeChatClient, sim: Simulator
) -> None:
    session = await client.code_to_session(sim.login(APPID, "alice"))
    assert session.openid == sim.openid(APPID, "alice")
    assert session.unionid == sim.unionid(APPID, "alice")
    assert session.session_key == sim.session_key(APPID, "alice")
    assert session.session_key not in repr(session)
    assert session.session_key not in str(session)


async def test_code_to_session_hits_no_token_endpoint(
    client: WeChatClient, sim: Simulator, wire: RecordingTransport
) -> None:
    for user in ("alice", "bob", "carol"):
        await client.code_to_session(sim.login(APPID, user))
    assert wire.calls == {wx.CODE2SESSION: 3}
    assert sim.state()["token_fetches"] == {"token": 0, "stable_token": 0}


async def test_app_without_open_account_gets_no_unionid(sleeps: Sleeps) -> None:
    sim = Simulator()
    sim.register_app(APPID, SECRET)
    async with WeChatClient(APPID, SECRET, transport=sim.transport, sleep=sleeps) as client:
        session = await client.code_to_session(sim.login(APPID, "alice"))
    assert session.unionid is None


async def test_apps_on_one_open_account_see_one_unionid(
    client: WeChatClient, sim: Simulator
) -> None:
    async with WeChatClient(APPID_B, SECRET_B, transport=sim.transport) as other:
        a = await client.code_to_session(sim.login(APPID, "alice"))
        b = await other.code_to_session(sim.login(APPID_B, "alice"))
    assert a.openid != b.openid
    assert a.unionid == b.unionid is not None


async def test_a_code_is_single_use(client: WeChatClient, sim: Simulator) -> None:
    code = sim.login(APPID, "alice")
    await client.code_to_session(code)
    with pytest.raises(errors.CodeUsed) as info:
        await client.code_to_session(code)
    assert info.value.errcode == 40163
    assert info.value.rid is not None


async def test_an_expired_code_is_invalid(client: WeChatClient, sim: Simulator) -> None:
    code = sim.login(APPID, "alice")
    sim.advance(wx.CODE_TTL + 1)
    with pytest.raises(errors.InvalidCode):
        await client.code_to_session(code)


async def test_a_code_from_another_app_is_invalid(client: WeChatClient, sim: Simulator) -> None:
    with pytest.raises(errors.InvalidCode):
        await client.code_to_session(sim.login(APPID_B, "alice"))


async def test_a_wrong_secret_is_a_configuration_error(sim: Simulator) -> None:
    async with WeChatClient(APPID, "not-the-secret", transport=sim.transport) as client:
        with pytest.raises(errors.BadAppCredentials) as info:
            await client.code_to_session(sim.login(APPID, "alice"))
    assert info.value.errcode == 40125
    assert info.value.http_status == 500


async def test_high_risk_user_is_blocked(client: WeChatClient, sim: Simulator) -> None:
    sim.set_user("mallory", high_risk=True)
    with pytest.raises(errors.UserBlocked):
        await client.code_to_session(sim.login(APPID, "mallory"))


async def test_minute_quota_per_user(client: WeChatClient, sim: Simulator) -> None:
    codes = [sim.login(APPID, "alice") for _ in range(wx.CODE2SESSION_PER_USER_PER_MINUTE + 1)]
    for code in codes[:-1]:
        await client.code_to_session(code)
    with pytest.raises(errors.RateLimited) as info:
        await client.code_to_session(codes[-1])
    assert info.value.retryable
    assert info.value.retry_after == 60


async def test_empty_code_is_refused_before_any_request(
    client: WeChatClient, wire: RecordingTransport
) -> None:
    with pytest.raises(errors.InvalidRequest):
        await client.code_to_session("")
    assert not wire.calls


# ---------------------------------------------------------------------------- errcodes


def _call_for(path: str, client: WeChatClient, sim: Simulator):  # type: ignore[no-untyped-def]
    if path == wx.CODE2SESSION:
        return client.code_to_session(sim.login(APPID, "alice"))
    if path == wx.PHONE_NUMBER:
        return client.get_phone_number(sim.phone_code(APPID, "alice"))
    return client.get_paid_unionid("o" + "x" * 27, transaction_id="4200000000000000")


@pytest.mark.parametrize(("errcode", "cls", "status", "retryable", "code"), SPEC_ERRCODES)
@pytest.mark.parametrize("path", [wx.CODE2SESSION, wx.PAID_UNIONID])
async def test_every_spec_errcode_becomes_its_exception(
    client: WeChatClient,
    sim: Simulator,
    path: str,
    errcode: int,
    cls: type[errors.WeChatError],
    status: int,
    retryable: bool,
    code: str,
) -> None:
    # Enough faults that retries and the one token refresh all see the same errcode.
    sim.add_fault(path, errcode=errcode, times=10)
    with pytest.raises(cls) as info:
        await _call_for(path, client, sim)
    exc = info.value
    assert (exc.errcode, exc.http_status, exc.retryable, exc.code) == (
        errcode,
        status,
        retryable,
        code,
    )
    assert exc.rid is not None


async def test_phone_endpoint_reads_40013_as_a_code_from_another_app(
    client: WeChatClient, sim: Simulator
) -> None:
    with pytest.raises(errors.InvalidCode) as info:
        await client.get_phone_number(sim.phone_code(APPID_B, "alice"))
    assert info.value.errcode == 40013


async def test_unknown_errcode_keeps_its_errcode(client: WeChatClient, sim: Simulator) -> None:
    sim.add_fault(wx.CODE2SESSION, errcode=61451)
    with pytest.raises(errors.UnknownWeChatError) as info:
        await client.code_to_session(sim.login(APPID, "alice"))
    assert info.value.errcode == 61451


# ---------------------------------------------------------------------------- access_token


async def test_concurrent_callers_share_one_token_fetch(
    client: WeChatClient, wire: RecordingTransport
) -> None:
    tokens = await asyncio.gather(*(client.get_access_token() for _ in range(100)))
    assert len(set(tokens)) == 1
    assert wire.calls == {wx.STABLE_TOKEN: 1}


async def test_plain_token_endpoint_is_selectable_and_single_flight(
    sim: Simulator, wire: RecordingTransport
) -> None:
    async with WeChatClient(APPID, SECRET, transport=wire, token_endpoint="plain") as client:
        await asyncio.gather(*(client.get_access_token() for _ in range(100)))
    assert wire.calls == {wx.TOKEN: 1}


async def test_token_is_cached_until_the_refresh_margin(
    client: WeChatClient, sim: Simulator, wire: RecordingTransport
) -> None:
    first = await client.get_access_token()
    sim.advance(wx.ACCESS_TOKEN_TTL - 310)
    assert await client.get_access_token() == first
    assert wire.calls[wx.STABLE_TOKEN] == 1
    sim.advance(20)  # now inside the 300 s margin: refresh (stable_token rolls to a new one)
    second = await client.get_access_token()
    assert wire.calls[wx.STABLE_TOKEN] == 2
    assert second != first


async def test_40001_causes_exactly_one_refetch_and_one_retry(
    client: WeChatClient, sim: Simulator, wire: RecordingTransport
) -> None:
    await client.code_to_session(sim.login(APPID, "alice"))
    key = sim.session_key(APPID, "alice")
    assert key is not None
    await client.get_access_token()
    sim.add_fault(wx.CHECK_SESSION, errcode=40001)
    assert await client.check_session_key(sim.openid(APPID, "alice"), key) is True
    assert wire.calls[wx.STABLE_TOKEN] == 2  # the first fetch and one refetch
    assert wire.calls[wx.CHECK_SESSION] == 2  # the call and one retry


@pytest.mark.parametrize("errcode", [40001, 40014, 42001])
async def test_a_token_refused_twice_is_not_retried_again(
    client: WeChatClient, sim: Simulator, wire: RecordingTransport, errcode: int
) -> None:
    sim.add_fault(wx.CHECK_SESSION, errcode=errcode, times=5)
    with pytest.raises(errors.InvalidCredential):
        await client.check_session_key("o" + "x" * 27, "k" * 24)
    assert wire.calls[wx.CHECK_SESSION] == 2
    assert wire.calls[wx.STABLE_TOKEN] == 2


async def test_a_refused_token_is_expired_only_if_still_cached(sim: Simulator) -> None:
    # Two workers share one token store. Worker A's call fails with the token it read, but
    # while that call was in flight worker B stored a newer token. A must keep B's token and
    # retry with it, not throw it away and fetch a third.
    store = MemoryCache(clock=sim.clock.now)
    wire_b = RecordingTransport(sim.transport)
    b = WeChatClient(APPID, SECRET, transport=wire_b, token_store=store, clock=sim.clock.now)
    tokens_seen: list[str] = []

    class Interleaved(RecordingTransport):
        async def request(self, method, url, *, params, json_body, timeout):  # type: ignore[no-untyped-def]
            if url.endswith(wx.CHECK_SESSION):
                tokens_seen.append(params["access_token"])
                if len(tokens_seen) == 1:
                    sim.advance(wx.ACCESS_TOKEN_TTL - 200)  # B now refreshes: a new token
                    await b.get_access_token()
            return await super().request(
                method, url, params=params, json_body=json_body, timeout=timeout
            )

    wire_a = Interleaved(sim.transport)
    a = WeChatClient(APPID, SECRET, transport=wire_a, token_store=store, clock=sim.clock.now)
    session = await a.code_to_session(sim.login(APPID, "alice"))
    old = await a.get_access_token()
    sim.add_fault(wx.CHECK_SESSION, errcode=40001)
    assert await a.check_session_key(session.openid, session.session_key) is True
    new = await b.get_access_token()
    assert tokens_seen == [old, new]
    assert new != old
    assert wire_a.calls[wx.STABLE_TOKEN] == 1  # A never fetched again: it reused B's token
    assert wire_b.calls[wx.STABLE_TOKEN] == 1
    await a.aclose()
    await b.aclose()


class LockExpired:
    """A view of a shared token store whose lock is always free: what a worker sees once the
    Redis lock another worker took has run out (its ttl) while that worker still refreshes."""

    def __init__(self, store: MemoryCache) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    @contextlib.asynccontextmanager
    async def lock(self, name: str, *, ttl: float, wait: float) -> AsyncIterator[bool]:
        yield True


async def test_a_refresher_whose_lock_ran_out_does_not_overwrite_a_newer_token(
    sim: Simulator,
) -> None:
    # Worker A holds the lock and asks WeChat for a token; WeChat is slow, A's lock expires,
    # worker B takes the lock, refreshes and stores its token. When A's answer comes, the
    # fencing check (compare-and-set against what A read under the lock) keeps B's token,
    # and A uses it too: every worker ends up on one token.
    store = MemoryCache(clock=sim.clock.now)
    b = WeChatClient(
        APPID,
        SECRET,
        transport=sim.transport,
        token_store=LockExpired(store),
        token_endpoint="plain",
        clock=sim.clock.now,
    )

    class SlowWeChat(RecordingTransport):
        async def request(self, method, url, *, params, json_body, timeout):  # type: ignore[no-untyped-def]
            if url.endswith(wx.TOKEN) and self.calls[wx.TOKEN] == 0:
                refreshed_by_b.append(await b.get_access_token())  # while A waits for WeChat
            return await super().request(
                method, url, params=params, json_body=json_body, timeout=timeout
            )

    refreshed_by_b: list[str] = []
    wire_a = SlowWeChat(sim.transport)
    a = WeChatClient(
        APPID,
        SECRET,
        transport=wire_a,
        token_store=store,
        token_endpoint="plain",
        clock=sim.clock.now,
    )
    token = await a.get_access_token()  # A fetched one too, and kept B's
    assert wire_a.calls[wx.TOKEN] == 1
    assert [token] == refreshed_by_b
    stored = await store.get(f"access_token:{APPID}:plain")
    assert stored is not None and token.encode() in stored  # B's, not overwritten by A's
    assert await b.get_access_token() == token  # B's own, from the cache
    assert await a.get_access_token() == token
    assert wire_a.calls[wx.TOKEN] == 1
    await a.aclose()
    await b.aclose()


async def test_cached_token_is_used_when_a_refresh_fails(
    client: WeChatClient, sim: Simulator, wire: RecordingTransport
) -> None:
    first = await client.get_access_token()
    sim.advance(wx.ACCESS_TOKEN_TTL - 100)  # due for refresh, still valid
    sim.add_fault(wx.STABLE_TOKEN, errcode=45009, times=3)
    assert await client.get_access_token() == first


# ---------------------------------------------------------------------------- session_key


async def test_check_and_reset_session_key(client: WeChatClient, sim: Simulator) -> None:
    session = await client.code_to_session(sim.login(APPID, "alice"))
    assert await client.check_session_key(session.openid, session.session_key) is True
    reset = await client.reset_session_key(session.openid, session.session_key)
    assert reset.openid == session.openid
    assert reset.session_key != session.session_key
    assert reset.session_key not in repr(reset)
    assert reset.session_key == sim.session_key(APPID, "alice")
    assert await client.check_session_key(session.openid, session.session_key) is False
    assert await client.check_session_key(session.openid, reset.session_key) is True


async def test_a_rotated_session_key_fails_the_check(client: WeChatClient, sim: Simulator) -> None:
    first = await client.code_to_session(sim.login(APPID, "alice"))
    sim.advance(3600)
    second = await client.code_to_session(sim.login(APPID, "alice"))
    assert second.session_key != first.session_key
    assert await client.check_session_key(first.openid, first.session_key) is False


async def test_reset_for_a_user_without_key(client: WeChatClient, sim: Simulator) -> None:
    with pytest.raises(errors.SessionKeyExpired):
        await client.reset_session_key(sim.openid(APPID, "nobody"), "k" * 24)


# ---------------------------------------------------------------------------- phone, unionid


async def test_get_phone_number(client: WeChatClient, sim: Simulator) -> None:
    code = sim.phone_code(APPID, "alice", phone="13800138000")
    info = await client.get_phone_number(code)
    assert info.phone_number == "13800138000"
    assert info.pure_phone_number == "13800138000"
    assert info.country_code == "86"
    assert info.watermark_appid == APPID
    with pytest.raises(errors.InvalidCode):  # reused phone codes answer 40029
        await client.get_phone_number(code)


async def test_get_paid_unionid(client: WeChatClient, sim: Simulator) -> None:
    payment = sim.add_payment(APPID, "alice")
    unionid = await client.get_paid_unionid(
        payment["openid"], transaction_id=payment["transaction_id"]
    )
    assert unionid == sim.unionid(APPID, "alice")
    by_order = sim.add_payment(APPID, "bob", mch_id="1900000109", out_trade_no="order-1")
    assert await client.get_paid_unionid(
        by_order["openid"], mch_id="1900000109", out_trade_no="order-1"
    ) == sim.unionid(APPID, "bob")
    sim.advance(wx.PAID_UNIONID_WINDOW + 1)
    with pytest.raises(errors.InvalidTrade):
        await client.get_paid_unionid(payment["openid"], transaction_id=payment["transaction_id"])


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"transaction_id": "t", "mch_id": "m", "out_trade_no": "o"}, {"mch_id": "m"}],
)
async def test_get_paid_unionid_needs_one_way_to_name_the_payment(
    client: WeChatClient, kwargs: dict[str, str]
) -> None:
    with pytest.raises(errors.InvalidRequest):
        await client.get_paid_unionid("o" + "x" * 27, **kwargs)


# ---------------------------------------------------------------------------- wire failures


async def test_dropped_connection_after_sending_is_not_retried_for_login(
    client: WeChatClient, sim: Simulator, wire: RecordingTransport
) -> None:
    sim.add_fault(wx.CODE2SESSION, drop=True)
    with pytest.raises(errors.UpstreamUnavailable) as info:
        await client.code_to_session(sim.login(APPID, "alice"))
    assert info.value.request_sent
    assert wire.calls[wx.CODE2SESSION] == 1


async def test_system_busy_is_not_retried_for_login(
    client: WeChatClient, sim: Simulator, wire: RecordingTransport
) -> None:
    sim.add_fault(wx.CODE2SESSION, errcode=-1)
    with pytest.raises(errors.UpstreamBusy):
        await client.code_to_session(sim.login(APPID, "alice"))
    assert wire.calls[wx.CODE2SESSION] == 1


@pytest.mark.parametrize(
    "fault",
    [{"drop": True}, {"errcode": -1}, {"http_status": 502}, {"delay_ms": 200}],
    ids=["drop", "busy", "gateway-502", "timeout"],
)
async def test_transient_failures_of_a_safe_call_are_retried_with_backoff(
    sim: Simulator, wire: RecordingTransport, sleeps: Sleeps, fault: dict[str, object]
) -> None:
    async with WeChatClient(
        APPID, SECRET, transport=wire, clock=sim.clock.now, sleep=sleeps, timeout=0.05
    ) as client:
        sim.add_fault(wx.STABLE_TOKEN, times=2, **fault)  # type: ignore[arg-type]
        assert await client.get_access_token()
    assert wire.calls[wx.STABLE_TOKEN] == 3
    assert len(sleeps.delays) == 2
    assert sleeps.delays[1] > sleeps.delays[0] * 0.5  # exponential, jittered


async def test_retries_are_bounded(
    client: WeChatClient, sim: Simulator, wire: RecordingTransport, sleeps: Sleeps
) -> None:
    sim.add_fault(wx.STABLE_TOKEN, errcode=-1, times=10)
    with pytest.raises(errors.UpstreamBusy):
        await client.get_access_token()
    assert wire.calls[wx.STABLE_TOKEN] == 3  # 1 + max_retries (2)


async def test_timeout(sim: Simulator) -> None:
    async with WeChatClient(APPID, SECRET, transport=sim.transport, timeout=0.05) as client:
        sim.add_fault(wx.CODE2SESSION, delay_ms=500)
        with pytest.raises(errors.UpstreamTimeout) as info:
            await client.code_to_session(sim.login(APPID, "alice"))
    assert info.value.http_status == 504


@pytest.mark.parametrize("body", ["<html>502 Bad Gateway</html>", "[1, 2]", ""])
async def test_a_body_that_is_not_a_json_object_is_a_bad_response(
    client: WeChatClient, sim: Simulator, body: str
) -> None:
    sim.add_fault(wx.CODE2SESSION, body=body)
    with pytest.raises(errors.BadUpstreamResponse):
        await client.code_to_session(sim.login(APPID, "alice"))


async def test_success_body_missing_fields_is_a_bad_response(
    client: WeChatClient, sim: Simulator
) -> None:
    sim.add_fault(wx.CODE2SESSION, body='{"openid":"oabc"}')
    with pytest.raises(errors.BadUpstreamResponse, match="session_key"):
        await client.code_to_session(sim.login(APPID, "alice"))


# ---------------------------------------------------------------------------- secrets


async def test_no_secret_in_any_repr_str_or_log_record(
    sim: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    async with WeChatClient(APPID, SECRET, transport=sim.transport, timeout=0.05) as client:
        seen.append(repr(client))
        session = await client.code_to_session(sim.login(APPID, "alice"))
        seen += [repr(session), str(session)]
        reset = await client.reset_session_key(session.openid, session.session_key)
        seen += [repr(reset), str(reset)]
        for fault in ({"errcode": 40125}, {"drop": True}, {"delay_ms": 200}, {"body": "x"}):
            sim.add_fault(wx.CODE2SESSION, **fault)
            try:
                await client.code_to_session(sim.login(APPID, "alice"))
            except errors.WxLoginError as exc:
                seen += [repr(exc), str(exc), exc.message, repr(exc.__cause__)]
        sim.add_fault(wx.CHECK_SESSION, errcode=40001, times=3)
        try:
            await client.check_session_key(session.openid, reset.session_key)
        except errors.WxLoginError as exc:
            seen += [repr(exc), str(exc)]
    seen += [record.getMessage() for record in caplog.records]
    token_cache = repr(client)
    text = "\n".join([*seen, token_cache, caplog.text])
    for secret in (SECRET, session.session_key, reset.session_key):
        assert secret not in text


async def test_a_failing_refresh_is_shared_not_repeated_per_caller(
    client: WeChatClient, sim: Simulator, wire: RecordingTransport, sleeps: Sleeps
) -> None:
    sim.add_fault(wx.STABLE_TOKEN, errcode=-1, times=100)
    results = await asyncio.gather(
        *(client.get_access_token() for _ in range(20)), return_exceptions=True
    )
    assert all(isinstance(r, errors.UpstreamBusy) for r in results)
    assert wire.calls[wx.STABLE_TOKEN] == 3  # one refresh with its 2 retries, for all 20
    # During the cooldown callers get the same answer without another request...
    with pytest.raises(errors.UpstreamBusy):
        await client.get_access_token()
    assert wire.calls[wx.STABLE_TOKEN] == 3
    # ...and after it, the next caller tries again.
    sim.clear_faults()
    sim.advance(2)
    assert await client.get_access_token()
    assert wire.calls[wx.STABLE_TOKEN] == 4


async def test_an_expired_or_unknown_key_checks_false(client: WeChatClient, sim: Simulator) -> None:
    session = await client.code_to_session(sim.login(APPID, "alice"))
    assert await client.check_session_key(sim.openid(APPID, "nobody"), "k" * 24) is False
    sim.advance(sim.config.session_key_lifetime + 1)
    assert await client.check_session_key(session.openid, session.session_key) is False
    sim.add_fault(wx.CHECK_SESSION, errcode=87007)  # however WeChat words "no key"
    assert await client.check_session_key(session.openid, session.session_key) is False


async def test_each_caller_gets_its_own_copy_of_a_shared_failure(
    client: WeChatClient, sim: Simulator
) -> None:
    sim.add_fault(wx.STABLE_TOKEN, errcode=45009, times=100)
    results = await asyncio.gather(
        *(client.get_access_token() for _ in range(5)), return_exceptions=True
    )
    later = [await _raised(client) for _ in range(3)]  # from the cooldown
    errors_seen = [*results, *later]
    assert all(isinstance(e, errors.QuotaExceeded) for e in errors_seen)
    assert len({id(e) for e in errors_seen}) == len(errors_seen)  # no shared object
    for error in errors_seen:
        assert isinstance(error, errors.QuotaExceeded)
        assert (error.errcode, error.code, error.http_status) == (45009, "quota_exceeded", 503)
        assert error.retry_after is not None
        assert error.rid is not None


async def _raised(client: WeChatClient) -> BaseException:
    try:
        await client.get_access_token()
    except errors.WxLoginError as exc:
        return exc
    raise AssertionError("expected an error")


async def test_a_clock_stepped_back_does_not_stretch_the_cooldown(
    sim: Simulator, wire: RecordingTransport, sleeps: Sleeps
) -> None:
    now = [1_800_000_000.0]
    client = WeChatClient(APPID, SECRET, transport=wire, clock=lambda: now[0], sleep=sleeps)
    sim.add_fault(wx.STABLE_TOKEN, errcode=-1, times=3)
    with pytest.raises(errors.UpstreamBusy):
        await client.get_access_token()
    fetches = wire.calls[wx.STABLE_TOKEN]
    now[0] -= 3600  # the wall clock jumps an hour back
    assert await client.get_access_token()  # asked WeChat again rather than replaying
    assert wire.calls[wx.STABLE_TOKEN] == fetches + 1
    await client.aclose()


async def test_closing_the_client_stops_a_refresh_in_flight(sim: Simulator) -> None:
    wire = RecordingTransport(sim.transport)
    client = WeChatClient(APPID, SECRET, transport=wire, timeout=30)
    sim.add_fault(wx.STABLE_TOKEN, delay_ms=30_000)
    waiting = asyncio.ensure_future(client.get_access_token())
    await wire.sent.wait()  # the refresh has gone to WeChat, which holds it for 30 s
    assert wire.calls[wx.STABLE_TOKEN] == 1
    await client.aclose()
    with pytest.raises(asyncio.CancelledError):
        await waiting
