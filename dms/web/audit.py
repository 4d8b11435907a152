"""The audit trail for auditors: filters, pages, CSV export."""
from __future__ import annotations

from datetime import datetime, UTC

from flask import Response, g, render_template, request, stream_with_context
from flask_login import current_user, login_required

from .. import register
from ..i18n import pick
from ..services import audit
from . import bp

PAGE = 100

# What each kind of audit event means, in both languages (data, like the workflow's titles). The code stays beside
# the title on the page: it is what the filter and the CSV use. A code missing here is shown as it is.
ACTIONS: dict[str, tuple[str, str]] = {
    "login": ("Вход в систему", "Login"),
    "login.failed": ("Неудачный вход", "Failed login"),
    "login.throttled": ("Вход заблокирован (много неудачных попыток)", "Login throttled"),
    "token.issue": ("Выдан токен API", "API token issued"),
    "user.create": ("Создан пользователь", "User created"),
    "user.password": ("Сменён пароль", "Password changed"),
    "folder.create": ("Создана папка", "Folder created"),
    "sharing.grant": ("Выдана роль на папку", "Local role granted"),
    "sharing.revoke": ("Отозвана роль на папку", "Local role revoked"),
    "sharing.block": ("Изменено наследование доступа", "Inheritance changed"),
    "document.create": ("Создан документ", "Document created"),
    "document.update": ("Изменены свойства документа", "Document properties changed"),
    "document.move": ("Документ перемещён", "Document moved"),
    "document.view": ("Просмотр документа", "Document viewed"),
    "version.upload": ("Загружена версия", "Version uploaded"),
    "version.download": ("Скачана версия", "Version downloaded"),
    "workflow.transition": ("Смена состояния", "Workflow transition"),
    "signature": ("Подписание", "Signing"),
    "agreement.countersigned_copy": ("Загружен экземпляр, подписанный второй стороной",
                                     "Countersigned copy uploaded"),
    "report.form_saved": ("Сохранена форма отчёта", "Report form saved"),
    "pki.init": ("Создан удостоверяющий центр", "CA created"),
    "pki.issue": ("Выпущен сертификат подписи", "Signing certificate issued"),
    "pki.revoke": ("Отозван сертификат подписи", "Signing certificate revoked"),
    "pki.import": ("Импортирован сертификат подписи", "Signing certificate imported"),
    "certificates.issue": ("Выдача свидетельств (пакет)", "Certificates issued (batch)"),
    "certificate.revoke": ("Свидетельство аннулировано", "Certificate revoked"),
    "certificate.expire": ("Истёк срок свидетельства", "Certificate expired"),
    "blanks.allocate": ("Выделены бланки", "Blanks allocated"),
    "blanks.spoil": ("Бланк испорчен", "Blank spoiled"),
    "verification": ("Проверка свидетельства", "Certificate verification"),
    "records.hold": ("Наложено удержание", "Legal hold placed"),
    "records.release": ("Снято удержание", "Legal hold released"),
    "records.declare": ("Документ объявлен архивной записью", "Declared a record"),
    "records.trash": ("Документ в корзине", "Moved to the trash"),
    "records.restore": ("Документ восстановлен из корзины", "Restored from the trash"),
    "records.purge": ("Очистка корзины", "Trash purged"),
    "records.destroy": ("Документ уничтожен по акту", "Destroyed by disposition"),
    "records.disposition.propose": ("Составлен акт на уничтожение", "Disposition list proposed"),
    "records.disposition.approve": ("Утверждён акт на уничтожение", "Disposition list approved"),
    "records.disposition.execute": ("Исполнен акт на уничтожение", "Disposition list executed"),
    "records.disposition.skip": ("Документ не уничтожен по акту", "Skipped by disposition"),
    "backup": ("Резервная копия", "Backup"),
    "restore": ("Восстановление из копии", "Restore"),
    "audit.export": ("Выгрузка журнала аудита", "Audit trail exported"),
}


def action_title(code: str) -> str:
    """The event's meaning in the current language; register steps take their titles from dms.register."""
    if code in ACTIONS:
        return pick(*ACTIONS[code])
    kind, _, step = code.partition(".")
    if kind == "register" and step in register.TRANSITIONS:
        return pick("Регистр: ", "Register: ") + register.TRANSITIONS[step].title
    return code


@bp.app_template_filter("action_title")
def _action_title(code: str) -> str:
    return action_title(code)


@bp.get("/audit")
@login_required
def audit_page():  # noqa: ANN201
    q = audit.parse_query(request.args)
    page = max(1, int(request.args.get("page", "1"))) if request.args.get("page", "1").isdigit() else 1
    total, events = audit.search(g.db, current_user, q, limit=PAGE, offset=(page - 1) * PAGE)
    choices = sorted(((code, action_title(code)) for code in ACTIONS), key=lambda c: c[1])
    return render_template("audit.html", events=events, total=total, page=page,
                           pages=max(1, -(-total // PAGE)), args=request.args, action_choices=choices)


@bp.get("/audit.csv")
@login_required
def audit_csv():  # noqa: ANN201
    q = audit.parse_query(request.args)
    rows = audit.export_csv(g.db, current_user, q)
    first = next(rows)  # checks permission and records the export before streaming starts
    name = f"audit-{datetime.now(UTC):%Y%m%d-%H%M%S}.csv"

    def body():  # noqa: ANN202
        yield "\ufeff" + first  # BOM: Excel opens Cyrillic UTF-8 correctly
        yield from rows
    return Response(stream_with_context(body()), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename={name}"})
