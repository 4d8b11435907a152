"""The audit trail for auditors: filters, pages, CSV export. Events are titled in the page's language (codes stay
beside the titles: the filter and the CSV use them), their details' keys too, and times are shown in DMS_TIMEZONE."""
from __future__ import annotations

from datetime import datetime, UTC

from flask import Response, g, render_template, request, stream_with_context
from flask_login import current_user, login_required

from dms.register import rules as register
from dms.i18n import format_moment, pick
from dms.security import role_label
from dms.audit import service as audit
from dms.web import bp
from dms.idrange import digits

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
    "user.password_reset": ("Выдан одноразовый пароль", "One-time password issued"),
    "user.update": ("Изменены данные пользователя", "User details changed"),
    "user.roles": ("Изменены глобальные роли", "Global roles changed"),
    "user.unlock": ("Вход разблокирован", "Login unlocked"),
    "user.disable": ("Пользователь отключён", "User disabled"),
    "user.enable": ("Пользователь включён", "User enabled"),
    "user.sessions_end": ("Завершены все сеансы и токены", "All sessions and tokens ended"),
    "logout": ("Выход из системы", "Logout"),
    "token.revoke": ("Отозван токен API", "API token revoked"),
    "group.create": ("Создана группа", "Group created"),
    "group.member_add": ("Пользователь добавлен в группу", "Member added to a group"),
    "group.member_remove": ("Пользователь исключён из группы", "Member removed from a group"),
    "folder.create": ("Создана папка", "Folder created"),
    "sharing.grant": ("Выдана роль на папку", "Local role granted"),
    "sharing.revoke": ("Отозвана роль на папку", "Local role revoked"),
    "sharing.block": ("Отключено наследование доступа", "Inheritance blocked"),
    "sharing.inherit": ("Включено наследование доступа", "Inheritance restored"),
    "document.create": ("Создан документ", "Document created"),
    "document.update": ("Изменены свойства документа", "Document properties changed"),
    "document.move": ("Документ перемещён", "Document moved"),
    "document.view": ("Просмотр документа", "Document viewed"),
    "document.public_title": ("Изменён показ названия на публичной странице", "Public title setting changed"),
    "version.upload": ("Загружена версия", "Version uploaded"),
    "version.download": ("Скачана версия", "Version downloaded"),
    "workflow.transition": ("Смена состояния", "Workflow transition"),
    "approval.start": ("Документ отправлен на согласование", "Approval started"),
    "approval.decide": ("Решение по согласованию", "Approval decision"),
    "approval.recall": ("Документ отозван с согласования", "Approval recalled"),
    "approval.deputy": ("Назначен заместитель на время отсутствия", "Deputy appointed"),
    "signature": ("Подписание", "Signing"),
    "agreement.numbered_text": ("Текст соглашения заново сформирован с номером и датой",
                                "Agreement text rendered again with its number and date"),
    "agreement.countersigned_copy": ("Загружен экземпляр, подписанный второй стороной",
                                     "Countersigned copy uploaded"),
    "report.form_saved": ("Сохранена форма отчёта", "Report form saved"),
    "pki.init": ("Создан удостоверяющий центр", "CA created"),
    "pki.issue": ("Выпущен сертификат подписи", "Signing certificate issued"),
    "pki.revoke": ("Отозван сертификат подписи", "Signing certificate revoked"),
    "pki.import": ("Импортирован сертификат подписи", "Signing certificate imported"),
    "pki.rollover": ("Обновлены ключи удостоверяющего центра", "CA keys renewed"),
    "pki.pin_failed": ("Неверный PIN-код ключа подписи", "Wrong PIN of a signing key"),
    "pki.pin_locked": ("Ключ подписи заблокирован после неверных PIN-кодов", "Signing key locked after wrong PINs"),
    "pki.pin_refused": ("Отказ: ключ подписи заблокирован", "Refused: the signing key is locked"),
    "pki.pin_unlock": ("Ключ подписи разблокирован", "Signing key unlocked"),
    "evidence.protect": ("Добавлена долговременная защита подписей", "Long-term protection added"),
    "evidence.renew": ("Обновлена долговременная защита подписей", "Long-term protection renewed"),
    "maintain": ("Плановое обслуживание", "Maintenance run"),
    "comment.add": ("Добавлен комментарий", "Comment added"),
    "comment.edit": ("Изменён комментарий", "Comment edited"),
    "comment.hide": ("Скрыт комментарий", "Comment hidden"),
    "certificates.issue": ("Выдача свидетельств (пакет)", "Certificates issued (batch)"),
    "certificates.prepare": ("Подготовлен пакет свидетельств", "Certificate batch prepared"),
    "certificates.cancel": ("Пакет свидетельств отменён (номера и бланки возвращены)",
                            "Certificate batch cancelled (numbers and blanks given back)"),
    "certificates.resume": ("Пакет свидетельств продолжен", "Certificate batch resumed"),
    "certificates.hole_acknowledged": ("Пропуск номеров отменённого пакета подтверждён",
                                       "Gap in the numbers of a cancelled batch acknowledged"),
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
    "records.disposition.act": ("Составлен акт о выделении к уничтожению (документ)",
                                "Disposition act filed as a document"),
    "backup": ("Резервная копия", "Backup"),
    "restore": ("Восстановление из копии", "Restore"),
    "audit.export": ("Выгрузка журнала аудита", "Audit trail exported"),
    "audit.fold": ("Публичные проверки вписаны в цепочку", "Public lookups folded into the chain"),
}


