"""The lifecycles' guards and effects are found by name in one registry (dms.workflow.hooks): the engine imports no
capability, every name the rules use is registered by some capability, and an unknown name refuses the step."""
from __future__ import annotations

import pytest

from dms.workflow import hooks
from dms.workflow.rules import WORKFLOWS


def test_every_guard_and_effect_named_by_a_lifecycle_is_registered() -> None:
    names = {(kind, name) for wf in WORKFLOWS.values() for t in wf.transitions.values()
             for kind, names in (("guard", t.guards + t.effect_guards), ("effect", t.effects)) for name in names}
    assert names, "the lifecycles name guards and effects"
    for kind, name in sorted(names):
        found = hooks.get_guard(name) if kind == "guard" else hooks.get_effect(name)
        assert callable(found), (kind, name)


def test_a_guard_nobody_registered_refuses_instead_of_passing() -> None:
    with pytest.raises(hooks.UnknownHook, match="no_such_guard"):
        hooks.get_guard("no_such_guard")


def test_a_hook_name_cannot_be_registered_twice_with_another_function() -> None:
    hooks.get_guard("has_pdf")
    with pytest.raises(ValueError, match="twice"):
        hooks.guard("has_pdf")(lambda session, actor, doc: None)
