"""Does an answer say what the API document (/api/v1/openapi.json) says it says? Used by tests/app/test_openapi.py
and by the fuzz run's walk over the demo archive (`walk`), which reaches the real objects a random id rarely hits."""
from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

BASE = "urn:pechat-api"


def _rebase(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: (BASE + v if k == "$ref" and isinstance(v, str) and v.startswith("#") else _rebase(v))
                for k, v in node.items()}
    if isinstance(node, list):
        return [_rebase(v) for v in node]
    return node


def problems(spec: dict, method: str, path: str, status: int, body: Any) -> list[str]:
    """What is wrong with `body` as the `status` answer of `method path` (a path template of the document)."""
    op = spec["paths"].get(path, {}).get(method.lower())
    if op is None:
        return [f"{method} {path}: not in the document"]
    described = op["responses"].get(str(status))
    if described is None:
        return [f"{method} {path}: status {status} is not documented ({', '.join(op['responses'])})"]
    content = described.get("content", {})
    if "application/json" not in content:
        return []
    registry = Registry().with_resource(BASE, Resource.from_contents(spec, default_specification=DRAFT202012))
    validator = jsonschema.Draft202012Validator(_rebase(content["application/json"]["schema"]), registry=registry)
    return [f"{method} {path} {status}: at {list(e.absolute_path)}: {e.message[:300]}"
            for e in sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))[:5]]


@dataclass
class Walk:
    """GETs over the real objects the caller can list, each answer checked against the document."""
    base: str
    token: str | None
    spec: dict
    requests: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    found: list[str] = field(default_factory=list)

    def get(self, template: str, real: str | None = None, query: dict | None = None) -> Any:
        return self.send("GET", template, real, query)

    def send(self, method: str, template: str, real: str | None = None, query: dict | None = None,
             body: dict | None = None) -> Any:
        url = self.base + "/api/v1" + (real or template) + ("?" + urllib.parse.urlencode(query) if query else "")
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        data = None
        if body is not None:
            data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                status, raw, ctype = r.status, r.read(), r.headers.get("Content-Type", "")
        except urllib.error.HTTPError as e:
            status, raw, ctype = e.code, e.read(), e.headers.get("Content-Type", "")
        self.requests += 1
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if status >= 500:
            self.found.append(f"{method} {real or template}: {status}")
        if "application/json" not in ctype:
            if "/content" not in template:
                self.found.append(f"{method} {real or template}: {status} answered {ctype}, not JSON")
            return None
        answer = json.loads(raw)
        self.found += problems(self.spec, method, template, status, answer)
        return answer if 200 <= status < 300 else None


def writes(w: Walk, folder_id: int) -> None:
    """An administrator's ordinary writes on a new document in `folder_id`, each answer checked: a folder, a document
    (JSON, no file), its title, a workflow step, trash and restore, a legal hold placed and released, a record."""
    w.send("POST", "/folders", body={"name": "Проверка API", "parent_id": folder_id})
    doc = w.send("POST", "/documents", body={"folder_id": folder_id, "type": "other", "title": "Проверка API",
                                             "meta": {}})
    if not doc:
        return
    path = f"/documents/{doc['id']}"
    w.send("PATCH", "/documents/{doc_id}", path, body={"title": "Проверка API, изменено"})
    steps = w.get("/documents/{doc_id}/transitions", path + "/transitions") or {}
    allowed = [t["name"] for t in steps.get("items", []) if t["allowed"]]
    if allowed:
        w.send("POST", "/documents/{doc_id}/transitions/{name}", f"{path}/transitions/{allowed[0]}",
               body={"comment": "проверка"})
    w.send("POST", "/documents/{doc_id}/trash", path + "/trash", body={"reason": "проверка"})
    w.send("POST", "/documents/{doc_id}/restore", path + "/restore")
    hold = w.send("POST", "/records/holds", body={"document_id": doc["id"], "reason": "проверка"})
    if hold:
        w.send("POST", "/records/holds/{hold_id}/release", f"/records/holds/{hold['id']}/release",
               body={"reason": "проверка окончена"})
    w.send("POST", "/documents/{doc_id}/record", path + "/record", body={"reason": "проверка"})
    w.get("/documents/{doc_id}/history", path + "/history")


