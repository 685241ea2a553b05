"""``wxlogin simulate``: serve the WeChat API simulator over HTTP.

Teams using any language point their backend's WeChat base URL at it and drive the phone's
side through ``/__sim/*`` (docs/simulator.md). It binds loopback by default: the control API
can mint logins for anyone, so it must not be reachable from a network by accident.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import importlib.util
import ipaddress
import logging
import re
import sys
from typing import Any

from wxlogin.cli._common import parse_app


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "simulate",
        help="serve a fake api.weixin.qq.com with real semantics (for tests and local dev)",
        description=(
            "Serve the WeChat API simulator: the WeChat endpoints a login uses, with WeChat's "
            "rules, plus a control API under /__sim/ that plays the phone (see "
            "docs/simulator.md). Binds 127.0.0.1 unless told otherwise."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8900, help="port to bind (8900)")
    parser.add_argument(
        "--app",
        dest="apps",
        action="append",
        type=parse_app,
        default=[],
        metavar="APPID:SECRET[:OPEN_ACCOUNT]",
        help="register a mini program at start; repeat for several",
    )
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=0.0,
        metavar="N",
        help="add N ms to every WeChat answer, like a real round trip (0)",
    )
    parser.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a SimulatorConfig field, e.g. --set session_key_min_rotation=0",
    )
    parser.add_argument("--log-level", default="warning", help="uvicorn log level (warning)")
    parser.add_argument(
        "--access-log", action="store_true", help="log every request (off: it costs speed)"
    )
    parser.set_defaults(handler=run)


_CREDENTIAL_PARAM = re.compile(r"\b(secret|access_token)=[^&\s\"]*")


class RedactCredentials(logging.Filter):
    """Access-log lines carry the URL, and WeChat URLs carry the AppSecret or access_token."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _CREDENTIAL_PARAM.sub(r"\1=***", arg) if isinstance(arg, str) else arg
                for arg in record.args
            )
        return True


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _config_overrides(settings: list[str]) -> dict[str, Any]:
    from wxlogin.simulator import SimulatorConfig

    types = {f.name: f.type for f in dataclasses.fields(SimulatorConfig)}
    overrides: dict[str, Any] = {}
    for item in settings:
        name, sep, value = item.partition("=")
        if not sep or name not in types:
            raise ValueError(
                f"--set {item!r}: expected NAME=VALUE with NAME one of {sorted(types)}"
            )
        kind = types[name]
        try:
            overrides[name] = (
                int(value) if kind == "int" else value if kind == "str" else float(value)
            )
        except ValueError:
            raise ValueError(f"--set {item!r}: {value!r} is not a valid {kind}") from None
    return overrides


def _announce(base_url: str, appids: list[str]) -> None:
    lines = [
        f"WeChat simulator listening on {base_url}  (Ctrl-C to stop)",
        f"  point your backend's WeChat base URL at {base_url}",
        f"  control API: {base_url}/__sim/  (state: GET {base_url}/__sim/state)",
    ]
    if appids:
        lines.append("  registered apps: " + ", ".join(appids))
    else:
        lines += [
            "  no app registered yet: restart with --app APPID:SECRET[:OPEN_ACCOUNT], or",
            f"  curl -X POST {base_url}/__sim/apps -H 'content-type: application/json' \\",
            '    -d \'{"appid":"wx1234567890abcdef","secret":"s3cret","open_account":null}\'',
        ]
    print("\n".join(lines), flush=True)


def run(args: argparse.Namespace) -> int:
    # Heavy imports here, not at the top, so `wxlogin --help` stays instant.
    import uvicorn

    from wxlogin.cli._common import describe, fail, port_in_use
    from wxlogin.cli._servers import serve_all
    from wxlogin.simulator import SimulatorConfig, SimulatorError, create_app
    from wxlogin.simulator.core import RegisteredApp

    try:
        config = SimulatorConfig(latency_ms=args.latency_ms, **_config_overrides(args.settings))
        sim = create_app(
            config,
            apps=[RegisteredApp(appid, secret, account) for appid, secret, account in args.apps],
        )
    except (ValueError, TypeError, SimulatorError) as exc:
        return fail("simulate", describe(exc))
    busy = port_in_use(args.host, args.port, "--port")
    if busy is not None:
        return fail("simulate", str(busy))
    if not _is_loopback(args.host):
        print(
            f"WARNING: binding {args.host}, not loopback. Anyone who can reach this port can "
            "mint logins and read simulator state. Use only on a trusted network.",
            file=sys.stderr,
            flush=True,
        )
    has = importlib.util.find_spec
    server_config = uvicorn.Config(
        sim.app,
        host=args.host,
        port=args.port,
        loop="uvloop" if has("uvloop") else "asyncio",
        http="httptools" if has("httptools") else "h11",
        log_level=args.log_level,
        access_log=args.access_log,
        server_header=False,  # WeChat does not say "uvicorn"
        lifespan="on",
    )
    # uvicorn.Config configured logging just now; filter what the access log will print.
    logging.getLogger("uvicorn.access").addFilter(RedactCredentials())
    host = f"[{args.host}]" if ":" in args.host else args.host
    base_url = f"http://{host}:{args.port}"
    appids = [appid for appid, _secret, _account in args.apps]
    try:
        asyncio.run(serve_all([server_config], on_started=lambda: _announce(base_url, appids)))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        return fail("simulate", f"cannot serve on {base_url}: {exc.strerror or exc}")
    return 0
