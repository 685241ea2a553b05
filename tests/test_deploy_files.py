"""``deploy/`` and docs/deploy.md: what can be checked here without Docker or systemd running.

Docker cannot run on these machines, so the image and the compose file are read, not built or
started. ``systemd-analyze verify`` and ``nginx -t`` run where those programs are installed;
elsewhere those two tests are skipped (and counted as skipped, never as passed).
"""

from __future__ import annotations

import configparser
import ipaddress
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML (pinned in constraints.txt) has no stubs

from wxlogin.cli import build_parser
from wxlogin.config import Settings
from wxlogin.errors import ConfigurationError

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
DOC = ROOT / "docs" / "deploy.md"
ENV_EXAMPLE = DEPLOY / "wxlogin.env.example"
SHOWN_FILES = ("wxlogin.env.example", "wxlogin.service", "Dockerfile", "compose.yaml", "nginx.conf")

SETTINGS = frozenset(Settings.model_fields)
# WXLOGIN_* names that are not settings but may be mentioned: the TOML file's path (read by
# Settings.load) and the test suite's database and Redis.
NOT_SETTINGS = frozenset({"WXLOGIN_CONFIG", "WXLOGIN_TEST_DATABASE_URL", "WXLOGIN_TEST_REDIS_URL"})
_NAME = re.compile(r"\bWXLOGIN_[A-Z0-9_]*[A-Z0-9]")
_DEFAULT_LINE = re.compile(r"^#(WXLOGIN_[A-Z0-9_]+)=(.*)$")
_GENERATE = "# generate: "
_FAKE_APP_SECRET = "0f4e9a1c7b2d4e6f8a9b0c1d2e3f4a5b"


def setting(name: str) -> str:
    return name.removeprefix("WXLOGIN_").lower()


def names_in(text: str) -> set[str]:
    return set(_NAME.findall(text))


def unquote(value: str) -> str:
    """A value as systemd's EnvironmentFile and compose's env_file read it (one line)."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def example_lines() -> list[str]:
    return ENV_EXAMPLE.read_text().splitlines()


def example_values() -> dict[str, str]:
    """The settings the example sets (uncommented lines), as written."""
    values = {}
    for line in example_lines():
        if line and not line.startswith("#"):
            name, sep, value = line.partition("=")
            assert sep and name.startswith("WXLOGIN_"), f"not NAME=value: {line!r}"
            assert name not in values, f"{name} set twice"
            values[name] = unquote(value)
    return values


def shown_defaults() -> dict[str, str]:
    """``#WXLOGIN_NAME=value`` lines: the defaults the example shows."""
    found = {}
    for line in example_lines():
        match = _DEFAULT_LINE.match(line)
        if match:
            found[match.group(1)] = match.group(2)
    return found


def generated(command: str) -> str:
    """Run a ``# generate:`` command (its ``python3`` is this interpreter)."""
    argv = shlex.split(command)
    assert argv[0] == "python3", command
    done = subprocess.run(
        [sys.executable, *argv[1:]], capture_output=True, text=True, check=True, timeout=30
    )
    return done.stdout.strip()


