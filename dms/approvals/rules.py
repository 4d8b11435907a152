"""Approval routes as data.

A route is stages in order; a stage has approvers (logins, or groups as `group:NAME`), a rule (all of them, any one,
or a required share) and a duration in working days. `DEFAULT_ROUTES` gives each document type its route (the
initiator may add approvers to a stage before starting, never remove the ones the table requires). A group means
"any one of its members" or "each of them" as the stage says (`group_mode`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from dms.i18n import pick


class Rule(StrEnum):
    ALL = "all"      # every approver of the stage approves
    ANY = "any"      # one approval is enough
    SHARE = "share"  # at least `share` of the approvers approve


class Decision(StrEnum):
    APPROVE = "approve"
    REMARKS = "remarks"   # approved with remarks: counts as an approval, the remarks stay on the sheet
    REJECT = "reject"     # the document goes back to its author; a new round starts from a new version


DECISION_LABELS = {
    Decision.APPROVE: ("Согласовано", "Approved"),
    Decision.REMARKS: ("Согласовано с замечаниями", "Approved with remarks"),
    Decision.REJECT: ("Не согласовано", "Rejected"),
}


def decision_label(decision: str) -> str:
    ru, en = DECISION_LABELS.get(Decision(decision), (decision, decision)) if decision in set(Decision) \
        else (decision, decision)
    return pick(ru, en)


@dataclass(frozen=True)
class StageRule:
    title_ru: str
    title_en: str
    approvers: tuple[str, ...] = ()      # logins or "group:NAME"; may be empty (the initiator names them)
    rule: Rule = Rule.ALL
    share: float = 1.0                   # for Rule.SHARE: the share of approvals required, 0 < share <= 1
    days: int = 2                        # working days for each task of the stage
    group_mode: str = "any"              # a group approver: "any" (one member decides) or "each" (every member)

    @property
    def title(self) -> str:
        return pick(self.title_ru, self.title_en)


@dataclass(frozen=True)
class RouteRule:
    stages: tuple[StageRule, ...]
    # The workflow steps the route drives (dms.workflow.rules): from which states it may start, where it leaves the
    # document when approved (the signing step) and when rejected or recalled (back to the author).
    start_from: tuple[str, ...] = ("registered",)
    extra: dict[str, str] = field(default_factory=dict)


# The agency's routes (seed 000/001: orders and agreements are approved before the director signs them).
# Approvers named by group: the groups are kept by the administrator (dms group add/members); an empty group or a
# stage without approvers must be given approvers by the initiator before the route starts.
DEFAULT_ROUTES: dict[str, RouteRule] = {
    "order": RouteRule(stages=(
        StageRule("Юрист", "Lawyer", ("group:Юристы",), Rule.ANY, days=2),
        StageRule("Руководитель подразделения", "Head of department", ("group:Руководители",), Rule.ANY, days=1),
    ), start_from=("registered",)),
    "agreement": RouteRule(stages=(
        StageRule("Юрист и бухгалтер", "Lawyer and accountant", ("group:Юристы", "group:Бухгалтерия"), Rule.ALL,
                  days=3),
        StageRule("Руководитель подразделения", "Head of department", ("group:Руководители",), Rule.ANY, days=1),
    ), start_from=("draft",)),
}

# States of the lifecycles the route moves between (dms.workflow.rules has the steps: start_approval, approval_complete,
# approval_rejected, recall_approval — each taken only by this package's service).
ON_APPROVAL = "on_approval"


class Kind(StrEnum):
    """Kinds of notification; each user chooses per kind: e-mail, in-app, daily digest, or off."""
    TASK_ASSIGNED = "task_assigned"
    DEADLINE_TOMORROW = "deadline_tomorrow"
    TASK_OVERDUE = "task_overdue"
    RETURNED = "returned"
    APPROVED = "approved"
    REJECTED = "rejected"
    SIGNED = "signed"
    COMMENT = "comment"
    MENTION = "mention"
    TEST = "test"


KIND_LABELS = {
    Kind.TASK_ASSIGNED: ("Новая задача согласования", "New approval task"),
    Kind.DEADLINE_TOMORROW: ("Срок задачи истекает завтра", "Task due tomorrow"),
    Kind.TASK_OVERDUE: ("Задача просрочена", "Task overdue"),
    Kind.RETURNED: ("Документ возвращён на доработку", "Document returned for rework"),
    Kind.APPROVED: ("Документ согласован", "Document approved"),
    Kind.REJECTED: ("Документ не согласован", "Document rejected"),
    Kind.SIGNED: ("Документ подписан", "Document signed"),
    Kind.COMMENT: ("Ответ в обсуждении", "Reply in a discussion"),
    Kind.MENTION: ("Вас упомянули в обсуждении", "You were mentioned in a discussion"),
    Kind.TEST: ("Проверка уведомлений", "Notification test"),
}


def kind_label(kind: str, locale: str | None = None) -> str:
    ru, en = KIND_LABELS.get(Kind(kind), (kind, kind)) if kind in set(Kind) else (kind, kind)
    if locale is not None:
        return en if locale == "en" else ru
    return pick(ru, en)


class Channel(StrEnum):
    EMAIL = "email"    # e-mail and in-app
    INAPP = "inapp"    # in-app only
    DIGEST = "digest"  # in-app, and once a day one e-mail with all of them
    OFF = "off"


DEFAULT_CHANNEL = Channel.EMAIL

# Russian public holidays (Labour Code art. 112) and the government's transfers of days off, as data. Fixed dates
# repeat every year; the transfers are per year (the decree of each year) and must be added as they are published.
FIXED_HOLIDAYS: tuple[tuple[int, int], ...] = (
    (1, 1), (1, 2), (1, 3), (1, 4), (1, 5), (1, 6), (1, 7), (1, 8),
    (2, 23), (3, 8), (5, 1), (5, 9), (6, 12), (11, 4),
)
# Extra days off moved by decree (weekday → day off) and working Saturdays (day off → working day).
TRANSFERRED_DAYS_OFF: frozenset[date] = frozenset({
    date(2025, 5, 2), date(2025, 5, 8), date(2025, 6, 13), date(2025, 11, 3), date(2025, 12, 31),
    date(2026, 1, 9), date(2026, 12, 31),
})
WORKING_WEEKENDS: frozenset[date] = frozenset({date(2025, 11, 1)})

# Editing a comment is allowed to its author for this long after writing it.
COMMENT_EDIT_MINUTES = 15
