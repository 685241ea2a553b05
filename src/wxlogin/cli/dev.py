"""``wxlogin dev``: the simulator and the service in one process, on embedded defaults.

No WeChat account and no server to install: SQLite in ./.wxlogin, the in-memory cache, and
the built-in WeChat simulator with one app — and one WeChat Pay merchant, its keys made at
each start — registered on both sides. It prints a walkthrough
that can be pasted into a shell as it is, and serves ``/demo`` (``wxlogin.api.demo``): a mini
program played in the browser on the real SDK, beside a timeline of both sides — which only
this command serves, never ``wxlogin serve``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from wxlogin.cli._common import parse_app

DEV_APPID = "wx0123456789abcdef"
DEV_SECRET = "wxlogin-dev-secret"  # only the local simulator ever sees it
DEV_OPEN_ACCOUNT = "wxlogin-dev"
# The subscribe-message template /demo's "notify me" asks for: declared on both sides, as a
# real deployment declares it in wxlogin.toml and WeChat holds it for the mini program.
DEV_NOTIFY_TEMPLATE = "wxlogin-dev-order-shipped"
# The WeChat Pay merchant /demo's shop sells through: registered with the simulator at each
# start with keys made then (the simulator forgets it at exit), its key files kept with the
# rest of dev's data, and the dev app's `pay` table pointing at them.
DEV_MCHID = "1230000109"
DEV_MERCHANT_DIR = "dev-merchant"


class QuietFeedPolls(logging.Filter):
    """An open /demo page polls its event feed a few times a second; those access-log lines
    would bury every other request, so they are left out."""

    def __init__(self, feed_path: str) -> None:
        super().__init__()
        self._feed_path = feed_path

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        # uvicorn.access formats (client, method, path, http version, status).
        path = args[2] if isinstance(args, tuple) and len(args) > 2 else None
        return not (isinstance(path, str) and path.startswith(self._feed_path))


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "dev",
        help="try wxlogin: simulator + service on 127.0.0.1, SQLite in ./.wxlogin",
        description=(
            "Start the WeChat simulator and the login service in one process on 127.0.0.1, "
            "with SQLite in ./.wxlogin, and print a copy-paste walkthrough."
        ),
    )
    parser.add_argument("--port", type=int, default=8000, help="service port (8000)")
    parser.add_argument("--sim-port", type=int, default=8900, help="simulator port (8900)")
    parser.add_argument(
        "--app",
        type=parse_app,
        metavar="APPID:SECRET[:OPEN_ACCOUNT]",
        help=f"the mini program to register on both sides (default {DEV_APPID})",
    )
    parser.add_argument("--data-dir", type=Path, default=Path(".wxlogin"), help="(./.wxlogin)")
    parser.add_argument(
        "--sdk-dir",
        type=Path,
        help="the wxlogin-miniprogram package /demo runs on "
        "(default: clients/miniprogram of this checkout)",
    )
    parser.add_argument("--log-level", default="info")
    parser.set_defaults(handler=run)


def walkthrough(*, api: str, sim: str, appid: str) -> str:
    """Shell commands that walk through a whole login; every line runs as printed."""
    field = "python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])'"
    json_headers = "-H 'content-type: application/json'"
    return f"""\
# 1. Play wx.login on a phone: the simulator mints a one-time code for user "alice".
CODE=$(curl -s -X POST {sim}/__sim/login {json_headers} \\
  -d '{{"appid":"{appid}","user":"alice"}}' | {field} code)

# 2. Log in with it. The answer holds our tokens and the user — never the session_key.
LOGIN=$(curl -s -X POST {api}/auth/login {json_headers} -d "{{\\"code\\":\\"$CODE\\"}}")
echo "$LOGIN"
ACCESS=$(echo "$LOGIN" | {field} access_token)
REFRESH=$(echo "$LOGIN" | {field} refresh_token)

# 3. Who am I?
curl -s {api}/me -H "Authorization: Bearer $ACCESS"; echo

# 4. Bind a phone number: the simulator plays the getPhoneNumber button.
PHONE_CODE=$(curl -s -X POST {sim}/__sim/phone-code {json_headers} \\
  -d '{{"appid":"{appid}","user":"alice"}}' | {field} code)
curl -s -X POST {api}/me/phone -H "Authorization: Bearer $ACCESS" {json_headers} \\
  -d "{{\\"code\\":\\"$PHONE_CODE\\"}}"; echo

# 5. Refresh: a new pair; the old refresh token is now spent.
PAIR=$(curl -s -X POST {api}/auth/refresh {json_headers} \\
  -d "{{\\"refresh_token\\":\\"$REFRESH\\"}}")
echo "$PAIR"
ACCESS=$(echo "$PAIR" | {field} access_token)

# 6. Log out (204), then the token is refused (401 session_revoked).
curl -s -o /dev/null -w 'logout: %{{http_code}}\\n' -X POST {api}/auth/logout \\
  -H "Authorization: Bearer $ACCESS"