# Register steps beyond the transitions of dms.register.rules.
REGISTER_EVENTS: dict[str, tuple[str, str]] = {
    "effective": ("решение вступило в силу", "decision took effect"),
    "decision_dropped": ("решение отменено", "decision dropped"),
}
# Families of events: a code not in ACTIONS is titled by its family and its last word (never a bare code).
FAMILIES: dict[str, tuple[str, str]] = {
    "user": ("Пользователь", "User"), "login": ("Вход", "Login"), "token": ("Токен API", "API token"),
    "group": ("Группа", "Group"), "folder": ("Папка", "Folder"), "sharing": ("Доступ", "Sharing"),
    "document": ("Документ", "Document"), "version": ("Версия", "Version"), "workflow": ("Процесс", "Workflow"),
    "pki": ("Сертификаты подписи", "Signing certificates"), "certificate": ("Свидетельство", "Certificate"),
    "certificates": ("Свидетельства", "Certificates"), "blanks": ("Бланки", "Blank forms"),
    "records": ("Архивное хранение", "Records"), "register": ("Регистр", "Register"),
    "approval": ("Согласование", "Approval"),
    "comment": ("Комментарий", "Comment"), "evidence": ("Долговременная защита", "Long-term protection"),
    "report": ("Отчёт", "Report"), "agreement": ("Соглашение", "Agreement"), "audit": ("Журнал", "Audit trail"),
}

