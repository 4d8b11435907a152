"""The OpenAPI 3.1 description of /api/v1: one `op(...)` line per operation, in one table (`_describe`).

Adding a route: add its `op(METHOD, "/path/{param}", "summary", response, ...)` line below, in its `section` (the
group shown on /api/v1/docs) — tests/app/test_openapi.py fails while a route in the app's URL map has no line here,
or a line has no route. Path parameters take their type from PATH_PARAMS (an id: 0 … dms.idrange.MAX_ID); the
statuses 401 (bearer token), 404 (path parameters, an id in the body) and 400 (a request body or query) are added by
themselves; list the others in `errors`. Response bodies are the schemas of dms/api/schemas.py, real fields each:
the fuzz run (scripts/fuzz) and tests/app/test_openapi.py validate real answers against them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import render_template

from dms.documents.doctypes import DOC_TYPES
from dms.idrange import MAX_ID
from dms.api import bp
from dms.api.schemas import (ANY_OBJ, BOOL, COMPONENTS, DAY, INT, STR, TS, Schema, arr, extend, items, obj, opt,
                             ref)

# A durable job (dms.jobs): GET /jobs/{job_id}.
JOB = obj(id=STR, kind=STR, status={"type": "string", "enum": ["queued", "running", "done", "failed", "cancelled"]},
          done=INT, total=opt(INT), percent=INT, message=STR, result=opt(ANY_OBJ), error=opt(STR), attempts=INT,
          cancel_requested=BOOL, finished=BOOL, created_at=opt(TS), started_at=opt(TS), heartbeat_at=opt(TS),
          finished_at=opt(TS))
# A certificate batch handed to a job (POST /certificates/batches, …/{batch_id}/issue: 202).
BATCH_JOB = extend("IssueBatch", job=JOB)
# Routes under /api/v1 that are the description itself, not operations of the API.
NOT_OPERATIONS = {"/openapi.json", "/docs"}
ID: Schema = {"type": "integer", "format": "int64", "minimum": 0, "maximum": MAX_ID}
PATH_PARAMS: dict[str, Schema] = {
    "doc_id": ID, "folder_id": ID, "number": ID, "org_id": ID, "hold_id": ID, "disposition_id": ID,
    "token_id": ID, "batch_id": ID, "name": STR, "token": STR, "cert_number": STR, "job_id": STR,
}
ERROR_TEXT = {400: "Некорректный запрос (поля — в details)", 401: "Нужен действующий токен (Authorization: Bearer)",
              403: "Недостаточно прав", 404: "Не найдено (или не видно вызывающему)",
              409: "Конфликт с состоянием объекта", 412: "If-Match не совпал с ревизией документа",
              413: "Файл слишком большой", 415: "Неподдерживаемый тип содержимого", 422: "Неверный PIN-код",
              429: "Слишком много попыток; повторите позже", 503: "Служба подписи недоступна"}


@dataclass
class Operation:
    method: str
    path: str
    summary: str
    response: Schema | None
    ok: int = 200
    body: dict[str, Any] | None = None
    query: dict[str, Schema] = field(default_factory=dict)
    errors: tuple[int, ...] = ()
    public: bool = False
    binary: bool = False
    if_match: bool = False
    not_found: Schema | None = None
    tag: str = ""


def json_body(required: tuple[str, ...] = (), /, **props: Schema) -> dict:
    return {"application/json": {"schema": {"type": "object", "required": list(required), "properties": props}}}


def multipart(required: tuple[str, ...] = ("file",), /, **props: Schema) -> dict:
    return {"multipart/form-data": {"schema": {"type": "object", "required": list(required), "properties": {
        "file": {"type": "string", "format": "binary"}, **props}}}}


FILE = multipart(comment=STR)
PAGE = {"limit": INT, "offset": INT}
META = {**ANY_OBJ, "description": "метаданные типа документа (GET /document-types)"}


def _describe() -> list[Operation]:
    ops: list[Operation] = []

    tag = ""

    def section(name: str) -> None:  # the group the following operations are shown in
        nonlocal tag
        tag = name

    def op(method: str, path: str, summary: str, response: Schema | None, **kw: Any) -> None:
        ops.append(Operation(method.lower(), path, summary, response, tag=tag, **kw))

    section("Токены")
    op("POST", "/tokens", "Получить токен по логину и паролю", ref("Token"), ok=201, public=True,
       body=json_body(("login", "password"), login=STR, password=STR), errors=(401, 403, 429))
    op("GET", "/tokens", "Мои действующие токены (без значений)", items(ref("ApiToken")))
    op("DELETE", "/tokens/current", "Отозвать токен этого запроса (выход)", None, ok=204)
    op("DELETE", "/tokens/{token_id}", "Отозвать свой токен", None, ok=204)
    section("Папки и документы")
    folder_query = {**PAGE, "type": STR, "state": STR}
    op("GET", "/folders", "Корневая папка и её содержимое", ref("FolderListing"), query=folder_query)
    op("GET", "/folders/{folder_id}", "Папка: подпапки и документы", ref("FolderListing"), query=folder_query)
    op("POST", "/folders", "Создать папку", ref("Folder"), ok=201, body=json_body(("name",), name=STR, parent_id=ID),
       errors=(403, 404, 409))
    op("GET", "/document-types", "Типы документов и поля их метаданных", ref("DocumentTypes"))
    doc_fields = {"folder_id": ID, "type": {"type": "string", "enum": list(DOC_TYPES)}, "title": STR,
                  "comment": STR}
    op("POST", "/documents", "Создать документ (multipart с файлом или JSON без файла)",
       ref("DocumentWithVersions"), ok=201, errors=(403, 404, 409, 413, 415),
       body={**multipart(("folder_id", "type", "title"), **doc_fields,
                         meta={**STR, "description": "JSON-объект метаданных типа"}),
             **json_body(("folder_id", "type", "title"), **doc_fields, meta=META)})
    op("GET", "/documents/{doc_id}", "Документ с версиями (ETag = ревизия)", ref("DocumentWithVersions"))
    op("PATCH", "/documents/{doc_id}", "Изменить название и метаданные; folder_id — переместить в другую папку",
       ref("Document"), body=json_body(title=STR, meta=META, folder_id=ID), if_match=True, errors=(403, 409, 412))
    op("GET", "/documents/{doc_id}/versions", "Версии документа", items(ref("Version")))
    op("POST", "/documents/{doc_id}/versions", "Загрузить новую версию", ref("Version"), ok=201, body=FILE,
       if_match=True, errors=(403, 409, 412, 413, 415))
    op("GET", "/documents/{doc_id}/versions/{number}", "Сведения о версии", ref("Version"))
    op("GET", "/documents/{doc_id}/versions/{number}/content", "Байты версии (проверяются по SHA-256)", None,
       binary=True, errors=(403,))
    section("Маршрут, аудит, поиск")
    op("GET", "/documents/{doc_id}/transitions", "Переходы из текущего состояния: доступные и почему нет",
       ref("Transitions"))
    op("POST", "/documents/{doc_id}/transitions/{name}", "Выполнить переход ({\"comment\"?})",
       ref("TransitionTaken"), body=json_body(comment=STR), if_match=True, errors=(403, 409, 412))
    op("GET", "/documents/{doc_id}/history", "История переходов документа", items(ref("HistoryEntry")))
    op("GET", "/worklist", "Мои задачи: документы, ждущие моего перехода", items(ref("WorkItem")))
    op("GET", "/audit", "Журнал аудита (фильтры; для аудитора и администратора)", ref("AuditPage"),
       query={**PAGE, "actor": STR, "action": STR, "object_type": STR, "object_id": ID, "document": ID,
              "since": DAY, "until": DAY}, errors=(400, 403))
    op("GET", "/search", "Полнотекстовый поиск с фасетами (только видимые документы; id — числа)", ref("SearchResult"),
       query={"q": STR, "type": STR, "state": STR, "org": STR, "year": INT, "from": DAY, "to": DAY,
              "sort": {"type": "string", "enum": ["relevance", "date"]}, "page": INT, "page_size": INT})
    section("Подписи")
    op("GET", "/documents/{doc_id}/signatures", "Подписи документа", items(ref("Signature")))
    op("POST", "/documents/{doc_id}/signatures", "Подписать текущую версию", ref("SignatureCreated"), ok=201,
       body=json_body(("pin",), pin=STR, level={"type": "string", "enum": ["B-B", "B-T", "B-LT"]}, comment=STR),
       if_match=True, errors=(403, 409, 412, 415, 422, 429, 503))
    op("GET", "/documents/{doc_id}/versions/{number}/validation", "Проверка подписей версии (отчёт по-русски)",
       ref("VersionValidation"), errors=(403, 503))
    op("POST", "/verify/pdf", "Проверить подписи PDF, подписанного где угодно (без токена)", ref("Validation"),
       public=True, body=FILE, errors=(413, 415, 429, 503))
    op("GET", "/pki/credentials", "Мои сертификаты подписи", items(ref("Credential")))
    section("Соглашения и отчёты об оценке")
    op("GET", "/agreements", "Соглашения, доступные мне, со статусом словами", items(ref("Agreement")))
    op("POST", "/agreements", "Составить проект соглашения по шаблону", ref("AgreementDraft"), ok=201,
       body=json_body(("holder_id", "subject", "term_from", "term_to"), holder_id=ID, subject=STR, term_from=DAY,
                      term_to=DAY, title=STR), errors=(403, 404, 409))
    op("GET", "/agreements/{doc_id}", "Статус соглашения: подписано агентством, действует, срок истёк, прекращено",
       ref("Agreement"), errors=(400,))
    op("POST", "/agreements/{doc_id}/countersigned",
       "Принять экземпляр, подписанный второй стороной вне системы (проверяются обе подписи)",
       ref("AgreementCountersigned"), ok=201, body=FILE, if_match=True, errors=(403, 409, 412, 413, 415))
    op("POST", "/agreements/{doc_id}/termination", "Прекратить соглашение (причина обязательна)", ref("Agreement"),
       body=json_body(("reason",), reason=STR, revision=INT), errors=(403, 409))
    op("GET", "/assessment-reports", "Отчёты по результатам оценки, доступные мне", items(ref("Document")))
    op("POST", "/assessment-reports", "Подшить отчёт об оценке в папку оцениваемого", ref("Document"), ok=201,
       body=multipart(("assessed", "title", "file"), assessed=STR, title=STR, meta=STR),
       errors=(403, 404, 409, 413, 415))
    op("POST", "/assessment-reports/{doc_id}/feedback", "Обратная связь проведена: отчёт передаётся оцениваемому",
       ref("Document"), body=json_body(("date", "note"), date=DAY, note=STR, revision=INT), errors=(403, 409))
    section("Отчёты по формам")
    op("GET", "/report-forms", "Формы отчётов: разделы, вопросы, варианты ответов, ограничения",
       items(ref("ReportForm")))
    report_body = {"site": STR, "period": STR, "answers": {**ANY_OBJ, "description": "код вопроса → ответ"}}
    op("POST", "/reports", "Отчёт по форме: черновик с PDF-версией", ref("Report"), ok=201,
       body=json_body(("form", "site", "period", "answers"), form=STR, folder_id=ID, **report_body),
       errors=(403, 404, 409))
    op("GET", "/reports/{doc_id}", "Отчёт по форме с ответами", ref("Report"), errors=(400,))
    op("PUT", "/reports/{doc_id}", "Заполнить форму заново (новая PDF-версия черновика)", ref("Report"),
       body=json_body(("site", "period", "answers"), **report_body), if_match=True, errors=(403, 409, 412))
    op("GET", "/reports/aggregate", "Сводка по площадкам (только видимые отчёты)", ref("Aggregate"),
       query={"form": STR, "period": STR, "site": STR, "scope": STR})
    section("Регистр организаций")
    op("GET", "/register", "Регистр организаций", obj(total=INT, items=arr(ref("Organisation"))),
       query={"kind": STR, "status": STR, "sort": STR, "dir": {"type": "string", "enum": ["asc", "desc"]}})
    op("POST", "/register", "Заявление о включении в Регистр", ref("OrganisationEvent"), ok=201,
       body=json_body(("kind", "name", "inn", "ogrn", "city"), kind=STR, name=STR, inn=STR, ogrn=STR, kpp=STR,
                      city=STR, short_name=STR, region=STR, code=STR, reason=STR), errors=(403, 409))
    op("GET", "/register/{org_id}", "Организация Регистра: состояние, история с документами, доступные шаги",
       ref("OrganisationDetail"))
    op("POST", "/register/{org_id}/transitions/{name}", "Шаг Регистра (include, start_audit, finish_audit, exclude, "
       "reapply)", ref("OrganisationEvent"), ok=201, body=json_body(reason=STR), errors=(403, 409))
    section("Хранение и уничтожение")
    op("GET", "/records/holds", "Удержания (all=1 — и снятые)", items(ref("Hold")), query={"all": STR},
       errors=(403,))
    op("POST", "/records/holds", "Поставить удержание на документ или папку", ref("Hold"), ok=201,
       body=json_body(("reason",), reason=STR, document_id=ID, folder_id=ID), errors=(403, 409))
    op("POST", "/records/holds/{hold_id}/release", "Снять удержание", ref("Hold"), body=json_body(reason=STR),
       errors=(403, 409))
    op("GET", "/records/trash", "Корзина", items(obj(id=INT, title=STR, type=STR, reason=opt(STR), trashed_at=TS)),
       errors=(403,))
    op("GET", "/documents/{doc_id}/records", "Сроки хранения, запись, корзина и удержания документа",
       ref("RecordsStatus"))
    op("POST", "/documents/{doc_id}/trash", "Переместить документ в корзину", obj(id=INT, trashed_at=TS),
       body=json_body(reason=STR), errors=(403, 409))
    op("POST", "/documents/{doc_id}/restore", "Восстановить документ из корзины", obj(id=INT, restored=BOOL),
       errors=(403, 409))
    op("POST", "/documents/{doc_id}/record", "Объявить документ архивной записью (неизменяемой)",
       obj(id=INT, declared_at=TS), ok=201, body=json_body(reason=STR), errors=(403, 409))
    op("GET", "/records/disposition", "Документы с истёкшим сроком хранения и акты об уничтожении",
       obj(due=arr(obj(document_id=INT, type=STR, title=STR, reg_number=opt(STR), due=DAY, rule=STR,
                       blocked=opt(STR))), lists=arr(ref("DispositionBatch"))), errors=(403,))
    op("POST", "/records/disposition", "Составить акт об уничтожении", ref("DispositionBatch"), ok=201,
       errors=(403, 409))
    op("GET", "/records/disposition/{disposition_id}", "Акт об уничтожении", ref("DispositionBatch"), errors=(403,))
    op("POST", "/records/disposition/{disposition_id}/approve", "Утвердить акт (второй администратор)",
       ref("DispositionBatch"), errors=(403, 409))
    op("POST", "/records/disposition/{disposition_id}/execute",
       "Исполнить утверждённый акт: задание (202), его ход — GET /jobs/{job_id}", obj(job=JOB), ok=202,
       errors=(403, 409))
    section("Задания")
    op("GET", "/jobs/{job_id}", "Ход задания (видно запустившему и администраторам)", JOB)
    op("POST", "/jobs/{job_id}/cancel", "Отменить задание: в очереди — сразу, выполняемое — на следующем шаге", JOB)
    op("POST", "/search/reindex", "Перестроить поисковый индекс (задание, администратор)", obj(job=JOB), ok=202,
       errors=(403,))
    section("Свидетельства о квалификации")
    op("GET", "/verify", "Проверить свидетельство по номеру и фамилии (без токена)", ref("CertificateFound"),
       public=True, query={"number": STR, "surname": STR}, errors=(429,), not_found=ref("CertificateNotFound"))
    op("GET", "/verify/token/{token}", "Проверить свидетельство по ссылке из QR-кода (без токена)",
       ref("CertificateFound"), public=True, errors=(429,), not_found=ref("CertificateNotFound"))
    op("POST", "/verify/certificate", "Те ли это байты, что мы выдали, и действительна ли подпись (без токена)",
       ref("FileCheck"), public=True, body=multipart(), errors=(413, 415, 429))
    op("GET", "/verify/document/{token}", "Проверить подписанный документ по ссылке из QR-кода штампа (без токена)",
       ref("DocumentCheck"), public=True, errors=(429,), not_found=ref("DocumentNotFound"))
    op("POST", "/verify/document/{token}", "Это ли байты версии документа, и действительны ли их подписи (без токена)",
       ref("DocumentFileCheck"), public=True, body=multipart(), errors=(400, 413, 429),
       not_found=ref("DocumentNotFound"))
    op("POST", "/certificates/batches", "Выдать свидетельства по файлу результатов экзамена (всё или ничего): "
       "задание (202), его ход — GET /jobs/{job_id}, пакет — GET /certificates/batches/{batch_id}; 409 — нет "
       "исполнителя заданий", BATCH_JOB, ok=202,
       body=multipart(("file", "centre", "pin"), centre=STR, pin=STR), errors=(403, 404, 409, 413, 415))
    op("GET", "/certificates/batches/{batch_id}", "Пакет выдачи: стадия и выданные свидетельства (запустившему, "
       "подписанту, аудитору)", extend("IssueBatch", stuck=BOOL, issued=arr(obj(
           id=INT, number=STR, blank=opt(STR), holder=STR))))
    op("GET", "/certificates/blanks", "Учёт бланков по центрам (кому учёт не открыт — 404)", items(obj(
        centre=STR, name=opt(STR), allocated=INT, used=INT, spoiled=INT, remaining=INT)), errors=(404,))
    op("GET", "/certificates/{cert_number}", "Свидетельство полностью (для тех, кто видит его документ)",
       ref("CertificateStaff"))
    op("POST", "/certificates/{cert_number}/revoke", "Аннулировать свидетельство (причина, номер и дата приказа)",
       ref("CertificatePublic"), body=json_body(("reason", "order_number", "order_date"), reason=STR,
                                                order_number=STR, order_date=DAY), errors=(403, 409))
    op("POST", "/certificates/{cert_number}/replace",
       "Выдать дубликат взамен (new_name — новое ФИО при смене фамилии, имени или отчества)",
       obj(old=STR, new=STR, document=INT, holder=STR), ok=201,
       body=json_body(("pin", "reason"), pin=STR, reason=STR, new_name=STR), errors=(403, 409, 422, 429))
    op("POST", "/certificates/batches/prepared", "Подготовить пакет выдачи для подписанта (без PIN)",
       obj(batch=INT, stage=STR, total=INT), ok=201, body=multipart(("file", "centre"), centre=STR),
       errors=(403, 404, 409, 413, 415, 422))
    op("GET", "/certificates/batches/prepared", "Подготовленные пакеты, ждущие подписи", items(obj(
        batch=INT, centre_id=INT, file=STR, total=INT, created_at=STR, error=STR)))
    op("POST", "/certificates/batches/{batch_id}/issue", "Выдать подготовленный пакет (PIN подписанта): задание "
       "(202), как при выдаче по файлу", BATCH_JOB, ok=202, body=json_body(("pin",), pin=STR), errors=(403, 409))
    op("POST", "/certificates/blanks", "Выдать центру диапазон бланков (центр должен действовать в Регистре)",
       obj(centre=STR, series=STR, first=INT, last=INT), ok=201,
       body=json_body(("centre", "first", "last"), centre=STR, series=STR, first=INT, last=INT),
       errors=(403, 404, 409))

    section("Согласование")
    task = obj(id=INT, slot=STR, approver=STR, assignee=STR, deputy=BOOL, status=STR, decision=STR, comment=STR,
               due_at=opt(TS), decided_at=opt(TS), overdue=BOOL)
    route = obj(document_id=INT, state=STR, rounds=arr(obj(
        id=INT, round=INT, status=STR, initiator=STR, started_at=opt(TS), finished_at=opt(TS), version_id=opt(INT),
        sheet_document_id=opt(INT), stages=arr(obj(position=INT, title=STR, rule=STR, share={"type": "number"},
                                                   days=INT, status=STR, tasks=arr(task))))))
    stage = obj(("approvers",), approvers=arr(STR), title=STR, rule={"type": "string", "enum": ["all", "any", "share"]},
                share={"type": "number"}, days=INT, group_mode={"type": "string", "enum": ["any", "each"]})
    comment = obj(id=INT, parent_id=opt(INT), author_id=INT, body=opt(STR), hidden=BOOL, hidden_reason=opt(STR),
                  created_at=TS, edited=BOOL, mine=BOOL)
    op("GET", "/documents/{doc_id}/route", "Согласование документа: круги, этапы, задачи, решения", route)
    op("POST", "/documents/{doc_id}/route", "Запустить маршрут (без stages — маршрут типа документа)", route, ok=201,
       body=json_body(stages=arr(stage)), errors=(403, 409))
    op("POST", "/documents/{doc_id}/route/decisions", "Решение по своей задаче: approve, remarks, reject", route,
       ok=201, body=json_body(("decision",), decision={"type": "string", "enum": ["approve", "remarks", "reject"]},
                              comment=STR), errors=(403, 409))
    op("POST", "/documents/{doc_id}/route/recall", "Отозвать с согласования (инициатор)", route,
       body=json_body(comment=STR), errors=(403, 409))
    op("GET", "/tasks", "Мои задачи согласования", obj(total=INT, items=arr(obj(
        id=INT, document_id=INT, title=STR, reg_number=opt(STR), due_at=TS, overdue=BOOL, on_behalf=BOOL))))
    op("GET", "/control", "Контроль исполнения: открытые задачи (format=csv — выгрузка)", obj(total=INT, items=arr(obj(
        document_id=INT, reg_number=STR, title=STR, stage=STR, approver=STR, assignee=STR, due_at=TS, status=STR,
        overdue_days=INT, department=STR))), query={"overdue": STR, "format": STR})
    op("POST", "/deputies", "Назначить заместителя на период (себе; другому — с правом ManageUsers)",
       obj(id=INT, user=STR, deputy=STR, **{"from": DAY, "to": DAY}), ok=201,
       body=json_body(("deputy", "from", "to"), user=STR, deputy=STR, **{"from": DAY, "to": DAY}), errors=(403,))
    op("GET", "/notifications", "Мои уведомления", obj(unread=INT, items=arr(obj(
        id=INT, kind=STR, title=STR, document_id=opt(INT), created_at=TS, read=BOOL))), query={"unread": STR})
    op("POST", "/notifications/read", "Отметить прочитанными (все или ids)", obj(read=INT),
       body=json_body(ids=arr(INT)))
    op("GET", "/documents/{doc_id}/comments", "Обсуждение документа", obj(items=arr(comment)))
    op("POST", "/documents/{doc_id}/comments", "Сообщение в обсуждении (@логин — упоминание)", comment, ok=201,
       body=json_body(("body",), body=STR, parent_id=INT))
    return ops


def operations() -> list[Operation]:
    return _describe()


def _operation_json(o: Operation) -> dict:
    params: list[dict] = []
    for name in _path_names(o.path):
        params.append({"name": name, "in": "path", "required": True, "schema": PATH_PARAMS.get(name, STR)})
    for name, schema in o.query.items():
        params.append({"name": name, "in": "query", "required": False, "schema": schema})
    if o.if_match:
        params.append({"name": "If-Match", "in": "header", "required": False, "schema": STR,
                       "description": "ревизия документа из ETag (оптимистическая блокировка)"})
    out: dict[str, Any] = {"summary": o.summary, "operationId": f"{o.method}{o.path}", "parameters": params,
                           "responses": {}}
    if o.tag:
        out["tags"] = [o.tag]
    if o.body:
        out["requestBody"] = {"required": True, "content": o.body}
    if o.public:
        out["security"] = []
    if o.ok == 204:
        ok: dict[str, Any] = {"description": "Выполнено"}
    elif o.binary:
        ok = {"description": "Байты в их типе (Content-Type версии)",
              "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}}}
    else:
        ok = {"description": "OK", "content": {"application/json": {"schema": o.response or ANY_OBJ}}}
    out["responses"][str(o.ok)] = ok
    codes = set(o.errors)
    if not o.public:
        codes.add(401)
    if _path_names(o.path) or o.not_found or _names_an_id(o.body):
        codes.add(404)
    if o.body or o.query or o.if_match:
        codes.add(400)
    for code in sorted(codes):
        if code == 404 and o.not_found:
            out["responses"]["404"] = {"description": "Не найдено", "content": {"application/json": {
                "schema": {"anyOf": [o.not_found, ref("Error")]}}}}
        else:
            out["responses"][str(code)] = {"description": ERROR_TEXT.get(code, "Ошибка"), "content": {
                "application/json": {"schema": ref("Error")}}}
    return out


def _names_an_id(body: dict[str, Any] | None) -> bool:
    """A request body with an id field: the object it names may not exist (or not be visible): 404."""
    return any(prop is ID for content in (body or {}).values()
               for prop in content["schema"].get("properties", {}).values())


def _path_names(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{") and part.endswith("}")]


def openapi_document() -> dict:
    paths: dict[str, dict] = {}
    for o in operations():
        paths.setdefault(o.path, {})[o.method] = _operation_json(o)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Pechat API", "version": "1",
                 "description": "Архив документов с электронной подписью. Токен: POST /tokens с логином и паролем, "
                                "далее заголовок Authorization: Bearer <токен>. Ошибки: "
                                "{\"error\": {\"status\", \"message\", \"details\"}}. Идентификаторы — целые от 0 до "
                                "2^31−1; за пределами — 404 (в пути) или 400 (в теле)."},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": COMPONENTS,
        },
    }


@bp.get("/docs")
def api_docs() -> str:
    """The browsable description: the vendored Swagger UI over /api/v1/openapi.json (public, like the document)."""
    return render_template("api_docs.html")
