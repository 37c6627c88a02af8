"""Validation rules shared by the Copier questions and the run-time helpers.

Each function returns an error message naming the rule, or '' when the value is fine.
"""

from __future__ import annotations

import re

PROJECT_NAME_MAX = 40
PROJECT_NAME_RE = re.compile(r"^[a-z][a-z0-9_-]*$")
# Generic names invite collisions between instances and with other stacks on the host.
RESERVED_PROJECT_NAMES = frozenset(
    {
        "supabase", "postgres", "postgresql", "db", "database", "prod", "production", "staging",
        "stage", "dev", "development", "test", "testing", "local", "localhost", "default", "docker",
        "compose", "caddy", "kong", "admin", "root", "app", "api", "studio", "backup", "backups",
    }
)  # fmt: skip

_LABEL_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", re.IGNORECASE)
_URL_RE = re.compile(r"^https?://[^\s/?#]+(:\d{1,5})?(/[^\s]*)?$")


def project_name_error(name: object) -> str:
    if not isinstance(name, str) or not name:
        return "project_name is required: lowercase letters, digits, '_' and '-', starting with a letter"
    if len(name) > PROJECT_NAME_MAX:
        return f"project_name must be at most {PROJECT_NAME_MAX} characters, got {len(name)}"
    if not PROJECT_NAME_RE.match(name):
        return (
            f"project_name {name!r} may only contain lowercase letters, digits, '_' and '-', "
            "and must start with a letter"
        )
    if name in RESERVED_PROJECT_NAMES:
        return (
            f"project_name {name!r} is too generic and would collide with other stacks; "
            f"name the instance after what it serves, e.g. '{name}-shop' or 'acme-{name}'"
        )
    return ""


def slug(text: str) -> str:
    """A project name guess from free text (a folder name): may still fail the rules."""
    cleaned = re.sub(r"[^a-z0-9_-]+", "-", text.strip().lower()).strip("-_")
    cleaned = re.sub(r"^[^a-z]+", "", cleaned)
    return cleaned[:PROJECT_NAME_MAX].rstrip("-_") or "my-supabase"


def is_local_domain(domain: str) -> bool:
    return domain == "localhost" or domain.endswith(".localhost")


def domain_error(domain: object) -> str:
    if not isinstance(domain, str) or not domain:
        return "domain is required: 'localhost' or a DNS name such as example.com"
    if domain != domain.strip() or domain != domain.lower():
        return f"domain {domain!r} must be lowercase without spaces"
    if is_local_domain(domain):
        return ""
    if re.match(r"^[\d.]+$", domain) or ":" in domain:
        return f"domain {domain!r} is an IP address; Caddy needs a DNS name to get certificates"
    labels = domain.rstrip(".").split(".")
    if len(domain) > 253 or len(labels) < 2 or not all(_LABEL_RE.match(label) for label in labels):
        return f"domain {domain!r} is not a valid DNS name (labels of a-z, 0-9 and '-', e.g. example.com)"
    if labels[-1].isdigit():
        return f"domain {domain!r} has a numeric top-level label"
    return ""


def environment_error(environment: object, domain: str) -> str:
    if environment not in ("local", "production"):
        return f"environment must be 'local' or 'production', got {environment!r}"
    if environment == "production" and is_local_domain(domain):
        return (
            f"environment 'production' needs a public domain, not {domain!r}: "
            "Caddy must obtain certificates for api.<domain> and studio.<domain>"
        )
    return ""


def url_error(url: object, field: str = "site_url") -> str:
    if not isinstance(url, str) or not _URL_RE.match(url):
        return f"{field} must be an http:// or https:// URL without spaces, got {url!r}"
    return ""


def email_error(email: object, optional: bool = False, field: str = "acme_email") -> str:
    if optional and email in ("", None):
        return ""
    if not isinstance(email, str) or not _EMAIL_RE.match(email):
        return f"{field} must be an e-mail address like ops@example.com, got {email!r}"
    return ""


def int_range_error(value: object, low: int, high: int, field: str) -> str:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        return f"{field} must be a whole number from {low} to {high}, got {value!r}"
    return ""
