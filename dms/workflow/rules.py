"""Lifecycles as data (after Plone's DCWorkflow): per document type, states with a permission map and
transitions with guards. dms.workflow.service executes them; dms.security reads the permission maps."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from functools import cache

from dms.errors import N_
from dms.i18n import pick
from dms.permissions import ROLE_PERMISSIONS, P, roles_with

NOBODY: frozenset[str] = frozenset()
EDITORS = frozenset({"Administrator", "Clerk", "Editor", "Contributor"})


@dataclass(frozen=True)
class State:
    name: str
    title_ru: str
    title_en: str

    @property
    def title(self) -> str:
        return pick(self.title_ru, self.title_en)

    # permission -> roles that hold it in this state; a permission not named here keeps ROLE_PERMISSIONS.
    permissions: dict[P, frozenset[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Transition:
    name: str
    title_ru: str
    title_en: str
    sources: tuple[str, ...]
    target: str
    permission: P = P.TRANSITION
    guards: tuple[str, ...] = ()     # names in dms.workflow.service.GUARDS
    assigns_number: bool = False
    worklist: bool = False           # shown in the worklist of those who may take it
    # Checked only when the step is taken, on its outcome: for a signing step, on the version the signature made.
    effect_guards: tuple[str, ...] = ()
    comment_required: bool = False   # the comment is the reason, kept in the history (e.g. termination)
    # Taken only by its own service (a msgid saying where): never a plain step in the API, bulk actions or the
    # document page (a certificate's revocation needs an order, a replacement issues a duplicate, expiry is by date).
    service: str = ""
    # Irreversible: the web asks to confirm, saying this consequence (a msgid).
    confirm: str = ""
    returns: bool = False            # sends the document back to its author (it reaches their «Мои задачи»)
    # Names in dms.workflow.service.EFFECTS, run after the step in the same transaction (e.g. a signed order
    # makes the register's decision take effect).
    effects: tuple[str, ...] = ()

    @property
    def title(self) -> str:
        return pick(self.title_ru, self.title_en)


@dataclass(frozen=True)
class Workflow:
    initial: str
    states: dict[str, State]
    transitions: dict[str, Transition]


def _wf(initial: str, states: list[State], transitions: list[Transition]) -> Workflow:
    return Workflow(initial, {s.name: s for s in states}, {t.name: t for t in transitions})


FROZEN = {P.EDIT: NOBODY, P.ADD: NOBODY}
SIGNERS = frozenset({"Signatory"})
REVIEWERS = frozenset({"Reviewer"})
COUNTERPARTY = frozenset({"Counterparty"})
COUNTERPARTY_READS = {P.VIEW: roles_with(P.VIEW) | COUNTERPARTY, P.DOWNLOAD: roles_with(P.DOWNLOAD) | COUNTERPARTY}
ASSESSED_READS = {P.VIEW: roles_with(P.VIEW) | {"Assessed"}, P.DOWNLOAD: roles_with(P.DOWNLOAD) | {"Assessed"}}

APPROVAL_SERVICE = N_("согласование — на карточке документа (маршрут, решения согласующих, отзыв): "
                      "POST /api/v1/documents/{id}/route, dms route start|decide|recall")


def approval_steps(start: str, back: str, numbers: bool = False,
                   numbered: tuple[str, ...] = ()) -> tuple[Transition, ...]:
    """The steps an approval route (dms.approvals) takes: only its service takes them, so no plain transition skips
    the approvers. Approved, the document goes to signing; rejected or recalled, back to `back` for rework.
    `numbered`: the effects of the step that numbers it (as on the lifecycle's own numbering step)."""
    return (
        Transition("start_approval", "Отправить на согласование", "Send for approval", (start,), "on_approval",
                   guards=("has_pdf",), service=APPROVAL_SERVICE),
        Transition("approval_complete", "Согласовано", "Approved", ("on_approval",), "on_signing",
                   service=APPROVAL_SERVICE, assigns_number=numbers, effects=numbered),
        Transition("approval_rejected", "Не согласовано", "Not approved", ("on_approval",), back, returns=True,
                   service=APPROVAL_SERVICE),
        Transition("recall_approval", "Отозвать с согласования", "Recall from approval", ("on_approval",), back,
                   returns=True, service=APPROVAL_SERVICE),
    )


WORKFLOWS: dict[str, Workflow] = {
    "order": _wf("draft", [
        State("draft", "Проект", "Draft", {P.EDIT: EDITORS}),
        State("registered", "Зарегистрирован", "Registered", {P.EDIT: EDITORS}),
        # Approval (dms.approvals): the approvers view and download it, nobody edits it while they decide.
        State("on_approval", "На согласовании", "On approval", {**FROZEN}),
        State("on_signing", "На подписании", "On signing", {**FROZEN, P.SIGN: SIGNERS}),
        State("signed", "Подписан", "Signed", {**FROZEN, P.SIGN: NOBODY}),
        State("cancelled", "Отменён", "Cancelled", {**FROZEN, P.SIGN: NOBODY, P.TRANSITION: NOBODY}),
    ], [
        Transition("register", "Зарегистрировать", "Register", ("draft",), "registered",
                   guards=("has_pdf",), assigns_number=True),
        Transition("send_to_signing", "Отправить на подпись", "Send for signing", ("registered",), "on_signing",
                   guards=("has_pdf",)),
        Transition("return_to_draft", "Вернуть на доработку", "Return for rework", ("on_signing",), "registered",
                   returns=True),
        Transition("sign", "Подписать", "Sign", ("on_signing",), "signed", permission=P.SIGN,
                   guards=("has_pdf", "signer_not_author"), worklist=True,
                   effects=("register_decision", "approvals_signed")),
        *approval_steps("registered", "registered"),
        Transition("cancel", "Отменить", "Cancel", ("draft", "registered", "signed"), "cancelled",
                   confirm=N_("Приказ будет отменён безвозвратно: отменённый приказ нельзя изменить, подписать или "
                              "вернуть в работу."), effects=("register_decision_dropped",)),
    ]),
    "certificate": _wf("draft", [
        State("draft", "Проект", "Draft", {P.EDIT: EDITORS}),
        State("issued", "Выдано", "Issued", {**FROZEN, P.REVOKE: frozenset({"Administrator", "Signatory"})}),
        State("revoked", "Аннулировано", "Revoked", {**FROZEN, P.TRANSITION: NOBODY, P.REVOKE: NOBODY}),
        State("expired", "Истёк срок", "Expired", {**FROZEN, P.TRANSITION: NOBODY, P.REVOKE: NOBODY}),
        State("replaced", "Заменено дубликатом", "Replaced", {**FROZEN, P.TRANSITION: NOBODY, P.REVOKE: NOBODY}),
    ], [
        Transition("issue", "Выдать (подписать)", "Issue (sign)", ("draft",), "issued", permission=P.SIGN,
                   guards=("has_pdf",), assigns_number=True),
        Transition("revoke", "Аннулировать", "Revoke", ("issued",), "revoked", permission=P.REVOKE,
                   service=N_("аннулирование — на карточке свидетельства, с причиной и приказом (номер и дата): "
                              "POST /api/v1/certificates/{номер}/revoke, dms certificates revoke")),
        Transition("expire", "Истёк срок действия", "Expire", ("issued",), "expired",
                   service=N_("срок действия истекает только по дате «действительно до» (ежедневный запуск "
                              "dms maintain / dms certificates expire)")),
        Transition("replace", "Заменить дубликатом", "Replace", ("issued",), "replaced", permission=P.SIGN,
                   service=N_("замена — выдачей дубликата на карточке свидетельства: POST "
                              "/api/v1/certificates/{номер}/replace, dms certificates replace")),
    ]),
    # The holder's representative (local role Counterparty on the holder's folder) sees an agreement once the
    # agency has signed it and countersigns it; entering into force is guarded by checking both signatures.
    "agreement": _wf("draft", [
        State("draft", "Проект", "Draft", {P.EDIT: EDITORS}),
        State("on_approval", "На согласовании", "On approval", {**FROZEN}),
        State("on_signing", "На подписании", "On signing", {**FROZEN, P.SIGN: SIGNERS}),
        State("signed_by_agency", "Подписано агентством", "Signed by the agency",
              {**FROZEN, **COUNTERPARTY_READS, P.SIGN: COUNTERPARTY}),
        State("in_force", "Действует", "In force", {**FROZEN, **COUNTERPARTY_READS, P.SIGN: NOBODY}),
        State("terminated", "Прекращено", "Terminated",
              {**FROZEN, **COUNTERPARTY_READS, P.SIGN: NOBODY, P.TRANSITION: NOBODY}),
    ], [
        # numbered: the text drafted from the template is printed again with its number and date (agreements)
        Transition("send_to_signing", "Отправить на подпись", "Send for signing", ("draft",), "on_signing",
                   guards=("has_pdf",), assigns_number=True, effects=("agreement_numbered",)),
        Transition("sign", "Подписать от агентства", "Sign for the agency", ("on_signing",), "signed_by_agency",
                   permission=P.SIGN, guards=("has_pdf", "counterparty_in_register"), worklist=True,
                   effects=("approvals_signed",)),
        *approval_steps("draft", "draft", numbers=True, numbered=("agreement_numbered",)),
        Transition("countersign", "Подписать второй стороной", "Countersign", ("signed_by_agency",), "in_force",
                   permission=P.SIGN, guards=("has_pdf", "term_not_ended", "counterparty_in_register"),
                   effect_guards=("both_signatures_valid",), worklist=True),
        Transition("accept_countersigned", "Принять подписанный второй стороной", "Accept the countersigned copy",
                   ("signed_by_agency",), "in_force",
                   guards=("term_not_ended", "both_signatures_valid", "counterparty_in_register")),
        Transition("terminate", "Прекратить", "Terminate", ("in_force",), "terminated", comment_required=True,
                   confirm=N_("Соглашение будет прекращено безвозвратно: возобновить его нельзя, нужно заключить "
                              "новое.")),
    ]),
    "report": _wf("draft", [
        State("draft", "Черновик", "Draft", {P.EDIT: EDITORS}),
        # Accepted by default by the agency's Clerk (who receives reports; no role to grant first), or a Reviewer.
        State("submitted", "Представлен", "Submitted",
              {P.EDIT: REVIEWERS, P.ADD: NOBODY, P.TRANSITION: REVIEWERS | {"Clerk"}}),
        State("accepted", "Принят", "Accepted", {**FROZEN}),
        State("returned", "Возвращён", "Returned", {P.EDIT: EDITORS}),
    ], [
        Transition("submit", "Представить", "Submit", ("draft", "returned"), "submitted", assigns_number=True),
        Transition("accept", "Принять", "Accept", ("submitted",), "accepted",
                   guards=("reviewer_not_author",), worklist=True),
        Transition("return", "Вернуть", "Return", ("submitted",), "returned", guards=("reviewer_not_author",),
                   returns=True),
    ]),
    # Seed 004, 4.5: a report reaches the person assessed only after the feedback session. The person holds the
    # local role Assessed on their own folder, which grants nothing until the state after feedback.
    "assessment_report": _wf("draft", [
        State("draft", "Черновик", "Draft", {P.EDIT: EDITORS}),
        State("ready", "Сформирован, ждёт обратной связи", "Ready, awaiting feedback", {**FROZEN}),
        State("released", "Передан после обратной связи", "Released after feedback", {**FROZEN, **ASSESSED_READS}),
    ], [
        Transition("complete", "Отчёт сформирован", "Report ready", ("draft",), "ready", guards=("has_pdf",),
                   assigns_number=True),
        Transition("rework", "Вернуть на доработку", "Return for rework", ("ready",), "draft", returns=True),
        Transition("record_feedback", "Обратная связь проведена", "Feedback given", ("ready",), "released",
                   guards=("assessed_person_folder",), comment_required=True),
    ]),
    "application": _wf("draft", [
        State("draft", "Черновик", "Draft", {P.EDIT: EDITORS}),
        State("registered", "Зарегистрировано", "Registered", {P.EDIT: EDITORS}),
        State("accepted", "Принято", "Accepted", {**FROZEN}),
        State("rejected", "Отклонено", "Rejected", {**FROZEN}),
    ], [
        Transition("register", "Зарегистрировать", "Register", ("draft",), "registered", assigns_number=True),
        Transition("accept", "Принять", "Accept", ("registered",), "accepted"),
        Transition("reject", "Отклонить", "Reject", ("registered",), "rejected",
                   confirm=N_("Заявление будет отклонено безвозвратно.")),
    ]),
    "other": _wf("draft", [
        State("draft", "Черновик", "Draft", {P.EDIT: EDITORS}),
        State("registered", "Зарегистрирован", "Registered", {P.EDIT: EDITORS}),
        State("archived", "В архиве", "Archived", {**FROZEN}),
    ], [
        Transition("register", "Зарегистрировать", "Register", ("draft",), "registered", assigns_number=True),
        Transition("archive", "Сдать в архив", "Archive", ("registered",), "archived"),
    ]),
}


def workflow_for(doc_type: str) -> Workflow:
    return WORKFLOWS[doc_type]


def state_permission_roles(doc_type: str, state: str, permission: P) -> frozenset[str] | None:
    wf = WORKFLOWS.get(doc_type)
    st = wf.states.get(state) if wf else None
    if st is None or permission not in st.permissions:
        return None
    # A state map can only narrow what a role may do by default, except Administrator keeps View/Download.
    return st.permissions[permission]


@cache
def _states_by_roles(permission: P) -> dict[frozenset[str], dict[str, tuple[str, ...]]]:
    grouped: dict[frozenset[str], dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for doc_type, wf in WORKFLOWS.items():
        for state in wf.states.values():
            roles = state.permissions.get(permission, roles_with(permission))
            if roles:
                grouped[roles][doc_type].append(state.name)
    return {roles: {t: tuple(s) for t, s in types.items()} for roles, types in grouped.items()}


def states_where_roles_hold(permission: P) -> dict[frozenset[str], dict[str, tuple[str, ...]]]:
    """{roles: {doc_type: states}} — where exactly these roles hold `permission`; drives AccessFilter."""
    return _states_by_roles(permission)


def state_label(state: str) -> str:
    """A state's title without knowing the type (facets, mixed lists): the first workflow naming it."""
    return next((wf.states[state].title for wf in WORKFLOWS.values() if state in wf.states), state)


def state_title(doc_type: str, state: str) -> str:
    st = WORKFLOWS.get(doc_type, WORKFLOWS["other"]).states.get(state)
    return st.title if st else state


assert all(r in ROLE_PERMISSIONS for wf in WORKFLOWS.values() for s in wf.states.values()
           for roles in s.permissions.values() for r in roles), "a state map names an unknown role"
