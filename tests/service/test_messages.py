"""The Python API a host app calls (``service.messages.send_message``), the templates from
settings, and the service credential — without HTTP."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from wxlogin.cache.base import Cache
from wxlogin.config import Settings
from wxlogin.errors import (
    ConfigurationError,
    MessageDataRejected,
    NotSubscribed,
    ServiceTokenRejected,
)
from wxlogin.service import build_service
from wxlogin.service.credentials import ServiceCredentials
from wxlogin.service.messages import templates_from_settings
from wxlogin.simulator import Simulator
from wxlogin.store.records import SendOutcome

APPID = "wx1234567890abcdef"
SECRET = "app-secret-0123456789abcdef"
TEMPLATE = "tmpl-order-shipped"
FIELDS = {"thing1": "thing", "amount2": "amount"}


async def test_a_host_app_sends_through_the_python_api(
    database_url: str, cache: Cache, tmp_path: Path
) -> None:
    sim = Simulator()
    sim.register_app(APPID, SECRET)
    sim.register_template(APPID, TEMPLATE, FIELDS)
    settings = Settings(
        apps=[{"appid": APPID, "secret": SECRET}],
        database_url=database_url,
        data_dir=tmp_path,
        message_templates={TEMPLATE: FIELDS},
    )
    service = await build_service(settings, wechat_transport=sim.transport, cache=cache)
    try:
        outcome = await service.login(sim.login(APPID, "alice"), client_ip="203.0.113.1")
        assert service.messages is not None
        heard: list[tuple[str, dict[str, object]]] = []
        service.messages.listener = lambda event, fields: heard.append((event, dict(fields)))
        sim.subscribe(APPID, "alice", TEMPLATE)

        sent = await service.messages.send_message(
            outcome.user.id, TEMPLATE, {"thing1": "已发货", "amount2": "¥8.80"}
        )
        assert (sent.outcome, sent.appid, sent.keywords) == (
            SendOutcome.SENT,
            APPID,
            ("thing1", "amount2"),
        )
        with pytest.raises(NotSubscribed):
            await service.messages.send_message(
                outcome.user.id, TEMPLATE, {"thing1": "已发货", "amount2": "¥8.80"}
            )
        with pytest.raises(MessageDataRejected) as refused:
            await service.messages.send_message(
                outcome.user.id, TEMPLATE, {"thing1": "已发货", "amount2": "八块八"}
            )
        assert refused.value.field == "amount2"
        assert [e["outcome"] for _, e in heard] == ["sent", "refused", "invalid"]
        assert [e["errcode"] for _, e in heard] == [0, 43101, 0]
        assert all("已发货" not in str(fields) for _, fields in heard)  # never a value
        assert len(await service.store.list_message_sends()) == 3
    finally:
        await service.aclose()


def test_templates_from_settings_name_every_problem() -> None:
    good = templates_from_settings({TEMPLATE: FIELDS})
    assert dict(good[TEMPLATE].fields) == FIELDS
    with pytest.raises(ConfigurationError) as problems:
        templates_from_settings(
            {
                "t-1": {"thing1": "stuff"},
                "t-2": {"thing1": "number"},
                "t-3": FIELDS,
            }
        )
    lines = problems.value.message.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("message_templates.t-1 (WXLOGIN_MESSAGE_TEMPLATES): thing1")
    assert "unknown kind 'stuff'" in lines[0]
    assert lines[1].startswith("message_templates.t-2") and "the name says 'thing'" in lines[1]


async def test_an_undeclared_kind_stops_the_service_from_starting(
    database_url: str, cache: Cache, tmp_path: Path
) -> None:
    settings = Settings(
        apps=[{"appid": APPID, "secret": SECRET}],
        database_url=database_url,
        data_dir=tmp_path,
        message_templates={TEMPLATE: {"thing1": "thingy"}},
    )
    with pytest.raises(ConfigurationError, match="thingy"):
        await build_service(settings, cache=cache)


def test_the_service_credential_accepts_each_token_and_nothing_else() -> None:
    first, second = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    credentials = ServiceCredentials([first, second])
    credentials.verify(first)
    credentials.verify(second)
    for wrong in (None, "", first[:-1], first + "x", second.upper(), "é" * 40):
        with pytest.raises(ServiceTokenRejected) as refused:
            credentials.verify(wrong)
        assert refused.value.http_status == 401
        assert first not in refused.value.message and second not in refused.value.message
    assert first not in repr(credentials) and "2 token" in repr(credentials)
    with pytest.raises(ServiceTokenRejected, match="WXLOGIN_SERVICE_TOKENS"):
        ServiceCredentials([]).verify(first)


@pytest.mark.parametrize(
    ("tokens", "dev", "words"),
    [
        ("changeme-changeme-changeme-changeme", False, "placeholder"),
        ("tiny-t0ken", False, "shorter than 32"),
        ("has space " + "x" * 30, False, "printable ASCII"),
    ],
)
def test_service_tokens_fail_closed_outside_dev(tokens: str, dev: bool, words: str) -> None:
    with pytest.raises(ConfigurationError, match=words) as refused:
        Settings(apps=[{"appid": APPID, "secret": SECRET}], service_tokens=[tokens], dev=dev)
    assert tokens not in refused.value.message


def test_service_tokens_and_templates_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first, second = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    monkeypatch.setenv("WXLOGIN_SERVICE_TOKENS", f"{first}, {second}")
    monkeypatch.setenv("WXLOGIN_MESSAGE_TEMPLATES", '{"tmpl-1": {"thing1": "thing"}}')
    settings = Settings(apps=[{"appid": APPID, "secret": SECRET}])
    assert [t.get_secret_value() for t in settings.service_tokens] == [first, second]
    assert settings.message_templates == {"tmpl-1": {"thing1": "thing"}}
    assert first not in repr(settings)
    monkeypatch.setenv("WXLOGIN_MESSAGE_TEMPLATES", "{not json")
    with pytest.raises(ConfigurationError, match="message_templates"):
        Settings(apps=[{"appid": APPID, "secret": SECRET}])
    monkeypatch.setenv("WXLOGIN_MESSAGE_TEMPLATES", '{"t 1": {"Thing": "thing"}}')
    with pytest.raises(ConfigurationError, match="not a template id"):
        Settings(apps=[{"appid": APPID, "secret": SECRET}])
    # Placeholders are fine in dev mode, never elsewhere.
    monkeypatch.delenv("WXLOGIN_MESSAGE_TEMPLATES")
    monkeypatch.setenv("WXLOGIN_SERVICE_TOKENS", "dev-token")
    assert Settings(apps=[{"appid": APPID, "secret": SECRET}], dev=True).service_tokens


def test_templates_in_a_toml_file(tmp_path: Path) -> None:
    config = tmp_path / "wxlogin.toml"
    config.write_text(
        '[[apps]]\nappid = "wx1234567890abcdef"\nsecret = "app-secret-0123456789abcdef"\n\n'
        '[message_templates."W25vrVdFrfC1CBXlJG7aGYk0B8y3hR5jLvsTg2Xmhrs"]\n'
        'thing1 = "thing"\ntime2 = "time"\n',
        encoding="utf-8",
    )
    settings = Settings.load(config)
    assert settings.message_templates == {
        "W25vrVdFrfC1CBXlJG7aGYk0B8y3hR5jLvsTg2Xmhrs": {"thing1": "thing", "time2": "time"}
    }
