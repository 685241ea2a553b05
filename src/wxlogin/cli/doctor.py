"""``wxlogin doctor``: read the configuration and every key file it names, say what is wrong.

Settings are validated as ``wxlogin serve`` would (one line per problem). Then each app's
WeChat Pay merchant files are opened and cross-checked (``wxlogin.pay.check_merchant_files``):
missing or unreadable files, files that hold something else, a serial that is not the
certificate's, a private key that does not belong to the merchant certificate, an APIv3 key
of the wrong length, an expired platform certificate. Nothing secret is printed. Exit status:
0 all good (warnings allowed), 1 problems found, 2 the settings themselves do not load.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from wxlogin.cli._common import CliError, fail, load_settings
from wxlogin.config import AppConfig, PayConfig


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    doctor = subparsers.add_parser(
        "doctor",
        help="check the configuration and the WeChat Pay key files",
        description=(
            "Load the settings and open every WeChat Pay key file they name, checking that "
            "each holds what it should and that keys, serials and certificates agree. Prints "
            "one line per problem; never a key."
        ),
    )
    doctor.add_argument("--config", type=Path, help="a wxlogin.toml file")
    doctor.set_defaults(handler=_doctor)


def check_pay(index: int, app: AppConfig, pay: PayConfig) -> tuple[list[str], list[str], str]:
    """Problems, warnings and a one-line summary for one app's merchant settings."""
    from wxlogin.pay import check_merchant_files

    label = f"apps[{index}].pay ({app.appid})"
    check = check_merchant_files(**pay.merchant_files(), label=label)
    summary = ""
    if check.merchant is not None:
        trusted = ", ".join(sorted(check.merchant.wechatpay_keys))
        summary = f"{label}: merchant {pay.mchid} ok, verifying WeChat Pay with {trusted}"
    return check.problems, check.warnings, summary


def _doctor(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.config)
    except CliError as exc:
        return fail("doctor", str(exc))
    problems: list[str] = []
    merchants = 0
    for index, app in enumerate(settings.apps):
        if app.pay is None:
            continue
        merchants += 1
        found, warnings, summary = check_pay(index, app, app.pay)
        problems += found
        for warning in warnings:
            print(f"warning: {warning}")
        if summary:
            print(summary)
    for problem in problems:
        print(f"problem: {problem}")
    apps = len(settings.apps)
    print(
        f"{apps} app{'s' * (apps != 1)}, {merchants} WeChat Pay merchant{'s' * (merchants != 1)}"
        f": {len(problems) or 'no'} problem{'s' * (len(problems) != 1)}"
    )
    return 1 if problems else 0
