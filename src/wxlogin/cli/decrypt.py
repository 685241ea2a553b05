"""``wxlogin decrypt``: decrypt a mini program's encryptedData on the command line."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from wxlogin.crypto import decrypt_data
from wxlogin.errors import CryptoError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "decrypt",
        help="decrypt encryptedData (wx.getUserInfo, legacy getPhoneNumber, ...)",
        description=(
            "Decrypt WeChat open data with the user's session_key and check its watermark. "
            "Prints the JSON; on failure prints one line naming the cause and exits 1."
        ),
    )
    parser.add_argument("--appid", required=True, help="your mini program's appid")
    parser.add_argument("--session-key", required=True, help="the user's current session_key")
    parser.add_argument("--iv", required=True, help="the iv that came with the data")
    parser.add_argument("encrypted_data", metavar="ENCRYPTED_DATA", help="the encryptedData")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        data: dict[str, Any] = decrypt_data(
            args.session_key, args.encrypted_data, args.iv, appid=args.appid
        )
    except CryptoError as exc:
        print(f"wxlogin decrypt: {exc.message}", file=sys.stderr)
        return 1
    out = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    # Write UTF-8 whatever the terminal's locale, so Chinese nicknames survive a pipe.
    sys.stdout.buffer.write(out.encode("utf-8"))
    sys.stdout.flush()
    return 0
