"""Copier task: writes docker/.env from docker/.env.example (interim: random hex secrets)."""

import os
import re
import secrets
from pathlib import Path

SECRETS = {
    "POSTGRES_PASSWORD",
    "JWT_SECRET",
    "ANON_KEY",
    "SERVICE_ROLE_KEY",
    "JWT_KEYS",
    "JWT_JWKS",
    "SUPABASE_PUBLISHABLE_KEY",
    "SUPABASE_SECRET_KEY",
    "ANON_KEY_ASYMMETRIC",
    "SERVICE_ROLE_KEY_ASYMMETRIC",
    "DASHBOARD_PASSWORD",
    "DASHBOARD_PASSWORD_HASH",
    "SECRET_KEY_BASE",
    "VAULT_ENC_KEY",
    "PG_META_CRYPTO_KEY",
    "MINIO_ROOT_USER",
    "MINIO_ROOT_PASSWORD",
    "S3_PROTOCOL_ACCESS_KEY_ID",
    "S3_PROTOCOL_ACCESS_KEY_SECRET",
    "REDIS_PASSWORD",
}
env = Path("docker/.env")
if not env.exists():
    lines = []
    for line in Path("docker/.env.example").read_text().splitlines():
        key = re.match(r"^([A-Z0-9_]+)=$", line)
        lines.append(line + secrets.token_hex(16) if key and key.group(1) in SECRETS else line)
    env.write_text("\n".join(lines) + "\n")
os.chmod(env, 0o600)
