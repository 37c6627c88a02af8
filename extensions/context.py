"""Jinja extension of the template: validators, derived values, and the port table.

The rules and the port table live in the generated project's own `supabase_ops`
package (template/scripts/supabase_ops), so the questions and the run-time helpers
can never disagree. Only derived, non-secret values are computed here.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from functools import cache
from pathlib import Path

from copier_template_extensions import ContextHook
from jinja2.ext import Extension

OPS_PACKAGE = Path(__file__).resolve().parents[1] / "template" / "scripts" / "supabase_ops"
# Not the real name, so it never shadows an installed package; one per template checkout,
# because Copier loads each version from its own temporary clone (two during an update).
_ALIAS = "_supabase_template_ops_" + hashlib.sha256(str(OPS_PACKAGE).encode()).hexdigest()[:16]


@cache
def ops(module: str):
    """Import supabase_ops.<module> from the template without touching sys.path."""
    if _ALIAS not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            _ALIAS, OPS_PACKAGE / "__init__.py", submodule_search_locations=[str(OPS_PACKAGE)]
        )
        package = importlib.util.module_from_spec(spec)
        sys.modules[_ALIAS] = package
        spec.loader.exec_module(package)
    return importlib.import_module(f"{_ALIAS}.{module}")


def _as_int(value):
    """Copier hands validators the raw answer; an int question may still be a string."""
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return value


def validate_port_offset(value) -> str:
    return ops("ports").offset_error(_as_int(value))


def validate_int_range(value, low: int, high: int, field: str) -> str:
    return ops("rules").int_range_error(_as_int(value), low, high, field)


def default_project_name(folder: str) -> str:
    """A valid project name from the destination folder's name.

    `copier copy --defaults` does not validate defaults, so a folder named like a reserved
    name ("supabase", "test") must not become the answer as it is.
    """
    rules = ops("rules")
    name = rules.slug(folder)
    if rules.project_name_error(name):
        name = rules.slug(f"{name}-instance")
    return name


def next_free_port_offset() -> int:
    return ops("registry").next_free_offset()


class SupabaseContext(Extension):
    """Filters and globals used by copier.yml and the templates."""

    def __init__(self, environment):
        super().__init__(environment)
        rules = ops("rules")
        environment.filters.update(
            default_project_name=default_project_name,
            is_local_domain=rules.is_local_domain,
            validate_project_name=rules.project_name_error,
            validate_domain=rules.domain_error,
            validate_environment=rules.environment_error,
            validate_url=rules.url_error,
            validate_email=lambda value, optional=False: rules.email_error(value, optional),
            validate_port_offset=validate_port_offset,
            validate_int_range=validate_int_range,
        )
        environment.globals.update(next_free_port_offset=next_free_port_offset)


class PortTable(ContextHook):
    """Adds `ports`, the host port of every published service, once the offset is known."""

    def hook(self, context):
        offset = _as_int(context.get("port_offset"))
        if isinstance(offset, int) and not ops("ports").offset_error(offset):
            context["ports"] = ops("ports").port_map(offset)