def walk(base: str, token: str | None, spec: dict, per_type: int = 8, write: bool = False) -> Walk:
    """Every list the caller may read, then the details of what they name (at most `per_type` documents of each
    type, twice as many reports: only some are filled-in forms); with `write`, the writes of `writes` too."""
    w = Walk(base, token, spec)
    if token is None:  # anonymous: the public certificate checks, and one protected list (401 as documented)
        w.get("/folders")
        w.get("/verify", query={"number": "ЦОК-0-0", "surname": "Иванов"})
        w.get("/verify/token/{token}", "/verify/token/" + "0" * 32)
        return w
    for path in ("/document-types", "/worklist", "/pki/credentials", "/agreements", "/assessment-reports",
                 "/report-forms", "/register", "/records/holds", "/records/trash", "/records/disposition",
                 "/certificates/blanks", "/tokens", "/audit"):
        w.get(path)
    w.get("/search", query={"q": "приказ"})
    docs: dict[int, str] = {}
    root = w.get("/folders")
    queue = [f["id"] for f in (root or {}).get("folders", [])]
    seen: set[int] = set()
    while queue and len(seen) < 60:
        fid = queue.pop(0)
        if fid in seen:
            continue
        seen.add(fid)
        listing = w.get("/folders/{folder_id}", f"/folders/{fid}", {"limit": 100})
        if listing:
            queue += [f["id"] for f in listing["folders"]]
            docs |= {d["id"]: d["type"] for d in listing["documents"]["items"]}
    types: dict[int, str] = {}
    numbers: list[str] = []  # a certificate's document carries its number as the registration number
    chosen: list[int] = []
    for kind in sorted(set(docs.values())):
        chosen += sorted(d for d, t in docs.items() if t == kind)[:per_type * (2 if kind == "report" else 1)]
    for doc_id in chosen:
        doc = w.get("/documents/{doc_id}", f"/documents/{doc_id}")
        if not doc:
            continue
        types[doc_id] = doc["type"]
        if doc["type"] == "certificate" and doc["reg_number"]:
            numbers.append(doc["reg_number"])
        for sub in ("versions", "transitions", "history", "signatures", "records"):
            w.get("/documents/{doc_id}/" + sub, f"/documents/{doc_id}/{sub}")
        if doc["current_version"]:
            n = doc["current_version"]
            w.get("/documents/{doc_id}/versions/{number}", f"/documents/{doc_id}/versions/{n}")
            w.get("/documents/{doc_id}/versions/{number}/content", f"/documents/{doc_id}/versions/{n}/content")
    for doc_id, kind in types.items():
        if kind == "agreement":
            w.get("/agreements/{doc_id}", f"/agreements/{doc_id}")
        if kind == "report":
            w.get("/reports/{doc_id}", f"/reports/{doc_id}")
    signed = [d for d in types if (w.get("/documents/{doc_id}/signatures", f"/documents/{d}/signatures") or {})
              .get("items")]
    for doc_id in signed[:3]:
        doc = w.get("/documents/{doc_id}", f"/documents/{doc_id}")
        if doc and doc["current_version"]:
            w.get("/documents/{doc_id}/versions/{number}/validation",
                  f"/documents/{doc_id}/versions/{doc['current_version']}/validation")
    if write and seen:
        writes(w, min(seen))
    for org in ((w.get("/register") or {}).get("items") or [])[:10]:
        w.get("/register/{org_id}", f"/register/{org['id']}")
    for lst in ((w.get("/records/disposition") or {}).get("lists") or [])[:5]:
        w.get("/records/disposition/{disposition_id}", f"/records/disposition/{lst['id']}")
    forms = (w.get("/report-forms") or {}).get("items") or []
    for form in forms:
        w.get("/reports/aggregate", query={"form": form["code"]})
    hits = (w.get("/search", query={"q": "свидетельство", "type": "certificate", "page_size": 100}) or {})
    numbers += [h["cert_number"] for h in hits.get("items", []) if h.get("cert_number")]
    for number in list(dict.fromkeys(numbers))[:10]:
        cert = w.get("/certificates/{cert_number}", "/certificates/" + urllib.parse.quote(number))
        if cert and cert.get("verification_path"):
            anonymous = Walk(base, None, spec)
            anonymous.get("/verify/token/{token}", "/verify/token/" + cert["verification_path"].rsplit("/", 1)[1])
            anonymous.get("/verify", query={"number": number, "surname": str(cert.get("holder", "")).split(" ")[0]})
            w.requests += anonymous.requests
            w.found += anonymous.found
    return w