def filled_example() -> dict[str, str]:
    """The example with every ``<generate>`` replaced by its command's output and the
    AppSecret by a made-up one: what an operator ends up with."""
    lines = example_lines()
    values = example_values()
    for index, line in enumerate(lines):
        if "<generate>" in line and not line.startswith("#"):
            above = lines[index - 1]
            assert above.startswith(_GENERATE), f"no `{_GENERATE}` line above {line!r}"
            name = line.partition("=")[0]
            values[name] = values[name].replace("<generate>", generated(above[len(_GENERATE) :]))
    values["WXLOGIN_APPS"] = values["WXLOGIN_APPS"].replace("<AppSecret>", _FAKE_APP_SECRET)
    return values


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No WXLOGIN_* from outside, and no wxlogin.toml in the working directory."""
    for name in list(os.environ):
        if name.startswith("WXLOGIN_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def settings_from(monkeypatch: pytest.MonkeyPatch, values: dict[str, str]) -> Settings:
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return Settings.load()


def serve_argv(argv: list[str]) -> Any:
    """``argv`` (a command line starting with ``wxlogin``) parsed by the real CLI parser."""
    assert Path(argv[0]).name == "wxlogin", argv
    args = build_parser().parse_args(argv[1:])
    assert args.handler.__module__ == "wxlogin.cli.serve", argv
    return args


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    "path", [*(DEPLOY / name for name in SHOWN_FILES), DOC], ids=lambda p: p.name
)
def test_every_wxlogin_name_is_a_setting(path: Path) -> None:
    unknown = {
        name for name in names_in(path.read_text()) - NOT_SETTINGS if setting(name) not in SETTINGS
    }
    assert not unknown, f"{path.name} names no such setting: {sorted(unknown)}"


@pytest.mark.parametrize("path", [ENV_EXAMPLE, DOC], ids=lambda p: p.name)
def test_every_setting_is_there(path: Path) -> None:
    missing = {
        name for name in SETTINGS if f"WXLOGIN_{name.upper()}" not in names_in(path.read_text())
    }
    assert not missing, f"{path.name} does not mention {sorted(missing)}"


def test_the_doc_shows_each_file_as_it_is() -> None:
    doc = DOC.read_text()
    for name in SHOWN_FILES:
        marker = f"<!-- deploy/{name} -->\n"
        assert doc.count(marker) == 1, f"docs/deploy.md does not show deploy/{name} once"
        after = doc.split(marker, 1)[1]
        fence, _, rest = after.partition("\n")
        assert fence.startswith("```"), f"no code block after the marker of {name}"
        block = rest.split("\n```\n", 1)[0]
        assert block == (DEPLOY / name).read_text().rstrip("\n"), (
            f"the block showing deploy/{name} in docs/deploy.md differs from the file"
        )
        assert f"](../deploy/{name})" in doc, f"docs/deploy.md does not link deploy/{name}"


# --------------------------------------------------------------------------- the env example


def test_the_example_copied_unchanged_is_refused_naming_each_placeholder(
    environment: pytest.MonkeyPatch,
) -> None:
    values = example_values()
    with pytest.raises(ConfigurationError) as refused:
        settings_from(environment, values)
    message = refused.value.message
    placeholders = {name for name, value in values.items() if "<" in value}
    # A password inside the database URL is not a setting of its own: the database refuses
    # it at start-up instead (docs/deploy.md says so).
    placeholders.discard("WXLOGIN_DATABASE_URL")
    assert placeholders == {
        "WXLOGIN_APPS",
        "WXLOGIN_SESSION_KEY_ENCRYPTION_KEY",
        "WXLOGIN_SERVICE_TOKENS",
        "WXLOGIN_METRICS_TOKEN",
    }
    for name in placeholders:
        assert f"({name})" in message, f"{name} is not named in:\n{message}"
    assert "<" not in message  # the values themselves are never repeated


def test_the_example_with_the_shown_commands_secrets_loads(
    environment: pytest.MonkeyPatch,
) -> None:
    settings = settings_from(environment, filled_example())
    assert settings.public_url.startswith("https://")
    assert settings.database_url is not None
    assert settings.database_url.startswith("postgresql+asyncpg://wxlogin:")
    assert settings.redis_url is not None
    assert settings.dev is False
    assert settings.trust_forwarded_for is True
    key = settings.configured_encryption_key()
    assert key is not None and len(key) == 32
    assert settings.metrics_token is not None
    assert len(settings.service_tokens) == 1
    # Two runs of a command give two secrets (nobody shares one by copying the example).
    assert filled_example()["WXLOGIN_METRICS_TOKEN"] != filled_example()["WXLOGIN_METRICS_TOKEN"]


def test_the_pay_form_of_apps_shown_in_the_example_parses(
    environment: pytest.MonkeyPatch,
) -> None:
    (line,) = [line for line in example_lines() if line.startswith("# WXLOGIN_APPS='[")]
    apps = json.loads(unquote(line.removeprefix("# WXLOGIN_APPS=")))
    apps[0]["secret"] = _FAKE_APP_SECRET
    apps[0]["pay"] |= {
        "merchant_serial": "3775B6A45ACD588826D15E583A95F5DD6C1D1F9F",
        "apiv3_key": "a3f9c2e7b1d8405f96e2c7a1b3d9f0e4",
        "public_key_id": "PUB_KEY_ID_0119000001092025010100123456789012",
    }
    settings = settings_from(environment, filled_example() | {"WXLOGIN_APPS": json.dumps(apps)})
    pay = settings.pay_config(settings.appids[0])
    assert pay is not None and pay.mchid == "1900000109"


def test_the_defaults_it_shows_are_the_defaults(environment: pytest.MonkeyPatch) -> None:
    shown = shown_defaults()
    values = filled_example()
    assert not set(shown) & set(values), "a setting both set and shown as a default"
    assert set(shown) | set(values) == {f"WXLOGIN_{name.upper()}" for name in SETTINGS}
    for name, value in shown.items():
        field = setting(name)
        default = Settings.model_fields[field].get_default(call_default_factory=True)
        if value == "":
            assert default is None, f"#{name}= says unset, the default is {default!r}"
            continue
        environment.setenv(name, value)
        try:
            assert getattr(Settings(), field) == default, f"#{name}={value} is not the default"
        finally:
            environment.delenv(name)


# --------------------------------------------------------------------------- compose


def compose() -> dict[str, Any]:
    data = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert isinstance(data, dict)
    return data


def interpolate(value: str, variables: dict[str, str]) -> str:
    """Compose's ``${NAME}`` / ``${NAME:?message}`` with ``variables``."""
    return re.sub(r"\$\{([A-Z_]+)(?::\?[^}]*)?\}", lambda m: variables[m.group(1)], value)


