"""The OpenAPI 3.1 description of /api/v1, built from a compact table of routes."""
from __future__ import annotations

from typing import Any

from ..doctypes import DOC_TYPES

ERR = {"$ref": "#/components/responses/Error"}


def _op(summary: str, *, body: dict | None = None, ok: str = "200", params: list[str] = (), query: list[str] = (),
        binary: bool = False, errors: tuple[int, ...] = (401, 404), headers_in: list[str] = ()) -> dict:
    op: dict[str, Any] = {"summary": summary, "parameters": [], "responses": {}}
    for p in params:
        op["parameters"].append({"name": p, "in": "path", "required": True, "schema": {"type": "integer"}})
    for q in query:
        op["parameters"].append({"name": q, "in": "query", "required": False, "schema": {"type": "string"}})
    for h in headers_in:
        op["parameters"].append({"name": h, "in": "header", "required": False, "schema": {"type": "string"},
                                 "description": "ревизия документа из ETag (оптимистическая блокировка)"})
    if body:
        op["requestBody"] = {"required": True, "content": body}
    content = ({"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}} if binary
               else {"application/json": {"schema": {"type": "object"}}})
    op["responses"][ok] = {"description": "OK", "content": content}
    for code in errors:
        op["responses"][str(code)] = ERR
    return op


JSON_OBJ = {"application/json": {"schema": {"type": "object"}}}
DOC_UPLOAD = {
    "multipart/form-data": {"schema": {"type": "object", "required": ["folder_id", "type", "title"], "properties": {
        "folder_id": {"type": "integer"}, "type": {"type": "string", "enum": list(DOC_TYPES)},
        "title": {"type": "string"}, "meta": {"type": "string", "description": "JSON-объект метаданных типа"},
        "comment": {"type": "string"}, "file": {"type": "string", "format": "binary"}}}},
    "application/json": {"schema": {"type": "object"}},
}
FILE_UPLOAD = {"multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
    "file": {"type": "string", "format": "binary"}, "comment": {"type": "string"}}}}}