# What the keys of an event's details mean (the values are shown as recorded).
DETAIL_LABELS: dict[str, tuple[str, str]] = {
    "answers": ("ответы", "answers"), "as_of": ("на дату", "as of"), "authentic": ("подлинный", "authentic"),
    "backup_created_at": ("копия создана", "backup created"), "batch": ("пакет", "batch"),
    "changes": ("изменения", "changes"), "channel": ("канал", "channel"), "client": ("клиент", "client"),
    "code": ("код", "code"), "comment": ("комментарий", "comment"), "count": ("количество", "count"),
    "crl_number": ("номер СОС", "CRL number"), "destroyed": ("уничтожено", "destroyed"),
    "disposition": ("акт", "disposition list"), "document": ("документ", "document"),
    "documents": ("документы", "documents"), "due": ("срок", "due"), "field": ("поле", "field"),
    "file": ("файл", "file"), "filename": ("имя файла", "file name"), "filters": ("фильтры", "filters"),
    "fingerprint": ("отпечаток", "fingerprint"), "fingerprints": ("отпечатки", "fingerprints"),
    "first": ("первый", "first"), "folder": ("папка", "folder"), "form": ("форма", "form"),
    "found": ("найдено", "found"), "from_state": ("из состояния", "from state"),
    "from_status": ("из статуса", "from status"), "group": ("группа", "group"), "hold": ("удержание", "hold"),
    "holder": ("владелец", "holder"), "kind": ("вид", "kind"), "last": ("последний", "last"),
    "level": ("уровень", "level"), "login": ("логин", "login"), "media_type": ("тип файла", "media type"),
    "member": ("участник", "member"), "name": ("имя", "name"), "not_after": ("действует до", "valid until"),
    "number": ("номер", "number"), "object_bytes": ("байт объектов", "object bytes"),
    "objects": ("объекты", "objects"), "order": ("приказ", "order"), "organisation": ("организация", "organisation"),
    "orphans": ("бесхозные объекты", "orphans"), "parent": ("родительская папка", "parent folder"),
    "period": ("период", "period"), "principal": ("кому", "principal"), "public": ("публично", "public"),
    "reason": ("причина", "reason"), "reg_number": ("рег. номер", "reg. number"), "role": ("роль", "role"),
    "roles": ("роли", "roles"), "rule": ("правило", "rule"), "schema_revision": ("версия схемы", "schema revision"),
    "serial": ("серийный номер", "serial"), "serials": ("серийные номера", "serials"),
    "series": ("серия", "series"), "sessions": ("сеансы", "sessions"), "signatures": ("подписи", "signatures"),
    "signer": ("подписант", "signer"), "site": ("площадка", "site"), "size": ("размер", "size"),
    "skipped": ("пропущено", "skipped"), "source": ("откуда", "source"),
    "source_dialect": ("исходная СУБД", "source database"), "source_version": ("исходная версия", "source version"),
    "subject": ("субъект", "subject"), "target": ("куда", "target"), "title": ("название", "title"),
    "to_state": ("в состояние", "to state"), "to_status": ("в статус", "to status"),
    "token_id": ("токен", "token"), "tokens": ("токены", "tokens"), "transition": ("переход", "transition"),
    "type": ("тип", "type"), "version": ("версия", "version"), "term_to": ("срок по", "term to"),
    "term_from": ("срок с", "term from"), "waits_for_signature": ("ждёт подписи", "waits for signature"),
    "route": ("маршрут", "route"), "round": ("круг", "round"), "stage": ("этап", "stage"),
    "stages": ("этапы", "stages"), "decision": ("решение", "decision"), "on_behalf": ("за кого", "on behalf of"),
    "deputy": ("заместитель", "deputy"), "date_from": ("с", "from"), "date_to": ("по", "to"),
    "credentials": ("ключи", "credentials"), "errors": ("ошибки", "errors"), "expired": ("истекло", "expired"),
    "failures": ("неудачных попыток", "failures"), "ok": ("успешно", "ok"), "protected": ("защищено", "protected"),
    "renew_by": ("обновить до", "renew by"), "renewed": ("обновлено", "renewed"),
    "renewed_keys": ("обновлённые ключи", "renewed keys"), "timestamp": ("метка времени", "time-stamp"),
    "tsa_serial": ("серийный номер метки", "time-stamp serial"),
    "one_time": ("одноразовый", "one-time"), "added": ("добавлены", "added"), "removed": ("убраны", "removed"),
}
CHANNELS: dict[str, tuple[str, str]] = {
    "web": ("веб-интерфейс", "web"), "web-preview": ("просмотр в браузере", "in-browser preview"),
    "web-zip": ("ZIP-архив", "ZIP archive"), "api": ("API", "API"), "cli": ("командная строка", "command line"),
}


