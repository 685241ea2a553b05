"""Log lines: the JSON shape, the text shape, one record per line, and the scrubbing net."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from wxlogin.logs import REQUEST_ID, configure_logging, escape, logging_config, scrub

JWT = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ1c2VyIn0.c2lnbmF0dXJlLWJ5dGVz"
REFRESH = "s3ss10n-1d-0123456789." + "A" * 43


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Logging configured as the commands configure it, into a buffer; put back after."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    stream = io.StringIO()
    yield stream
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def test_json_lines_have_one_shape(captured: io.StringIO) -> None:
    configure_logging("json", "DEBUG", captured)
    log = logging.getLogger("wxlogin.test")
    log.info("plain")
    token = REQUEST_ID.set("req-1")
    try:
        log.warning("during a request: %s", "value")
        try:
            raise ValueError("bad\nvalue")
        except ValueError:
            log.exception("failed")
    finally:
        REQUEST_ID.reset(token)
    lines = captured.getvalue().splitlines()
    assert len(lines) == 3
    plain, during, failed = (json.loads(line) for line in lines)
    assert set(plain) == {"time", "level", "logger", "message", "pid"}
    assert (plain["level"], plain["logger"], plain["message"]) == ("INFO", "wxlogin.test", "plain")
    assert plain["time"].endswith("Z") and "T" in plain["time"]
    assert (during["request_id"], during["message"]) == ("req-1", "during a request: value")
    assert (
        failed["exception"].startswith("Traceback")
        and "ValueError: bad\nvalue" in failed["exception"]
    )


def test_one_record_is_one_line_whatever_it_holds(captured: io.StringIO) -> None:
    hostile = "a\nFAKE 12:00:00 ERROR wxlogin.api: forged\r\x1b[31m\u2028\u2029\x85end"
    for log_format in ("json", "text"):
        captured.seek(0)
        captured.truncate()
        configure_logging(log_format, "INFO", captured)
        logging.getLogger("wxlogin.test").warning("value: %s", hostile)
        text = captured.getvalue()
        assert text.count("\n") == 1 and len(text.splitlines()) == 1, log_format
        assert "forged" in text  # escaped, not dropped


def test_text_tracebacks_cannot_pass_for_records(captured: io.StringIO) -> None:
    configure_logging("text", "INFO", captured)
    token = REQUEST_ID.set("req-2")
    try:
        raise RuntimeError("first\n12:00:00 ERROR   wxlogin.api: forged")
    except RuntimeError:
        logging.getLogger("wxlogin.test").exception("it broke")
    finally:
        REQUEST_ID.reset(token)
    head, *rest = captured.getvalue().splitlines()
    assert head.endswith("ERROR   wxlogin.test [req-2]: it broke")
    assert rest and all(line.startswith("    | ") for line in rest)


def test_escape() -> None:
    assert escape("plain 中文") == "plain 中文"
    assert escape("a\nb\tc\x00\x7f\u2028") == "a\\nb\\tc\\x00\\x7f\\u2028"


@pytest.mark.parametrize(
    ("text", "leaked"),
    [
        (f"token {JWT} here", JWT),
        (f"refresh {REFRESH}", REFRESH),
        ("GET /sns/jscode2session?appid=wx1&secret=s3cr3t-value&js_code=0a1B2c", "s3cr3t-value"),
        ("GET /sns/jscode2session?appid=wx1&secret=x&js_code=0a1B2c3d", "0a1B2c3d"),
        ("/cgi-bin/message/subscribe/send?access_token=ACCESS-TOKEN-1", "ACCESS-TOKEN-1"),
        ('{"phoneNumber": "13800138000", "purePhoneNumber": "13800138000"}', "13800138000"),
        ('{"nickName": "小明同学", "avatarUrl": "https://x"}', "小明同学"),
        ("{'session_key': 'tiihtNczf5v6AKRyjwEUhQ=='}", "tiihtNczf5v6AKRyjwEUhQ=="),
        ("called +86 13912345678 today", "13912345678"),
        ("phone=+8613912345678", "13912345678"),
    ],
)
def test_scrub_catches_what_slips_through(text: str, leaked: str) -> None:
    assert leaked not in scrub(text)


def test_scrub_leaves_ordinary_lines_alone() -> None:
    line = "POST /auth/login -> 503 upstream_unavailable: wechat took 5003.2 ms (errcode -1)"
    assert scrub(line) == line
    assert scrub("user 4f9a2b order 202612011234567 took 12345678901234 ns") == (
        "user 4f9a2b order 202612011234567 took 12345678901234 ns"
    )


def test_sqlalchemy_statements_are_never_logged(captured: io.StringIO) -> None:
    config = logging_config("json", "DEBUG")
    assert config["loggers"]["sqlalchemy.engine"]["level"] == "WARNING"
    configure_logging("json", "DEBUG", captured)
    engine_log = logging.getLogger("sqlalchemy.engine.Engine")
    assert not engine_log.isEnabledFor(logging.INFO)  # what SQLAlchemy checks before logging
    # uvicorn's loggers go through the same handler, in the same format.
    logging.getLogger("uvicorn.error").info("Started server process")
    assert json.loads(captured.getvalue())["logger"] == "uvicorn.error"
