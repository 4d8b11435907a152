"""Permissions and roles as data: the one table every check reads (a leaf module: it imports no other part of dms
but the language picker, so the lifecycles (dms.workflow.rules) and the checks (dms.security) both read it without
reading each other). Code asks for a permission, never for a role name (tests/test_contracts.py).
"""
from __future__ import annotations

from enum import StrEnum

from dms.i18n import pick


class Permission(StrEnum):
    VIEW = "View"
    DOWNLOAD = "Download"
    EDIT = "Edit"
    ADD = "Add"
    TRANSITION = "Transition"
    SIGN = "Sign"
    MANAGE_SHARING = "ManageSharing"
    VIEW_AUDIT = "ViewAudit"
    REVOKE = "Revoke"
    MANAGE_BLANKS = "ManageBlanks"  # allocate and spoil numbered blank forms (a site permission: global roles)
    # Site permissions (held through global roles, asked with holds_globally / the `can` template helper):
    MANAGE_RECORDS = "ManageRecords"  # legal holds, trash purge, declaring records, disposition lists
    READ_RECORDS = "ReadRecords"  # the records-management pages and reports
    MANAGE_PKI = "ManagePKI"  # issue, revoke and import users' signing certificates; the CA's page
    MANAGE_USERS = "ManageUsers"  # users and groups: create, roles, disable, unlock, one-time passwords, sessions


P = Permission
GLOBAL_ROLES = ("Administrator", "Clerk", "Signatory", "Auditor")
LOCAL_ROLES = ("Reader", "Editor", "Contributor", "Reviewer", "Counterparty", "Assessed")

# The one table: which role holds which permission where no workflow state says otherwise.
ROLE_PERMISSIONS: dict[str, frozenset[Permission]] = {
    "Administrator": frozenset(P),
    "Clerk": frozenset({P.VIEW, P.DOWNLOAD, P.EDIT, P.ADD, P.TRANSITION, P.MANAGE_SHARING, P.MANAGE_BLANKS}),
    "Signatory": frozenset({P.VIEW, P.DOWNLOAD, P.TRANSITION, P.SIGN, P.REVOKE}),
    "Auditor": frozenset({P.VIEW, P.DOWNLOAD, P.VIEW_AUDIT, P.READ_RECORDS}),
    "Reader": frozenset({P.VIEW, P.DOWNLOAD}),
    "Editor": frozenset({P.VIEW, P.DOWNLOAD, P.EDIT, P.ADD, P.TRANSITION, P.MANAGE_SHARING}),
    "Contributor": frozenset({P.VIEW, P.DOWNLOAD, P.ADD}),
    "Reviewer": frozenset({P.VIEW, P.DOWNLOAD, P.TRANSITION}),
    # Limited external accounts: they hold nothing by default; only the state maps of their own document types
    # grant them anything (agreements with their organisation; their own assessment reports once released).
    "Counterparty": frozenset(),
    "Assessed": frozenset(),
}

ROLE_LABELS_RU = {
    "Administrator": "Администратор", "Clerk": "Делопроизводитель", "Signatory": "Подписант",
    "Auditor": "Аудитор", "Reader": "Читатель", "Editor": "Редактор", "Contributor": "Автор",
    "Reviewer": "Рецензент", "Counterparty": "Представитель второй стороны", "Assessed": "Оцениваемый",
}
ROLE_LABELS_EN = {
    "Administrator": "Administrator", "Clerk": "Clerk", "Signatory": "Signatory", "Auditor": "Auditor",
    "Reader": "Reader", "Editor": "Editor", "Contributor": "Contributor", "Reviewer": "Reviewer",
    "Counterparty": "Counterparty's representative", "Assessed": "Person assessed",
}


def role_label(role: str) -> str:
    """A role's name in the current locale (the role's code if it has no label)."""
    return pick(ROLE_LABELS_RU.get(role, role), ROLE_LABELS_EN.get(role, role))


def roles_with(permission: Permission) -> frozenset[str]:
    return frozenset(r for r, perms in ROLE_PERMISSIONS.items() if permission in perms)


# What a refusal calls each permission, in each language (a refusal never shows the code «Sign» to a reader).
PERMISSION_LABELS: dict[Permission, tuple[str, str]] = {
    P.VIEW: ("просмотр", "view"), P.DOWNLOAD: ("скачивание", "download"), P.EDIT: ("изменение", "edit"),
    P.ADD: ("добавление документов", "add documents"), P.TRANSITION: ("переходы по этапам", "workflow steps"),
    P.SIGN: ("подпись", "sign"), P.MANAGE_SHARING: ("управление доступом", "manage sharing"),
    P.VIEW_AUDIT: ("журнал аудита", "audit trail"), P.REVOKE: ("аннулирование", "revoke"),
    P.MANAGE_BLANKS: ("учёт бланков", "blank forms"), P.MANAGE_RECORDS: ("архивное хранение", "records management"),
    P.READ_RECORDS: ("отчёты архивного хранения", "records reports"),
    P.MANAGE_PKI: ("сертификаты подписи", "signing certificates"),
    P.MANAGE_USERS: ("управление пользователями", "user administration"),
}


def permission_label(permission: Permission, locale: str | None = None) -> str:
    ru, en = PERMISSION_LABELS.get(permission, (str(permission), str(permission)))
    if locale is not None:
        return en if locale == "en" else ru
    return pick(ru, en)
