"""The secrets of docker/.env: which keys are secrets, how each is made, and how they are checked.

The single source for the template's hook (hooks/generate_env.py, run by `copier copy` and
`copier update`) and for scripts/generate_secrets.py. Standard library only, except two lazy
imports: cryptography for the ES256 key set and bcrypt for Caddy's dashboard hash.

Formats follow what the services accept: passwords embedded in postgres://, redis:// and
MinIO's MC_HOST URLs are hex; other secrets are alphanumeric; nothing needs quoting.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import importlib
import json
import re
import secrets
import string
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Callable, Optional

from .envfile import EnvFile, Line
from .project import OpsError

API_KEY_LIFETIME = 5 * 365 * 24 * 3600  # seconds, as upstream's generate-keys.sh
OPAQUE_KEY_REF = "supabase-self-hosted"  # salt of the sb_ keys' checksum, as upstream
PUBLISHABLE_PREFIX = "sb_publishable_"
SECRET_PREFIX = "sb_secret_"  # noqa: S105 - a public prefix, not a secret
_ALPHANUMERIC = string.ascii_letters + string.digits
_URL_SAFE = re.compile(r"^[A-Za-z0-9._~-]*$")


class MissingDependency(OpsError):
    """A Python package needed for one kind of secret is not installed."""

    def __init__(self, package: str, purpose: str):
        super().__init__(f"the Python package '{package}' is needed {purpose}, and it is not installed")
        self.package = package


def _require(package: str, purpose: str):
    try:
        return importlib.import_module(package)
    except ImportError:
        raise MissingDependency(package, purpose) from None


def _crypto(purpose: str) -> SimpleNamespace:
    _require("cryptography", purpose)
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, utils

    return SimpleNamespace(ec=ec, hashes=hashes, utils=utils)


# ---------------------------------------------------------------------- building blocks
def hex_token(nbytes: int) -> str:
    return secrets.token_hex(nbytes)


def alphanumeric(length: int) -> str:
    return "".join(secrets.choice(_ALPHANUMERIC) for _ in range(length))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _json(value) -> str:
    return json.dumps(value, separators=(",", ":"))


def _int_b64url(number: int) -> str:
    return b64url(number.to_bytes(32, "big"))


def api_key_claims(role: str, now: Optional[int] = None) -> dict:
    issued = int(time.time()) if now is None else now
    return {"role": role, "iss": "supabase", "iat": issued, "exp": issued + API_KEY_LIFETIME}


def _jwt(header: dict, payload: dict, sign: Callable[[bytes], bytes]) -> str:
    signing_input = f"{b64url(_json(header).encode())}.{b64url(_json(payload).encode())}"
    return f"{signing_input}.{b64url(sign(signing_input.encode('ascii')))}"


def _jwt_parts(token: str) -> Optional[tuple[dict, dict, bytes, bytes]]:
    """Header, payload, signing input and signature of a compact JWT, or None if malformed."""
    try:
        header, payload, signature = token.split(".")
        return (
            json.loads(b64url_decode(header)),
            json.loads(b64url_decode(payload)),
            f"{header}.{payload}".encode("ascii"),
            b64url_decode(signature),
        )
    except (ValueError, UnicodeError):
        return None


# ---------------------------------------------------------------------- HS256: the legacy keys
def hs256_token(role: str, jwt_secret: str, now: Optional[int] = None) -> str:
    """ANON_KEY / SERVICE_ROLE_KEY: signed with JWT_SECRET used as a plain string."""
    return _jwt(
        {"alg": "HS256", "typ": "JWT"},
        api_key_claims(role, now),
        lambda data: hmac.new(jwt_secret.encode(), data, hashlib.sha256).digest(),
    )


def hs256_claims(token: str, jwt_secret: str) -> Optional[dict]:
    """The payload if the token is HS256 and signed with jwt_secret, else None."""
    parts = _jwt_parts(token)
    if not parts or parts[0].get("alg") != "HS256":
        return None
    _, payload, signing_input, signature = parts
    expected = hmac.new(jwt_secret.encode(), signing_input, hashlib.sha256).digest()
    return payload if hmac.compare_digest(expected, signature) else None


# ---------------------------------------------------------------------- ES256: the new key set
def new_signing_jwk() -> dict:
    """A fresh EC P-256 private JWK, as Auth reads it from JWT_KEYS."""
    crypto = _crypto("to create the ES256 signing key (JWT_KEYS)")
    numbers = crypto.ec.generate_private_key(crypto.ec.SECP256R1()).private_numbers()
    return {
        "kty": "EC",
        "kid": str(uuid.uuid4()),
        "use": "sig",
        "key_ops": ["sign", "verify"],
        "alg": "ES256",
        "ext": True,
        "crv": "P-256",
        "x": _int_b64url(numbers.public_numbers.x),
        "y": _int_b64url(numbers.public_numbers.y),
        "d": _int_b64url(numbers.private_value),
    }


def hmac_jwk(jwt_secret: str) -> dict:
    """JWT_SECRET as a JWK, so HS256 tokens keep verifying next to the EC key."""
    return {"kty": "oct", "k": b64url(jwt_secret.encode()), "alg": "HS256"}


def private_key_set(jwt_secret: str, signing_jwk: Optional[dict] = None) -> list:
    """JWT_KEYS: the EC signing key (kept when given) and the HS256 secret."""
    return [signing_jwk or new_signing_jwk(), hmac_jwk(jwt_secret)]


def signing_jwk(key_set: list) -> dict:
    for key in key_set:
        if key.get("kty") == "EC" and key.get("d"):
            return key
    raise OpsError("JWT_KEYS holds no EC private key: regenerate it (empty it in docker/.env, then rerun)")


def public_key_set(key_set: list) -> dict:
    """JWT_JWKS: the public part of every EC key, verify-only, and the same oct key."""
    public = []
    for key in key_set:
        if key.get("kty") == "EC":
            key = {name: value for name, value in key.items() if name != "d"}
            key["key_ops"] = ["verify"]
        public.append(key)
    return {"keys": public}


def es256_token(role: str, jwk: dict, now: Optional[int] = None) -> str:
    """ANON_KEY_ASYMMETRIC / SERVICE_ROLE_KEY_ASYMMETRIC: what Kong sends upstream for sb_ keys."""
    crypto = _crypto("to sign the ES256 API tokens (*_KEY_ASYMMETRIC)")
    key = crypto.ec.derive_private_key(int.from_bytes(b64url_decode(jwk["d"]), "big"), crypto.ec.SECP256R1())

    def sign(data: bytes) -> bytes:
        r, s = crypto.utils.decode_dss_signature(key.sign(data, crypto.ec.ECDSA(crypto.hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    return _jwt({"alg": "ES256", "typ": "JWT", "kid": jwk["kid"]}, api_key_claims(role, now), sign)


def es256_claims(token: str, jwks: dict) -> Optional[dict]:
    """The payload if the token is ES256 and signed by the JWKS key named in its header."""
    parts = _jwt_parts(token)
    if not parts or parts[0].get("alg") != "ES256" or len(parts[3]) != 64:
        return None
    header, payload, signing_input, signature = parts
    crypto = _crypto("to verify the ES256 API tokens")
    from cryptography.exceptions import InvalidSignature

    for jwk in jwks.get("keys", []):
        if jwk.get("kty") == "EC" and jwk.get("kid") == header.get("kid"):
            public = crypto.ec.EllipticCurvePublicNumbers(
                int.from_bytes(b64url_decode(jwk["x"]), "big"),
                int.from_bytes(b64url_decode(jwk["y"]), "big"),
                crypto.ec.SECP256R1(),
            ).public_key()
            der = crypto.utils.encode_dss_signature(
                int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            )
            try:
                public.verify(der, signing_input, crypto.ec.ECDSA(crypto.hashes.SHA256()))
            except InvalidSignature:
                return None
            return payload
    return None


# ---------------------------------------------------------------------- opaque API keys
def opaque_checksum(body: str) -> str:
    return b64url(hashlib.sha256(f"{OPAQUE_KEY_REF}|{body}".encode()).digest())[:8]


def opaque_key(prefix: str) -> str:
    """sb_publishable_<22 random base64url>_<checksum 8> (or sb_secret_...)."""
    body = prefix + secrets.token_urlsafe(17)[:22]
    return f"{body}_{opaque_checksum(body)}"


def opaque_key_error(value: str, prefix: str) -> str:
    match = re.fullmatch(re.escape(prefix) + r"([A-Za-z0-9_-]{22})_([A-Za-z0-9_-]{8})", value)
    if not match:
        return f"must look like {prefix}<22 characters>_<8-character checksum>"
    if opaque_checksum(prefix + match.group(1)) != match.group(2):
        return "its checksum does not match: the key was truncated or edited"
    return ""


# ---------------------------------------------------------------------- the dashboard hash
def dashboard_password_hash(password: str) -> str:
    """bcrypt, base64-encoded as Caddy's basic_auth reads it (and free of `$` for Compose).

    Cost 10: the generated password carries 128 random bits, so a higher cost buys nothing
    against guessing, while every Studio request through Caddy pays for the comparison.
    """
    bcrypt = _require("bcrypt", "to hash the dashboard password for Caddy (DASHBOARD_PASSWORD_HASH)")
    return base64.b64encode(bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=10))).decode("ascii")


def dashboard_hash_matches(password: str, encoded_hash: str) -> bool:
    bcrypt = _require("bcrypt", "to check DASHBOARD_PASSWORD_HASH")
    try:
        return bcrypt.checkpw(password.encode(), base64.b64decode(encoded_hash, validate=True))
    except ValueError:
        return False


# ---------------------------------------------------------------------- the catalogue
@dataclass(frozen=True)
class Secret:
    """How one key of docker/.env is generated, and what makes a value acceptable."""

    make: Callable[[Mapping[str, str]], str]  # receives the values so far, for derived keys
    needs: tuple[str, ...] = ()  # keys it is derived from (made first when missing)
    min_length: int = 0
    exact_length: int = 0
    in_urls: bool = False  # embedded in URLs (postgres://, redis://, MC_HOST) or sent as URL-safe tokens


def _key_set(values: Mapping[str, str]) -> list:
    return json.loads(values["JWT_KEYS"])


# In dependency order: a key comes after the keys it is derived from.
SECRETS: dict[str, Secret] = {
    "POSTGRES_PASSWORD": Secret(lambda _: hex_token(24), min_length=16, in_urls=True),
    "JWT_SECRET": Secret(lambda _: alphanumeric(48), min_length=32),
    "ANON_KEY": Secret(lambda v: hs256_token("anon", v["JWT_SECRET"]), needs=("JWT_SECRET",)),
    "SERVICE_ROLE_KEY": Secret(lambda v: hs256_token("service_role", v["JWT_SECRET"]), needs=("JWT_SECRET",)),
    "JWT_KEYS": Secret(lambda v: _json(private_key_set(v["JWT_SECRET"])), needs=("JWT_SECRET",)),
    "JWT_JWKS": Secret(lambda v: _json(public_key_set(_key_set(v))), needs=("JWT_KEYS",)),
    "SUPABASE_PUBLISHABLE_KEY": Secret(lambda _: opaque_key(PUBLISHABLE_PREFIX)),
    "SUPABASE_SECRET_KEY": Secret(lambda _: opaque_key(SECRET_PREFIX)),
    "ANON_KEY_ASYMMETRIC": Secret(
        lambda v: es256_token("anon", signing_jwk(_key_set(v))), needs=("JWT_KEYS",)
    ),
    "SERVICE_ROLE_KEY_ASYMMETRIC": Secret(
        lambda v: es256_token("service_role", signing_jwk(_key_set(v))), needs=("JWT_KEYS",)
    ),
    "DASHBOARD_PASSWORD": Secret(lambda _: hex_token(16), min_length=16),
    "DASHBOARD_PASSWORD_HASH": Secret(
        lambda v: dashboard_password_hash(v["DASHBOARD_PASSWORD"]), needs=("DASHBOARD_PASSWORD",)
    ),
    "SECRET_KEY_BASE": Secret(lambda _: alphanumeric(64), min_length=64),
    "VAULT_ENC_KEY": Secret(lambda _: hex_token(16), exact_length=32),
    "PG_META_CRYPTO_KEY": Secret(lambda _: alphanumeric(48), min_length=32),
    "S3_PROTOCOL_ACCESS_KEY_ID": Secret(lambda _: hex_token(16), min_length=16),
    "S3_PROTOCOL_ACCESS_KEY_SECRET": Secret(lambda _: hex_token(32), min_length=32),
    "MINIO_ROOT_USER": Secret(lambda _: hex_token(10), min_length=3, in_urls=True),
    "MINIO_ROOT_PASSWORD": Secret(lambda _: hex_token(24), min_length=16, in_urls=True),
    "REDIS_PASSWORD": Secret(lambda _: hex_token(24), min_length=16, in_urls=True),
    # Logflare: the public token may only send logs (Vector), the private one reads them all (Studio).
    "LOGFLARE_PUBLIC_ACCESS_TOKEN": Secret(lambda _: alphanumeric(48), min_length=32, in_urls=True),
    "LOGFLARE_PRIVATE_ACCESS_TOKEN": Secret(lambda _: alphanumeric(48), min_length=32, in_urls=True),
}


def generate_missing(values: dict[str, str], keys) -> list[str]:
    """Fill the secrets among `keys` that are empty in `values`, in place; returns their names.

    A derived key (ANON_KEY, JWT_JWKS, DASHBOARD_PASSWORD_HASH, ...) is made from the base
    values already there, so existing secrets stay valid together.
    """
    wanted = set(keys)
    generated = []
    for name, secret in SECRETS.items():
        if name not in wanted or values.get(name):
            continue
        missing = [need for need in secret.needs if not values.get(need)]
        if missing:
            raise OpsError(f"{name} is derived from {', '.join(missing)}, which docker/.env.example lacks")
        values[name] = secret.make(values)
        generated.append(name)
    return generated


# ---------------------------------------------------------------------- keeping .env in step
@dataclass
class SyncReport:
    created: bool  # docker/.env did not exist
    generated: list[str]  # secrets generated
    added: list[str]  # non-secret keys copied from the example
    differing: list[str]  # non-secret keys whose kept value differs from the example's
    changed: bool  # the file content changed


def _comment_block(lines: list[Line], index: int) -> list[Line]:
    """The comment lines right above lines[index], and the blank line above them if any."""
    start = index
    while start > 0 and lines[start - 1].key is None and lines[start - 1].text.lstrip().startswith("#"):
        start -= 1
    if start < index and start > 0 and not lines[start - 1].text.strip():
        start -= 1
    return lines[start:index]


def _past_user_lines(env: EnvFile, at: int, example_keys: set[str]) -> int:
    """Past the keys the user added after `at` (and their comments): they stay with what they follow."""
    scan = at
    while scan < len(env.lines):
        line = env.lines[scan]
        if line.key and line.key not in example_keys:
            at = scan = scan + 1
        elif line.key is None and line.text.lstrip().startswith("#"):
            scan += 1
        else:
            break
    return at


def sync_env(example: EnvFile, current: Optional[EnvFile]) -> tuple[EnvFile, SyncReport]:
    """docker/.env made from the example and the current file, which wins for every value.

    Keys missing from the current file are inserted after the key that precedes them in the
    example, with their comment lines; keys only in the current file stay where they are.
    """
    created = current is None
    env = EnvFile([Line(line.text, line.key, line.value) for line in (current or example).lines])
    added, differing = [], []
    example_keys = set(example.keys())
    if not created:
        previous_key = None
        for index, line in enumerate(example.lines):
            if not line.key:
                continue
            if line.key not in env:
                at = _past_user_lines(env, env.position_after(previous_key), example_keys)
                block = _comment_block(example.lines, index)
                already_there = [old.text for old in env.lines[at : at + len(block)]]
                if any(b.text.strip() for b in block) and already_there == [b.text for b in block]:
                    at += len(block)  # the section header is already in .env: add the key under it
                    block = []
                env.insert(at, [*block, line])
                if line.key not in SECRETS:
                    added.append(line.key)
            elif line.key not in SECRETS and line.value and env.get(line.key) != line.value:
                differing.append(line.key)
            previous_key = line.key
    values = env.values()
    generated = generate_missing(values, [line.key for line in example.lines if line.key in SECRETS])
    for name in generated:
        env.set(name, values[name])
    changed = created or env.render() != current.render()
    return env, SyncReport(created, generated, added, differing, changed)


def sync_env_file(docker_dir: Path) -> SyncReport:
    """Write docker/.env from docker/.env.example: keep what is there, add what is missing."""
    example_path, env_path = docker_dir / ".env.example", docker_dir / ".env"
    if not example_path.is_file():
        raise OpsError(f"{example_path} is missing: restore it with `git checkout -- docker/.env.example`")
    current = EnvFile.load(env_path) if env_path.exists() else None
    env, report = sync_env(EnvFile.load(example_path), current)
    if report.changed:
        env.write(env_path)
    env_path.chmod(0o600)
    return report


def describe(report: SyncReport) -> list[str]:
    """What the sync did, naming keys only: never a value."""
    lines = []
    if report.created:
        lines.append(f"docker/.env created (mode 0600); secrets generated: {', '.join(report.generated)}")
    elif report.generated:
        lines.append(f"docker/.env: generated {', '.join(report.generated)}")
    if report.added:
        lines.append(f"docker/.env: added {', '.join(report.added)} from docker/.env.example")
    if report.differing:
        lines.append(
            f"docker/.env keeps its own {', '.join(report.differing)}: docker/.env.example now "
            "says otherwise; edit docker/.env if you want the new value"
        )
    if not report.changed and not report.differing:
        lines.append("docker/.env is up to date")
    return lines


# ---------------------------------------------------------------------- checks
# Values shipped in upstream's docker/.env.example and docs: public, so never acceptable.
UPSTREAM_DEMO_VALUES = frozenset(
    {
        "your-super-secret-and-long-postgres-password",
        "your-super-secret-jwt-token-with-at-least-32-characters-long",
        "this_password_is_insecure_and_should_be_updated",
        "UpNVntn3cDxHJpq99YMc1T1AQgQpc8kfYTuRgBiYa15BLrx8etQoXz3gZv1/u2oq",
        "your-32-character-encryption-key",
        "your-encryption-key-32-chars-min",
        "secret1234",
        "625729a08b95bf1b7ff351a663f3a23c",
        "850181e4652dd023b7a98c58ae0d2d34bd487ee0cc3254aed6eda37307425907",
    }
)
_PLACEHOLDER = re.compile(r"your[-_]|change[-_]?me|placeholder|insecure", re.IGNORECASE)
_OAUTH_NEEDS_URL = ("KEYCLOAK",)  # providers with no default issuer


@dataclass
class CheckResult:
    problems: list[str]  # each names the key, the rule and what to do
    warnings: list[str]  # could not be checked here


def _basic_problem(value: str, secret: Secret) -> str:
    if not value:
        return "is empty: run `python3 scripts/generate_secrets.py` to generate it"
    # Placeholders are typed by people; derived tokens and sb_ keys are checked by signature or format.
    typed = not secret.needs and not value.startswith("sb_")
    if value in UPSTREAM_DEMO_VALUES or (typed and _PLACEHOLDER.search(value)):
        return "is a published demo or placeholder value: empty it, then run scripts/generate_secrets.py"
    if secret.exact_length and len(value) != secret.exact_length:
        return f"must be exactly {secret.exact_length} characters, has {len(value)}"
    if len(value) < secret.min_length:
        return f"must be at least {secret.min_length} characters, has {len(value)}"
    if secret.in_urls and not _URL_SAFE.match(value):
        return "contains characters that break the connection URLs it is part of: use letters and digits only"
    return ""


def _fingerprints(keys: list) -> set:
    """What identifies each key's public half: curve point for EC, secret for oct."""
    return {(key.get("kty"), key.get("crv"), key.get("x"), key.get("y"), key.get("k")) for key in keys}


