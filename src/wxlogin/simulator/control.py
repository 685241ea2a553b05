"""The control API under ``/__sim/``: JSON in, JSON out, plays the phone's side.

Every route is a thin shell over a ``Simulator`` method, so HTTP users and the Python API
(pytest fixture) can never drift apart. Mistakes answer 4xx ``{"error": "..."}``.
Request bodies are strict: unknown fields are refused, so a typo does not silently do nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

import orjson

from wxlogin.simulator.errors import InvalidControlRequest, SimulatorError
from wxlogin.simulator.wire import Answer

if TYPE_CHECKING:
    from wxlogin.simulator.core import Simulator

__all__ = ["dispatch"]

_JSON: Final = b"application/json"
_USERS_PREFIX: Final = "/__sim/users/"

Body = dict[str, Any]


def _answer(status: int, data: Any) -> Answer:
    return Answer(status, _JSON, orjson.dumps(data))


def _error(status: int, message: str) -> Answer:
    return _answer(status, {"error": message})


def _parse(body: bytes, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> Body:
    if not body.strip():
        data: Any = {}
    else:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise InvalidControlRequest("the body must be a JSON object") from None
    if not isinstance(data, dict):
        raise InvalidControlRequest("the body must be a JSON object")
    # Name typos and omissions together: "usr" is more helpful to see than "user missing".
    problems = []
    unknown = sorted(set(data) - set(required) - set(optional))
    if unknown:
        problems.append(f"unknown field(s): {', '.join(unknown)}")
    missing = [name for name in required if name not in data]
    if missing:
        problems.append(f"missing field(s): {', '.join(missing)}")
    if problems:
        raise InvalidControlRequest("; ".join(problems))
    return data


def _text(data: Body, name: str) -> str:
    value = data[name]
    if not isinstance(value, str) or not value:
        raise InvalidControlRequest(f"{name} must be a non-empty string")
    return value


def _optional_text(data: Body, name: str) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise InvalidControlRequest(f"{name} must be a non-empty string or null")
    return value


# --------------------------------------------------------------------------- routes


def _apps(sim: Simulator, body: bytes) -> Answer:
    data = _parse(body, ("appid", "secret"), ("open_account",))
    created = data["appid"] not in sim.world.apps
    app = sim.register_app(
        appid=_text(data, "appid"),
        secret=_text(data, "secret"),
        open_account=_optional_text(data, "open_account"),
    )
    return _answer(201 if created else 200, {"appid": app.appid, "open_account": app.open_account})


def _login(sim: Simulator, body: bytes) -> Answer:
    data = _parse(body, ("appid", "user"))
    return _answer(200, {"code": sim.login(_text(data, "appid"), _text(data, "user"))})


def _phone_code(sim: Simulator, body: bytes) -> Answer:
    data = _parse(body, ("appid", "user"), ("phone",))
    code = sim.phone_code(
        _text(data, "appid"), _text(data, "user"), phone=_optional_text(data, "phone")
    )
    return _answer(200, {"code": code})


def _user_info(sim: Simulator, body: bytes) -> Answer:
    data = _parse(body, ("appid", "user"), ("nickname", "avatar_url"))
    info = sim.user_info(
        _text(data, "appid"),
        _text(data, "user"),
        nickname=_optional_text(data, "nickname"),
        avatar_url=_optional_text(data, "avatar_url"),
    )
    return _answer(200, info)


def _faults(sim: Simulator, body: bytes) -> Answer:
    data = _parse(
        body, ("path",), ("errcode", "code", "http_status", "delay_ms", "body", "drop", "times")
    )
    sim.add_fault(
        _text(data, "path"),
        code=data.get("code"),
        errcode=data.get("errcode"),
        http_status=data.get("http_status"),
        delay_ms=data.get("delay_ms"),
        body=data.get("body"),
        drop=data.get("drop", False),
        times=data.get("times", 1),
    )
    return _answer(201, {"faults": sim.faults.pending()})


def _clear_faults(sim: Simulator, body: bytes) -> Answer:
    sim.clear_faults()
    return _answer(200, {"faults": []})


def _clock(sim: Simulator, body: bytes) -> Answer:
    data = _parse(body, ("advance",))
    seconds = data["advance"]
    if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
        raise InvalidControlRequest("advance must be a number of seconds, not negative")
    return _answer(200, {"now": sim.advance(seconds)})


def _payments(sim: Simulator, body: bytes) -> Answer:
    data = _parse(body, ("appid", "user"), ("transaction_id", "mch_id", "out_trade_no"))
    payment = sim.add_payment(
        _text(data, "appid"),
        _text(data, "user"),
        transaction_id=_optional_text(data, "transaction_id"),
        mch_id=_optional_text(data, "mch_id"),
        out_trade_no=_optional_text(data, "out_trade_no"),
    )
    return _answer(201, payment)


def _merchants(sim: Simulator, body: bytes) -> Answer:
    data = _parse(
        body,
        ("mchid", "apiv3_key", "merchant_serial", "merchant_public_key", "mode"),
        ("appids",),
    )
    mchid = _text(data, "mchid")
    created = mchid not in sim.pay.world.merchants
    merchant = sim.register_merchant(
        mchid,
        apiv3_key=_text(data, "apiv3_key"),
        merchant_serial=_text(data, "merchant_serial"),
        merchant_public_key=_text(data, "merchant_public_key"),
        mode=_text(data, "mode"),
        appids=data.get("appids"),
    )
    return _answer(201 if created else 200, merchant.as_json())


def _pay(sim: Simulator, body: bytes) -> Answer:
    data = _parse(body, ("mchid", "out_trade_no", "outcome"), ("duplicates",))
    result = sim.pay_order(
        _text(data, "mchid"),
        _text(data, "out_trade_no"),
        _text(data, "outcome"),
        duplicates=data.get("duplicates", 0),
    )
    return _answer(200, result)


def _templates(sim: Simulator, body: bytes) -> Answer:
    data = _parse(body, ("appid", "template_id", "fields"))
    template = sim.register_template(
        _text(data, "appid"), _text(data, "template_id"), data["fields"]
    )
    return _answer(201, template)


def _subscriptions(sim: Simulator, body: bytes) -> Answer:
    """The user's choice in the subscribe dialog, for one template."""
    data = _parse(body, ("appid", "user", "template_id", "result"))
    allowed = sim.subscribe(
        _text(data, "appid"),
        _text(data, "user"),
        _text(data, "template_id"),
        _text(data, "result"),
    )
    return _answer(200, {"result": data["result"], "sends_allowed": allowed})


