"""Guards and effects of the lifecycles, registered by name (after Plone's DCWorkflow, whose transitions name their
guards). A transition in dms.workflow.rules names its guards and effects; the capability that knows the rule
registers the function under that name when its service module is imported (`@guard("term_not_ended")`); the
engine (dms.workflow.service) looks them up here and imports no capability. A leaf: it imports nothing of dms.

PROVIDERS lists the modules that register hooks, by name: a process that never imported one of them (a script that
only runs the engine) still finds every hook, and a name nobody registered refuses the step instead of passing it.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from dms.models import Document, User

Guard = Callable[["Session", "User", "Document"], "str | None"]
Effect = Callable[["Session", "User | None", "Document"], None]

PROVIDERS = ("dms.workflow.service", "dms.agreements.service", "dms.assessments.service", "dms.register.service",
             "dms.approvals.service")

GUARDS: dict[str, Guard] = {}
EFFECTS: dict[str, Effect] = {}


class UnknownHook(LookupError):
    """A lifecycle names a guard or an effect that no capability registered (a typo in the rules, or a provider
    missing from PROVIDERS): the step is refused, never taken unguarded."""


def _register(table: dict[str, Any], name: str) -> Callable[[Any], Any]:
    def decorate(fn: Any) -> Any:
        if table.get(name, fn) is not fn:
            raise ValueError(f"workflow hook {name!r} is registered twice")
        table[name] = fn
        return fn
    return decorate


def guard(name: str) -> Callable[[Guard], Guard]:
    """Register a guard: (session, actor, document) -> None when the step may be taken, else the reason (a msgid)."""
    return _register(GUARDS, name)


def effect(name: str) -> Callable[[Effect], Effect]:
    """Register an effect: (session, actor, document) -> None, run after the step in the same transaction."""
    return _register(EFFECTS, name)


def _lookup(table: dict[str, Any], name: str, kind: str) -> Any:
    if name not in table:
        for module in PROVIDERS:
            importlib.import_module(module)
    try:
        return table[name]
    except KeyError:
        raise UnknownHook(f"workflow {kind} {name!r} is not registered by any of {PROVIDERS}") from None


def get_guard(name: str) -> Guard:
    return _lookup(GUARDS, name, "guard")


def get_effect(name: str) -> Effect:
    return _lookup(EFFECTS, name, "effect")