def _token_problem(claims: Optional[dict], role: str, signer: str) -> str:
    if claims is None:
        return f"is not signed by {signer}: rotate it with `--rotate jwt` (or regenerate the key set)"
    if claims.get("iss") == "supabase-demo":
        return "is upstream's published demo key: rotate with `--rotate jwt`"
    if claims.get("role") != role:
        return f"has role {claims.get('role')!r}, expected {role!r}"
    if int(claims.get("exp", 0)) <= time.time():
        return "has expired: rotate with `--rotate jwt`"
    return ""


def check_env(values: Mapping[str, str], keys, production: bool = False) -> CheckResult:
    """Weak, placeholder or inconsistent values among `keys` (and the settings they depend on)."""
    result = CheckResult([], [])
    flagged = set()

    def problem(name: str, message: str) -> None:
        if message:
            result.problems.append(f"{name} {message}")
            flagged.add(name)

    present = [name for name in SECRETS if name in set(keys)]
    for name in present:
        problem(name, _basic_problem(values.get(name, ""), SECRETS[name]))

    def usable(*names: str) -> bool:
        return all(name in present and name not in flagged for name in names)

    jwt_secret = values.get("JWT_SECRET", "")
    for name, role in (("ANON_KEY", "anon"), ("SERVICE_ROLE_KEY", "service_role")):
        if usable(name, "JWT_SECRET"):
            problem(name, _token_problem(hs256_claims(values[name], jwt_secret), role, "JWT_SECRET"))
    if usable("JWT_KEYS"):
        try:
            signing_jwk(json.loads(values["JWT_KEYS"]))
        except (ValueError, TypeError, AttributeError, OpsError):
            problem("JWT_KEYS", "is not a JSON key set with an EC private key: empty it and regenerate")
    if usable("JWT_KEYS", "JWT_SECRET") and hmac_jwk(jwt_secret) not in json.loads(values["JWT_KEYS"]):
        problem("JWT_KEYS", "does not hold JWT_SECRET as its HS256 key: rotate with `--rotate jwt`")
    if usable("JWT_JWKS", "JWT_KEYS"):
        try:
            jwks = json.loads(values["JWT_JWKS"])["keys"]
            private = json.loads(values["JWT_KEYS"])
            matches = _fingerprints(jwks) == _fingerprints(private) and not any("d" in key for key in jwks)
        except (ValueError, TypeError, KeyError, AttributeError):
            matches = False
        if not matches:
            problem("JWT_JWKS", "is not the public half of JWT_KEYS: empty it and rerun generate_secrets.py")
    opaque_keys = (("SUPABASE_PUBLISHABLE_KEY", PUBLISHABLE_PREFIX), ("SUPABASE_SECRET_KEY", SECRET_PREFIX))
    for name, prefix in opaque_keys:
        if usable(name):
            problem(name, opaque_key_error(values[name], prefix))
    for name, role in (("ANON_KEY_ASYMMETRIC", "anon"), ("SERVICE_ROLE_KEY_ASYMMETRIC", "service_role")):
        if usable(name, "JWT_JWKS"):
            try:
                claims = es256_claims(values[name], json.loads(values["JWT_JWKS"]))
                problem(name, _token_problem(claims, role, "the EC key in JWT_JWKS"))
            except MissingDependency as error:
                result.warnings.append(f"{name} not verified: {error}")
    logflare_tokens = ("LOGFLARE_PUBLIC_ACCESS_TOKEN", "LOGFLARE_PRIVATE_ACCESS_TOKEN")
    if usable(*logflare_tokens) and values[logflare_tokens[0]] == values[logflare_tokens[1]]:
        problem(
            "LOGFLARE_PRIVATE_ACCESS_TOKEN",
            "equals LOGFLARE_PUBLIC_ACCESS_TOKEN: anything that may send logs could then read them all; "
            "empty it in docker/.env, then run scripts/generate_secrets.py",
        )
    if usable("DASHBOARD_PASSWORD_HASH", "DASHBOARD_PASSWORD"):
        try:
            if not dashboard_hash_matches(values["DASHBOARD_PASSWORD"], values["DASHBOARD_PASSWORD_HASH"]):
                problem(
                    "DASHBOARD_PASSWORD_HASH",
                    "does not match DASHBOARD_PASSWORD: rotate both with `--rotate dashboard`",
                )
        except MissingDependency as error:
            result.warnings.append(f"DASHBOARD_PASSWORD_HASH not verified: {error}")

    for name, value in values.items():
        provider = name[: -len("_ENABLED")] if name.endswith("_ENABLED") else ""
        if provider and value.lower() == "true" and f"{provider}_CLIENT_ID" in values:
            for part in ("CLIENT_ID", "SECRET") + (("URL",) if provider in _OAUTH_NEEDS_URL else ()):
                if not values.get(f"{provider}_{part}"):
                    problem(f"{provider}_{part}", f"is empty while {name}=true: fill it in, or disable it")
    if production:
        autoconfirm = values.get("ENABLE_EMAIL_AUTOCONFIRM", "false").lower() == "true"
        if not autoconfirm and not values.get("SMTP_HOST"):
            problem(
                "SMTP_HOST",
                "is empty in production while ENABLE_EMAIL_AUTOCONFIRM=false: "
                "no confirmation mail can be sent; configure SMTP_* in docker/.env",
            )
    return result