def openapi_document() -> dict:
    paths = {
        "/tokens": {"post": {**_op("Получить токен по логину и паролю", ok="201", errors=(400, 401, 429),
                                   body={"application/json": {"schema": {"type": "object", "required": [
                                       "login", "password"], "properties": {"login": {"type": "string"},
                                                                            "password": {"type": "string"}}}}}),
                             "security": []}},
        "/folders": {"get": _op("Корневая папка и её содержимое", query=["limit", "offset", "type", "state"]),
                     "post": _op("Создать папку", ok="201", body=JSON_OBJ, errors=(400, 401, 403, 404, 409))},
        "/folders/{folder_id}": {"get": _op("Папка: подпапки и документы", params=["folder_id"],
                                            query=["limit", "offset", "type", "state"])},
        "/document-types": {"get": _op("Типы документов и поля их метаданных")},
        "/documents": {"post": _op("Создать документ (с файлом или без)", ok="201", body=DOC_UPLOAD,
                                   errors=(400, 401, 403, 404, 413, 415))},
        "/documents/{doc_id}": {
            "get": _op("Документ с версиями (ETag = ревизия)", params=["doc_id"]),
            "patch": _op("Изменить название и метаданные; folder_id — переместить в другую папку", params=["doc_id"], body=JSON_OBJ,
                         headers_in=["If-Match"], errors=(400, 401, 403, 404, 409, 412))},
        "/documents/{doc_id}/versions": {
            "get": _op("Версии документа", params=["doc_id"]),
            "post": _op("Загрузить новую версию", ok="201", params=["doc_id"], body=FILE_UPLOAD,
                        headers_in=["If-Match"], errors=(400, 401, 403, 404, 409, 412, 413, 415))},
        "/documents/{doc_id}/versions/{number}": {"get": _op("Сведения о версии", params=["doc_id", "number"])},
        "/documents/{doc_id}/versions/{number}/content": {
            "get": _op("Байты версии", params=["doc_id", "number"], binary=True, errors=(401, 403, 404))},
        "/documents/{doc_id}/signatures": {
            "get": _op("Подписи документа", params=["doc_id"]),
            "post": _op("Подписать текущую версию ({\"pin\", \"level\"?, \"comment\"?})", ok="201",
                        params=["doc_id"], body=JSON_OBJ, errors=(400, 401, 403, 404, 409, 415, 422, 503))},
        "/documents/{doc_id}/versions/{number}/validation": {
            "get": _op("Проверка подписей версии (отчёт и вывод по-русски)", params=["doc_id", "number"],
                       errors=(401, 403, 404))},
        "/verify/pdf": {"post": {**_op("Проверить подписи PDF, подписанного где угодно (без токена)",
                                       body=FILE_UPLOAD, errors=(400, 413, 415)), "security": []}},
        "/pki/credentials": {"get": _op("Мои сертификаты подписи", errors=(401,))},
        "/agreements": {
            "get": _op("Соглашения с держателями практик, доступные мне, со статусом словами"),
            "post": _op("Составить проект соглашения по шаблону ({\"holder_id\", \"subject\", \"term_from\", "
                        "\"term_to\", \"title\"?})", ok="201", body=JSON_OBJ, errors=(400, 401, 403))},
        "/agreements/{doc_id}": {"get": _op("Статус соглашения: подписано агентством, действует, срок истёк, "
                                            "прекращено — с причиной", params=["doc_id"])},
        "/agreements/{doc_id}/countersigned": {
            "post": _op("Принять экземпляр, подписанный второй стороной вне системы (проверяются обе подписи)",
                        ok="201", params=["doc_id"], body=FILE_UPLOAD, errors=(400, 401, 403, 404, 409, 413, 415))},
        "/agreements/{doc_id}/termination": {
            "post": _op("Прекратить соглашение ({\"reason\"} обязателен)", params=["doc_id"], body=JSON_OBJ,
                        errors=(400, 401, 403, 404, 409))},
        "/assessment-reports": {
            "get": _op("Отчёты по результатам оценки, доступные мне"),
            "post": _op("Подшить отчёт об оценке в папку оцениваемого (multipart: assessed, title, meta?, file)",
                        ok="201", body=FILE_UPLOAD, errors=(400, 401, 403, 413, 415))},
        "/assessment-reports/{doc_id}/feedback": {
            "post": _op("Обратная связь проведена ({\"date\", \"note\"}): отчёт передаётся оцениваемому",
                        params=["doc_id"], body=JSON_OBJ, errors=(400, 401, 403, 404, 409))},
        "/report-forms": {"get": _op("Формы отчётов: разделы, вопросы, варианты ответов, ограничения", errors=(401,))},
        "/reports": {"post": _op("Отчёт по форме: {\"form\", \"site\", \"period\", \"answers\", \"folder_id\"?} — "
                                 "черновик с PDF-версией", ok="201", body=JSON_OBJ, errors=(400, 401, 403, 404))},
        "/reports/{doc_id}": {
            "get": _op("Отчёт по форме с ответами", params=["doc_id"]),
            "put": _op("Заполнить форму заново (новая PDF-версия черновика)", params=["doc_id"], body=JSON_OBJ,
                       headers_in=["If-Match"], errors=(400, 401, 403, 404, 409))},
        "/reports/aggregate": {"get": _op("Сводка по площадкам: отчёты по состояниям и площадкам, ответы по вопросам, "
                                          "рекомендации (только видимые отчёты)",
                                          query=["form", "period", "site", "scope"], errors=(400, 401))},
        "/register": {
            "get": _op("Регистр организаций (фильтры kind, status; сортировка sort, dir=desc)",
                       query=["kind", "status", "sort", "dir"], errors=(400, 401)),
            "post": _op("Заявление о включении в Регистр ({\"kind\", \"name\", \"inn\", \"city\", "
                        "\"short_name\"?, \"code\"?, \"reason\"?})", ok="201", body=JSON_OBJ,
                        errors=(400, 401, 403, 409))},
        "/register/{org_id}": {"get": _op("Организация Регистра: состояние, история с документами, доступные шаги",
                                          params=["org_id"])},
        "/register/{org_id}/transitions/{name}": {
            "post": {**_op("Шаг Регистра (include, start_audit, finish_audit, exclude, reapply; {\"reason\"})",
                           ok="201", params=["org_id"], body=JSON_OBJ, errors=(400, 401, 403, 404, 409)),
                     "parameters": [{"name": "org_id", "in": "path", "required": True, "schema": {"type": "integer"}},
                                    {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}]}},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Pechat API", "version": "1",
                 "description": "Архив документов с электронной подписью. Ошибки: "
                                "{\"error\": {\"status\", \"message\", \"details\"}}."},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "responses": {"Error": {"description": "Ошибка", "content": {"application/json": {"schema": {
                "type": "object", "properties": {"error": {"type": "object", "properties": {
                    "status": {"type": "integer"}, "message": {"type": "string"},
                    "details": {"type": "object"}}}}}}}}},
        },
    }
