"""``wxlogin keys rotate``: start signing with a new key, keep publishing the old ones."""

from __future__ import annotations

import argparse
from pathlib import Path

from wxlogin.cli._common import CliError, describe, fail, load_settings
from wxlogin.errors import WxLoginError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = subparsers.add_parser(
        "keys",
        help="manage the keys that sign access tokens",
        description="Manage the Ed25519 keys in data_dir/keys.json that sign access tokens.",
    )
    keys.add_argument("--config", type=Path, help="a wxlogin.toml file")
    actions = keys.add_subparsers(title="keys commands", metavar="ACTION", required=True)
    rotate = actions.add_parser(
        "rotate",
        help="make a new signing key",
        description=(
            "Make a new active signing key. The previous key is retired but stays in the JWKS "
            "for access_token_ttl + token_leeway seconds, so tokens it signed keep verifying; "
            "keys retired longer ago are dropped. Running servers pick the change up within "
            "seconds."
        ),
    )
    rotate.set_defaults(handler=_rotate)


def _rotate(args: argparse.Namespace) -> int:
    from wxlogin.tokens import SigningKeys

    try:
        settings = load_settings(args.config)
        keys = SigningKeys.load_or_create(settings.data_dir)
        new_kid = keys.rotate(keep_for=settings.access_token_ttl + settings.token_leeway)
    except (CliError, WxLoginError) as exc:
        return fail("keys rotate", describe(exc))
    print(f"new signing key: {new_kid}")
    previous = [kid for kid in keys.kids if kid != new_kid]
    if previous:
        print("still published (retired, verify only):")
        for kid in previous:
            print(f"  {kid}")
    else:
        print("no older keys remain published")
    return 0