curl -s {api}/me -H "Authorization: Bearer $ACCESS"; echo
"""


def run(args: argparse.Namespace) -> int:
    # Heavy imports here, not at the top, so `wxlogin --help` stays instant.
    import uvicorn

    from wxlogin.api.app import create_app
    from wxlogin.api.demo import (
        FEED_PATH,
        NOTIFY_FIELDS,
        DemoFront,
        EventFeed,
        SdkModule,
        SdkNotFound,
        SimulatorWitness,
    )
    from wxlogin.cli._common import (
        CliError,
        configure_logging,
        describe,
        fail,
        load_settings,
        port_in_use,
    )
    from wxlogin.cli._servers import serve_all
    from wxlogin.cli.simulate import RedactCredentials
    from wxlogin.errors import WxLoginError
    from wxlogin.private_files import ensure_private_dir
    from wxlogin.simulator import Simulator

    appid, secret, open_account = args.app or (DEV_APPID, DEV_SECRET, DEV_OPEN_ACCOUNT)
    host = "127.0.0.1"
    api, sim_url = f"http://{host}:{args.port}", f"http://{host}:{args.sim_port}"
    # Ports first: a second `wxlogin dev` on the same data directory must stop before it
    # writes new merchant keys over the running one's.
    for port, flag in ((args.port, "--port"), (args.sim_port, "--sim-port")):
        busy = port_in_use(host, port, flag)
        if busy is not None:
            return fail("dev", str(busy))
    simulator = Simulator()
    simulator.register_app(appid=appid, secret=secret, open_account=open_account)
    simulator.register_template(appid, DEV_NOTIFY_TEMPLATE, NOTIFY_FIELDS)
    merchant_dir = args.data_dir.expanduser() / DEV_MERCHANT_DIR
    try:
        # The data directory first, so that it too is owner-only, as when wxlogin makes it.
        ensure_private_dir(args.data_dir.expanduser())
        ensure_private_dir(merchant_dir)
        pay = simulator.new_merchant(DEV_MCHID).write_files(merchant_dir)
    except OSError as exc:
        return fail("dev", f"cannot write the dev merchant's keys in {merchant_dir} ({exc})")
    try:
        settings = load_settings(
            dev=True,
            apps=[{"appid": appid, "secret": secret, "pay": pay}],
            wechat_base_url=sim_url,
            # WeChat Pay too is the simulator; its callbacks come back to `api` over plain
            # http, which only a loopback address may use.
            pay_base_url=sim_url,
            public_url=api,
            data_dir=args.data_dir,
            database_url=None,
            redis_url=None,
            message_templates={DEV_NOTIFY_TEMPLATE: NOTIFY_FIELDS},
        )
    except CliError as exc:
        return fail("dev", describe(exc))
    configure_logging(args.log_level, settings.log_format or "text")
    # Migrations announce themselves at INFO; in dev that is noise around the walkthrough.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # /demo: its timeline hears from the simulator (the witness watches its traffic, on its own
    # port and through the routes the page reaches on the service's origin) and from the
    # service (its listener, attached once the service has started).
    feed = EventFeed()
    watched_simulator = SimulatorWitness(simulator.app, feed)
    try:
        sdk: SdkModule | None = SdkModule.locate(args.sdk_dir)
        sdk_problem = ""
    except SdkNotFound as exc:
        sdk, sdk_problem = None, f"{exc}; pass --sdk-dir PATH/TO/clients/miniprogram"
    front = DemoFront(
        create_app(settings),
        simulator=watched_simulator,
        feed=feed,
        appid=appid,
        access_token_ttl=settings.access_token_ttl,
        public_url=api,
        sdk=sdk,
        sdk_problem=sdk_problem,
        notify_template=DEV_NOTIFY_TEMPLATE,
    )
    configs = [
        uvicorn.Config(
            watched_simulator,
            host=host,
            port=args.sim_port,
            log_level="warning",
            log_config=None,  # keep our one log format
        ),
        uvicorn.Config(
            front,
            host=host,
            port=args.port,
            log_level=args.log_level,
            log_config=None,
        ),
    ]
    # Both servers log start-up under one logger name; the banner below says it better.
    # (Set after the Configs, which reset it.) Request lines from uvicorn.access stay — both
    # the mini program's and our server's calls to the simulator, with credentials redacted.
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
    logging.getLogger("uvicorn.access").addFilter(RedactCredentials())
    logging.getLogger("uvicorn.access").addFilter(QuietFeedPolls(FEED_PATH))

    def announce() -> None:
        demo = f"{api}/demo" if sdk is not None else f"{api}/demo (no SDK: {sdk_problem})"
        print(
            f"\nwxlogin dev is running (data in {settings.data_dir}/, Ctrl-C to stop)\n"
            f"  login service   {api}    (OpenAPI docs: {api}/docs)\n"
            f"  WeChat simulator {sim_url}  (control API: {sim_url}/__sim/state)\n"
            f"  mini program    {appid}\n"
            f"  WeChat Pay      merchant {DEV_MCHID} (keys made at start, in {merchant_dir}/)\n"
            f"  in a browser    {demo}  (the mini program on the real SDK, and a timeline)\n\n"
            "Try it — paste this into another shell:\n\n"
            + walkthrough(api=api, sim=sim_url, appid=appid),
            flush=True,
        )

    try:
        asyncio.run(serve_all(configs, on_started=announce))
    except (CliError, WxLoginError) as exc:
        return fail("dev", describe(exc))
    except OSError as exc:  # a port taken between the check above and the bind
        return fail("dev", f"cannot serve on {host} ({exc.strerror or exc})")
    except KeyboardInterrupt:
        pass
    sys.stdout.flush()
    return 0