def test_compose_runs_the_app_on_postgresql_and_redis(environment: pytest.MonkeyPatch) -> None:
    data = compose()
    services = data["services"]
    assert set(services) == {"postgres", "redis", "wxlogin"}
    app = services["wxlogin"]
    build = app["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == DEPLOY / "Dockerfile"
    assert app["env_file"] == ["wxlogin.env"]  # the copy of wxlogin.env.example
    assert app["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }
    serve_argv(app["command"])
    for name, service in services.items():
        image = service.get("image", "")
        # Plain names (Docker's default registry) or a local tag: no registry host anywhere.
        assert "." not in image.partition("/")[0], f"{name}: {image} names a registry host"
    environment_ = {name: str(value) for name, value in app["environment"].items()}
    assert all(setting(name) in SETTINGS for name in environment_)
    password = generated("python3 -c 'import secrets;print(secrets.token_hex(24))'")
    overrides = {
        n: interpolate(v, {"POSTGRES_PASSWORD": password}) for n, v in environment_.items()
    }
    settings = settings_from(environment, filled_example() | overrides)
    assert settings.database_url == f"postgresql+asyncpg://wxlogin:{password}@postgres:5432/wxlogin"
    assert settings.redis_url == "redis://redis:6379/0"
    postgres = services["postgres"]["environment"]
    assert (postgres["POSTGRES_USER"], postgres["POSTGRES_DB"]) == ("wxlogin", "wxlogin")
    assert "${POSTGRES_PASSWORD" in postgres["POSTGRES_PASSWORD"]
    # The trusted proxy is the gateway of the network compose makes.
    (network,) = data["networks"]["default"]["ipam"]["config"]
    assert settings.forwarded_allow_ips == network["gateway"]
    assert ipaddress.ip_address(network["gateway"]) in ipaddress.ip_network(network["subnet"])
    published = app["ports"]
    assert published == [f"127.0.0.1:{serve_argv(app['command']).port}:8000"]


# --------------------------------------------------------------------------- Dockerfile


def test_the_image_installs_the_pinned_tree_and_runs_as_a_user() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    instructions = [
        line for line in text.replace("\\\n", " ").splitlines() if line and not line.startswith("#")
    ]
    images = [line.split()[1] for line in instructions if line.startswith("FROM ")]
    assert images and all(re.fullmatch(r"python:3\.1[1-9]-slim", image) for image in images)
    assert "-c constraints.txt" in text and "--index-url" not in text
    for line in instructions:
        if line.startswith("COPY ") and "--from=" not in line:
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), f"COPY of {source}, which does not exist"
    users = [line.split()[1] for line in instructions if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    last = [line for line in instructions if line.startswith(("USER ", "CMD ", "ENTRYPOINT "))]
    assert last[0].startswith("USER "), "the user must be set before the command"
    (cmd,) = [line for line in instructions if line.startswith("CMD ")]
    serve_argv(json.loads(cmd.removeprefix("CMD ")))
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    for kept in ("pyproject.toml", "constraints.txt", "README.md", "LICENSE", "src/"):
        assert f"!{kept}" in ignore


# --------------------------------------------------------------------------- systemd


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((DEPLOY / "wxlogin.service").read_text())
    return parser


def test_the_unit_runs_serve_as_a_user_with_a_graceful_stop() -> None:
    service = unit()["Service"]
    assert service["User"] not in ("root", "0")
    assert service["EnvironmentFile"] == "/etc/wxlogin/wxlogin.env"
    assert service["KillSignal"] == "SIGTERM"
    assert int(service["TimeoutStopSec"]) >= 10
    assert service["Restart"] == "on-failure"
    args = serve_argv(shlex.split(service["ExecStart"]))
    assert args.host == "127.0.0.1"
    assert service["StateDirectory"] == Path(service["WorkingDirectory"]).name
    assert unit()["Install"]["WantedBy"] == "multi-user.target"


def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed: the unit was only parsed")
    executable = shutil.which("wxlogin") or str(Path(sys.executable).with_name("wxlogin"))
    text = (DEPLOY / "wxlogin.service").read_text()
    # The unit's ExecStart is the installed path; point it at this checkout's wxlogin.
    copy = tmp_path / "wxlogin.service"
    copy.write_text(text.replace("/opt/wxlogin/bin/wxlogin", executable))
    done = subprocess.run(
        [analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60, check=False
    )
    # verify exits 0 on unknown keys and bad values too, with a line on stderr for each.
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


# --------------------------------------------------------------------------- nginx


def test_nginx_passes_the_client_address_to_the_port_serve_listens_on() -> None:
    text = (DEPLOY / "nginx.conf").read_text()
    port = serve_argv(shlex.split(unit()["Service"]["ExecStart"])).port
    assert f"server 127.0.0.1:{port};" in text
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in text
    assert "listen 443 ssl;" in text
    # The default trusted proxy is where nginx on the same machine connects from.
    assert Settings.model_fields["forwarded_allow_ips"].default == "127.0.0.1"


def self_signed_certificate(directory: Path, host: str) -> tuple[Path, Path]:
    """A throwaway certificate and key for ``host`` (nginx -t opens both)."""
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def nginx_binary() -> str | None:
    for candidate in (os.environ.get("NGINX_BINARY"), shutil.which("nginx"), "/usr/sbin/nginx"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def test_nginx_t_accepts_the_server_block(tmp_path: Path) -> None:
    nginx = nginx_binary()
    if nginx is None:
        pytest.skip(
            "nginx is not installed (set NGINX_BINARY=/path/to/nginx): the block was not run"
        )
    cert, key = self_signed_certificate(tmp_path, "login.example.com")
    site = tmp_path / "wxlogin.conf"
    site.write_text(
        (DEPLOY / "nginx.conf")
        .read_text()
        .replace("/etc/ssl/wxlogin/fullchain.pem", str(cert))
        .replace("/etc/ssl/wxlogin/privkey.pem", str(key))
    )
    temp = "\n".join(
        f"    {kind}_temp_path {tmp_path / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    main = tmp_path / "nginx.conf"
    main.write_text(
        f"pid {tmp_path / 'nginx.pid'};\nerror_log stderr;\nevents {{}}\n"
        f"http {{\n    access_log off;\n{temp}\n    include {site};\n}}\n"
    )
    done = subprocess.run(
        [nginx, "-t", "-q", "-p", str(tmp_path), "-e", "stderr", "-c", str(main)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "[warn]" not in done.stderr and "[emerg]" not in done.stderr, done.stderr