def _state(sim: Simulator, body: bytes) -> Answer:
    return _answer(200, sim.state())


def _health(sim: Simulator, body: bytes) -> Answer:
    return _answer(200, {"ok": True})


_ROUTES: Final[dict[str, dict[str, Callable[[Simulator, bytes], Answer]]]] = {
    "/__sim/apps": {"POST": _apps},
    "/__sim/login": {"POST": _login},
    "/__sim/phone-code": {"POST": _phone_code},
    "/__sim/user-info": {"POST": _user_info},
    "/__sim/faults": {"POST": _faults, "DELETE": _clear_faults},
    "/__sim/clock": {"POST": _clock},
    "/__sim/payments": {"POST": _payments},
    "/__sim/merchants": {"POST": _merchants},
    "/__sim/pay": {"POST": _pay},
    "/__sim/templates": {"POST": _templates},
    "/__sim/subscriptions": {"POST": _subscriptions},
    "/__sim/state": {"GET": _state},
    "/__sim/health": {"GET": _health},
}


def _user(sim: Simulator, method: str, name: str, body: bytes) -> Answer:
    if method == "GET":
        return _answer(200, sim.describe_user(name))
    if method != "PATCH":
        return _error(405, f"{method} is not allowed here; use GET or PATCH")
    data = _parse(body, (), ("high_risk", "phone"))
    high_risk = data.get("high_risk")
    if high_risk is not None and not isinstance(high_risk, bool):
        raise InvalidControlRequest("high_risk must be true or false")
    return _answer(
        200, sim.set_user(name, high_risk=high_risk, phone=_optional_text(data, "phone"))
    )


def dispatch(sim: Simulator, method: str, path: str, body: bytes) -> Answer:
    """Answer one control request."""
    try:
        if path.startswith(_USERS_PREFIX) and len(path) > len(_USERS_PREFIX):
            return _user(sim, method, path[len(_USERS_PREFIX) :], body)
        methods = _ROUTES.get(path)
        if methods is None:
            return _error(404, f"no control route {path}; see docs/simulator.md")
        route = methods.get(method)
        if route is None:
            allowed = ", ".join(sorted(methods))
            return _error(405, f"{method} is not allowed on {path}; use {allowed}")
        return route(sim, body)
    except SimulatorError as exc:
        return _error(exc.status, exc.message)