# What an event is about (object_type), in both languages.
OBJECTS: dict[str, tuple[str, str]] = {
    "document": ("документ", "document"), "folder": ("папка", "folder"), "user": ("пользователь", "user"),
    "group": ("группа", "group"), "organisation": ("организация", "organisation"),
    "certificate": ("свидетельство", "certificate"), "disposition": ("акт на уничтожение", "disposition list"),
    "pki": ("удостоверяющий центр", "CA"), "system": ("система", "system"), "upload": ("загруженный файл", "upload"),
    "audit": ("журнал", "audit trail"), "hold": ("удержание", "legal hold"), "job": ("задание", "job"),
}


def object_label(object_type: str) -> str:
    return pick(*OBJECTS[object_type]) if object_type in OBJECTS else object_type


def action_title(code: str) -> str:
    """The event's meaning in the current language; register steps take their titles from dms.register.rules; a code
    not described here gets its family's title and its last word."""
    if code in ACTIONS:
        return pick(*ACTIONS[code])
    kind, _, step = code.partition(".")
    if kind == "register" and step in register.TRANSITIONS:
        return pick("Регистр: ", "Register: ") + register.TRANSITIONS[step].title
    if kind == "register" and step in REGISTER_EVENTS:
        return pick("Регистр: ", "Register: ") + pick(*REGISTER_EVENTS[step])
    if kind in FAMILIES and step:
        return f"{pick(*FAMILIES[kind])}: {step.replace('_', ' ').replace('.', ' ')}"
    return code


def detail_label(key: str) -> str:
    return pick(*DETAIL_LABELS[key]) if key in DETAIL_LABELS else key.replace("_", " ")


def detail_value(key: str, value: object) -> str:
    """A detail's value for people: channels and roles by name, lists joined, the rest as recorded."""
    import json
    if key == "channel" and isinstance(value, str) and value in CHANNELS:
        return pick(*CHANNELS[value])
    if key in ("role", "roles", "added", "removed"):
        items = value if isinstance(value, list) else [value]
        return ", ".join(role_label(str(v)) for v in items)
    if isinstance(value, bool):
        return pick("да", "yes") if value else pick("нет", "no")
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


@bp.app_template_filter("action_title")
def _action_title(code: str) -> str:
    return action_title(code)


@bp.app_template_filter("audit_time")
def _audit_time(ts: datetime | None) -> str:
    """A stored moment as day and time in the display zone (DMS_TIMEZONE, Europe/Moscow by default)."""
    return format_moment(audit.local_time(ts), seconds=True)


@bp.app_template_filter("local_moment")
def _local_moment(ts: datetime | None) -> str:
    """A stored moment as day and time (minutes) in the display zone: the document's history uses it."""
    return format_moment(audit.local_time(ts))


def zone_name() -> str:
    """The display zone as a short label: MSK-like abbreviation when the zone has one, else its name."""
    zone = audit.display_zone()
    abbreviation = datetime.now(UTC).astimezone(zone).tzname() or ""
    return abbreviation if abbreviation.isalpha() else str(zone)


@bp.get("/audit")
@login_required
def audit_page():  # noqa: ANN201
    q = audit.parse_query(request.args)
    page = max(1, int(request.args.get("page", "1"))) if digits(request.args.get("page", "1")) else 1
    total, events = audit.search(g.db, current_user, q, limit=PAGE, offset=(page - 1) * PAGE)
    choices = sorted(((code, action_title(code)) for code in ACTIONS), key=lambda c: c[1])
    families = sorted(((f"{kind}.", pick("%s: все события", "%s: all events") % pick(*title))
                       for kind, title in FAMILIES.items()), key=lambda c: c[1])
    return render_template("audit.html", events=events, total=total, page=page,
                           pages=max(1, -(-total // PAGE)), args=request.args, action_choices=choices,
                           family_choices=families,
                           zone=zone_name(), detail_label=detail_label, detail_value=detail_value,
                           object_label=object_label)


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
