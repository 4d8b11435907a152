"""Approval routes: start, decide, recall; deadlines, deputies and the control report.

Every function works in the caller's transaction (one unit of work): it loads, checks the permission, changes,
records the audit event and the notifications; e-mails go out after commit (`notify.send_pending`). The workflow
steps the route drives (`start_approval`, `approval_complete`, `approval_rejected`, `recall_approval`) are taken only
here (their `service` in dms.workflow.rules), so no plain transition can skip the approvers.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dms.errors import N_, Conflict, Invalid, NotFound
from dms.models import Document, Group, GroupMember, User, Version
from dms.security import Forbidden, P, has_permission
from dms.audit import service as audit
from dms.workflow import service as wf_svc
from dms.approvals import calendar, notify
from dms.approvals.models import ApprovalRoute, ApprovalStage, ApprovalTask, Deputy
from dms.approvals.rules import DEFAULT_ROUTES, Decision, Kind, Rule, RouteRule, StageRule
from dms.workflow.hooks import effect


def now() -> datetime:
    """The one clock of this package (tests move it with time-machine)."""
    return datetime.now(UTC)


def aware(value: datetime) -> datetime:
    """SQLite gives back naive datetimes: they were written in UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@dataclass
class PlannedStage:
    """A stage as it will start: its rule and the approvers resolved to slots ("user:ID" or "group:NAME")."""
    title: str
    rule: Rule = Rule.ALL
    share: float = 1.0
    days: int = 2
    group_mode: str = "any"
    approvers: list[str] = field(default_factory=list)  # logins and "group:NAME"


def route_rule(doc: Document) -> RouteRule:
    rule = DEFAULT_ROUTES.get(doc.doc_type)
    if rule is None:
        raise Invalid("для документов этого типа нет маршрута согласования")
    return rule


def default_plan(doc: Document) -> list[PlannedStage]:
    return [_plan(s) for s in route_rule(doc).stages]


def _plan(stage: StageRule) -> PlannedStage:
    return PlannedStage(stage.title, stage.rule, stage.share, stage.days, stage.group_mode, list(stage.approvers))


def plan_from_logins(stages: list[list[str]], days: int = 2) -> list[PlannedStage]:
    """`dms route start --stage a,b --stage c`: each stage its approvers in parallel, all must approve."""
    return [PlannedStage(f"Этап {i}", Rule.ALL, 1.0, days, "any", [x.strip() for x in s if x.strip()])
            for i, s in enumerate(stages, 1)]


# --- reading -------------------------------------------------------------------------------------------------------

def active_route(session: Session, doc: Document) -> ApprovalRoute | None:
    return session.scalars(select(ApprovalRoute).where(ApprovalRoute.document_id == doc.id,
                                                       ApprovalRoute.status == "active")).first()


def routes_of(session: Session, doc: Document) -> list[ApprovalRoute]:
    return list(session.scalars(select(ApprovalRoute).where(ApprovalRoute.document_id == doc.id)
                                .order_by(ApprovalRoute.round)))


def stages_of(session: Session, route: ApprovalRoute) -> list[ApprovalStage]:
    return list(session.scalars(select(ApprovalStage).where(ApprovalStage.route_id == route.id)
                                .order_by(ApprovalStage.position)))


def tasks_of(session: Session, route: ApprovalRoute) -> list[ApprovalTask]:
    return list(session.scalars(select(ApprovalTask).where(ApprovalTask.route_id == route.id)
                                .order_by(ApprovalTask.stage_id, ApprovalTask.id)))


def open_tasks(session: Session, actor: User) -> list[tuple[ApprovalTask, Document]]:
    """The approval tasks waiting for `actor` (their own and those they took as a deputy), oldest due first."""
    rows = session.execute(select(ApprovalTask, Document).join(Document, Document.id == ApprovalTask.document_id)
                           .where(ApprovalTask.assignee_id == actor.id, ApprovalTask.status == "open")
                           .order_by(ApprovalTask.due_at))
    return [(t, d) for t, d in rows if has_permission(session, actor, P.VIEW, d)]


def is_overdue(task: ApprovalTask, at: datetime | None = None) -> bool:
    return task.status == "open" and aware(task.due_at) < (at or now())


def describe(session: Session, doc: Document) -> dict[str, Any]:
    """Every round of the document's approval with its stages and tasks (the page, the API and the sheet)."""
    users = _names(session, doc)
    rounds = []
    for route in routes_of(session, doc):
        stages = []
        tasks = tasks_of(session, route)
        for stage in stages_of(session, route):
            stages.append({
                "position": stage.position, "title": stage.title, "rule": stage.rule, "share": stage.share,
                "days": stage.days, "status": stage.status,
                "tasks": [_task_json(t, users) for t in tasks if t.stage_id == stage.id],
            })
        rounds.append({"id": route.id, "round": route.round, "status": route.status,
                       "initiator": users.get(route.initiator_id or 0, ""), "started_at": _iso(route.started_at),
                       "finished_at": _iso(route.finished_at), "version_id": route.version_id,
                       "sheet_document_id": route.sheet_document_id, "stages": stages})
    return {"document_id": doc.id, "state": doc.state, "rounds": rounds}


def _iso(value: datetime | None) -> str | None:
    return aware(value).isoformat() if value else None


def _names(session: Session, doc: Document) -> dict[int, str]:
    ids = set(session.scalars(select(ApprovalTask.assignee_id).where(ApprovalTask.document_id == doc.id)))
    ids |= set(session.scalars(select(ApprovalTask.principal_id).where(ApprovalTask.document_id == doc.id)))
    ids |= {i for i in session.scalars(select(ApprovalRoute.initiator_id).where(ApprovalRoute.document_id == doc.id))
            if i is not None}
    return {u.id: (u.full_name or u.login) for u in session.scalars(select(User).where(User.id.in_(ids)))}


def _task_json(t: ApprovalTask, users: dict[int, str]) -> dict[str, Any]:
    return {"id": t.id, "slot": t.slot, "approver": users.get(t.principal_id, ""),
            "assignee": users.get(t.assignee_id, ""), "deputy": t.assignee_id != t.principal_id,
            "status": t.status, "decision": t.decision, "comment": t.comment, "due_at": _iso(t.due_at),
            "decided_at": _iso(t.decided_at), "overdue": is_overdue(t)}


# --- starting ------------------------------------------------------------------------------------------------------

def _user(session: Session, login: str) -> User:
    user = session.scalars(select(User).where(User.login == login)).first()
    if user is None or not user.is_active:
        raise Invalid("нет активного пользователя «%(login)s»", login=login)
    return user


def _slots(session: Session, doc: Document, stage: PlannedStage) -> list[tuple[str, list[User]]]:
    """The stage's approvers as slots: a user is one slot; a group is one slot of all its members ("any") or one
    slot per member ("each"). Everyone must be able to view the document."""
    slots: list[tuple[str, list[User]]] = []
    for name in stage.approvers:
        if name.startswith("group:"):
            group = session.scalars(select(Group).where(Group.name == name[6:])).first()
            members = [] if group is None else list(session.scalars(
                select(User).join(GroupMember, GroupMember.user_id == User.id)
                .where(GroupMember.group_id == group.id, User.is_active.is_(True)).order_by(User.login)))
            if not members:  # a group the agency has not filled yet: the initiator's own approvers stand
                continue
            if stage.group_mode == "each":
                slots += [(f"user:{m.id}", [m]) for m in members]
            else:
                slots.append((name, members))
        else:
            user = _user(session, name)
            slots.append((f"user:{user.id}", [user]))
    seen: set[str] = set()
    unique = [(k, m) for k, m in slots if not (k in seen or seen.add(k))]  # type: ignore[func-returns-value]
    for _key, members in unique:
        for m in members:
            if not has_permission(session, m, P.VIEW, doc):
                raise Invalid("согласующий «%(login)s» не может открыть документ: дайте ему доступ к папке",
                              login=m.login)
    if not unique:
        raise Invalid("на этапе «%(stage)s» нет согласующих: группа пуста — назовите согласующих",
                      stage=stage.title)
    return unique


def start(session: Session, actor: User, doc: Document, plan: list[PlannedStage] | None = None,
          add: dict[int, list[str]] | None = None, expected_revision: int | None = None) -> ApprovalRoute:
    """Start a round: `plan` (default: the type's route), with `add` (stage position → more approvers: the
    initiator may add, never remove, the approvers the table requires)."""
    rule = route_rule(doc)
    if expected_revision is not None and expected_revision != doc.revision:
        raise Conflict("документ изменён другим пользователем; обновите страницу и повторите")
    if not has_permission(session, actor, P.TRANSITION, doc):
        raise Forbidden(P.TRANSITION, N_("для запуска согласования"))
    if active_route(session, doc) is not None:
        raise Conflict("согласование документа уже идёт")
    if doc.state not in rule.start_from:
        raise Conflict("согласование запускается из состояния «%(states)s»",
                       states=", ".join(wf_svc.workflow_for(doc.doc_type).states[s].title for s in rule.start_from))
    stages = plan if plan is not None else default_plan(doc)
    for position, extra in (add or {}).items():
        if not 1 <= position <= len(stages):
            raise Invalid("нет этапа %(n)s", n=position)
        stages[position - 1].approvers += [x for x in extra if x not in stages[position - 1].approvers]
    if not stages:
        raise Invalid("в маршруте нет этапов")
    resolved = [_slots(session, doc, s) for s in stages]  # refuse before anything is written
    last_round = session.scalar(select(func.max(ApprovalRoute.round)).where(ApprovalRoute.document_id == doc.id))
    route = ApprovalRoute(document_id=doc.id, round=(last_round or 0) + 1, status="active", initiator_id=actor.id,
                          version_id=doc.current_version_id, started_at=now())
    session.add(route)
    session.flush()
    for i, s in enumerate(stages, 1):
        session.add(ApprovalStage(route_id=route.id, position=i, title=s.title[:300], rule=str(s.rule),
                                  share=s.share, days=s.days, status="waiting", approvers=list(s.approvers),
                                  group_mode=s.group_mode))
    session.flush()
    wf_svc.execute(session, actor, doc, "start_approval", f"согласование, круг {route.round}", service=True)
    audit.record(session, actor, "approval.start", "document", doc.id, route=route.id, round=route.round,
                 stages=[{"title": s.title, "approvers": s.approvers, "rule": str(s.rule)} for s in stages])
    _activate(session, route, stages_of(session, route)[0], resolved[0])
    return route


def _plan_of(route_stage: ApprovalStage) -> PlannedStage:
    """A stored stage as a plan: its approvers are resolved when it starts (today's members of a group decide)."""
    return PlannedStage(route_stage.title, Rule(route_stage.rule), route_stage.share, route_stage.days,
                        route_stage.group_mode, list(route_stage.approvers or []))


def deputy_for(session: Session, user: User, day: date) -> User | None:
    row = session.scalars(select(Deputy).where(Deputy.user_id == user.id, Deputy.date_from <= day,
                                               Deputy.date_to >= day).order_by(Deputy.id.desc())).first()
    if row is None:
        return None
    deputy = session.get(User, row.deputy_id)
    return deputy if deputy is not None and deputy.is_active else None


def _activate(session: Session, route: ApprovalRoute, stage: ApprovalStage,
              slots: list[tuple[str, list[User]]]) -> None:
    started = now()
    stage.status, stage.started_at = "active", started
    due = calendar.due_at(started, stage.days)
    doc = session.get_one(Document, route.document_id)
    for slot, members in slots:
        for principal in members:
            assignee = deputy_for(session, principal, started.astimezone(calendar.MOSCOW).date()) or principal
            if assignee.id != principal.id and not has_permission(session, assignee, P.VIEW, doc):
                assignee = principal  # a deputy who cannot open the document cannot stand in
            task = ApprovalTask(route_id=route.id, stage_id=stage.id, document_id=doc.id, principal_id=principal.id,
                                assignee_id=assignee.id, slot=slot, status="open", due_at=due, created_at=started)
            session.add(task)
            session.flush()
            notify.notify(session, assignee, Kind.TASK_ASSIGNED, doc, f"task:{task.id}",
                          stage=stage.title, due=due.isoformat(),
                          on_behalf=(principal.full_name or principal.login) if assignee.id != principal.id else "")
    session.flush()


# --- deciding ------------------------------------------------------------------------------------------------------

def _stage_done(stage: ApprovalStage, tasks: list[ApprovalTask]) -> bool:
    slots = {t.slot for t in tasks}
    approved = {t.slot for t in tasks if t.status == "done" and t.decision in (Decision.APPROVE, Decision.REMARKS)}
    if stage.rule == Rule.ANY:
        return bool(approved)
    if stage.rule == Rule.SHARE:
        return len(approved) >= stage.share * len(slots) - 1e-9
    return approved == slots


def decide(rt: Any, session: Session, actor: User, doc: Document, decision: str, comment: str = "") -> ApprovalTask:
    """The actor's decision on their open task of the document's active round."""
    try:
        choice = Decision(decision)
    except ValueError:
        raise Invalid("решение: approve, remarks или reject") from None
    route = active_route(session, doc)
    if route is None:
        raise Conflict("документ не на согласовании")
    task = session.scalars(select(ApprovalTask).where(ApprovalTask.route_id == route.id,
                                                      ApprovalTask.assignee_id == actor.id,
                                                      ApprovalTask.status == "open")
                           .order_by(ApprovalTask.id)).first()
    if task is None:
        raise Forbidden(P.VIEW, N_("— у вас нет задачи согласования этого документа"))
    comment = comment.strip()[:4000]
    if choice in (Decision.REJECT, Decision.REMARKS) and not comment:
        raise Invalid("укажите %(what)s", {"comment": N_("обязательное поле")},
                      what=N_("причину отказа") if choice is Decision.REJECT else N_("замечания"))
    at = now()
    task.status, task.decision, task.comment, task.decided_at, task.decided_by_id = "done", str(choice), comment, \
        at, actor.id
    stage = session.get_one(ApprovalStage, task.stage_id)
    siblings = list(session.scalars(select(ApprovalTask).where(ApprovalTask.stage_id == stage.id)))
    if task.slot.startswith("group:"):  # one member of the group decided for it
        for other in siblings:
            if other.slot == task.slot and other.status == "open":
                other.status = "cancelled"
    principal = session.get_one(User, task.principal_id)
    audit.record(session, actor, "approval.decide", "document", doc.id, route=route.id, round=route.round,
                 stage=stage.title, decision=str(choice), comment=comment,
                 on_behalf=principal.login if principal.id != actor.id else "")
    initiator = session.get(User, route.initiator_id) if route.initiator_id else None
    if choice is Decision.REJECT:
        _finish(session, route, "rejected", at)
        stage.status, stage.finished_at = "rejected", at
        wf_svc.execute(session, actor, doc, "approval_rejected", comment, service=True)
        for person in _author_and_initiator(session, doc, initiator):
            notify.notify(session, person, Kind.REJECTED, doc, f"route:{route.id}:rejected:{person.id}",
                          by=actor.full_name or actor.login, reason=comment)
        return task
    if _stage_done(stage, siblings):
        stage.status, stage.finished_at = "done", at
        for other in siblings:
            if other.status == "open":
                other.status = "cancelled"
        later = [s for s in stages_of(session, route) if s.position > stage.position]
        if later:
            _activate(session, route, later[0], _slots(session, doc, _plan_of(later[0])))
        else:
            _finish(session, route, "approved", at)
            wf_svc.execute(session, actor, doc, "approval_complete", f"согласовано, круг {route.round}",
                           service=True)
            _file_sheet(rt, session, doc, route, initiator)
            for person in _author_and_initiator(session, doc, initiator):
                notify.notify(session, person, Kind.APPROVED, doc, f"route:{route.id}:approved:{person.id}")
    session.flush()
    return task


def _author_and_initiator(session: Session, doc: Document, initiator: User | None) -> list[User]:
    people = [initiator] if initiator is not None else []
    author = session.get(User, doc.created_by_id) if getattr(doc, "created_by_id", None) else None
    if author is not None and all(author.id != p.id for p in people):
        people.append(author)
    return people


def _finish(session: Session, route: ApprovalRoute, status: str, at: datetime) -> None:
    route.status, route.finished_at = status, at
    for t in tasks_of(session, route):
        if t.status == "open":
            t.status = "cancelled"
    for s in stages_of(session, route):
        if s.status in ("waiting", "active") and status != "approved":
            s.status = "cancelled"


def recall(session: Session, actor: User, doc: Document, comment: str = "") -> ApprovalRoute:
    """The initiator (or whoever may take steps on the document) calls the route back; the document returns."""
    route = active_route(session, doc)
    if route is None:
        raise Conflict("документ не на согласовании")
    if route.initiator_id != actor.id and not has_permission(session, actor, P.TRANSITION, doc):
        raise Forbidden(P.TRANSITION, N_("для отзыва с согласования"))
    _finish(session, route, "recalled", now())
    wf_svc.execute(session, actor, doc, "recall_approval", comment or "отозван с согласования", service=True)
    audit.record(session, actor, "approval.recall", "document", doc.id, route=route.id, round=route.round,
                 comment=comment[:2000])
    return route


# --- the approval sheet ----------------------------------------------------------------------------------------------

def _file_sheet(rt: Any, session: Session, doc: Document, route: ApprovalRoute, initiator: User | None) -> None:
    """The approval sheet becomes a document beside the approved one (sealed with a document time-stamp of our
    TSA when the PKI is set up), linked from the route. Bytes are stored before the transaction commits."""
    from dms.documents import service as docs
    from dms.documents import folders
    from dms.approvals.sheet import render_sheet, seal
    if rt is None or initiator is None:
        return
    pdf = seal(rt, render_sheet(doc, describe(session, doc)))
    folder = folders.get(session, doc.folder_id)
    stored = docs.store_upload(rt.store, io.BytesIO(pdf), f"approval-sheet-{doc.id}-{route.round}.pdf",
                               rt.settings.max_upload_bytes)
    try:
        sheet = docs.create(session, initiator, folder, "other",
                            f"Лист согласования: {doc.title}"[:1000], {}, doc.organisation)
    except Forbidden:
        return  # the initiator cannot add here: the sheet is still rendered on the document page on demand
    docs.add_version(session, initiator, sheet, stored, "лист согласования")
    route.sheet_document_id = sheet.id


def sheet_document(session: Session, doc: Document) -> Document | None:
    route = session.scalars(select(ApprovalRoute).where(ApprovalRoute.document_id == doc.id,
                                                        ApprovalRoute.sheet_document_id.is_not(None))
                            .order_by(ApprovalRoute.round.desc())).first()
    return session.get(Document, route.sheet_document_id) if route and route.sheet_document_id else None


# --- deputies --------------------------------------------------------------------------------------------------------

def set_deputy(session: Session, actor: User, user: User, deputy: User, date_from: date, date_to: date) -> Deputy:
    """A user names their deputy for a period; an administrator (ManageUsers) may do it for anyone."""
    from dms.security import holds_globally
    if actor.id != user.id and not holds_globally(actor, P.MANAGE_USERS):
        raise Forbidden(P.MANAGE_USERS, N_("для назначения заместителя другому пользователю"))
    if deputy.id == user.id:
        raise Invalid("заместитель — другой пользователь")
    if date_to < date_from:
        raise Invalid("период: дата окончания раньше начала")
    row = Deputy(user_id=user.id, deputy_id=deputy.id, date_from=date_from, date_to=date_to, created_by_id=actor.id)
    session.add(row)
    session.flush()
    audit.record(session, actor, "approval.deputy", "user", user.id, deputy=deputy.login,
                 date_from=date_from.isoformat(), date_to=date_to.isoformat())
    return row


def deputies_of(session: Session, user: User) -> list[Deputy]:
    return list(session.scalars(select(Deputy).where(Deputy.user_id == user.id).order_by(Deputy.date_from)))


# --- control ---------------------------------------------------------------------------------------------------------

@dataclass
class ControlRow:
    document_id: int
    reg_number: str
    title: str
    stage: str
    approver: str
    assignee: str
    due_at: datetime
    status: str
    overdue_days: int
    department: str


def control_report(session: Session, actor: User, only_overdue: bool = False,
                   at: datetime | None = None) -> list[ControlRow]:
    """Контроль исполнения: every open approval task on documents the actor may view."""
    moment = at or now()
    rows = list(session.execute(select(ApprovalTask, Document, ApprovalStage)
                           .join(Document, Document.id == ApprovalTask.document_id)
                           .join(ApprovalStage, ApprovalStage.id == ApprovalTask.stage_id)
                           .where(ApprovalTask.status == "open").order_by(ApprovalTask.due_at)))
    ids = {t.principal_id for t, _d, _s in rows} | {t.assignee_id for t, _d, _s in rows}
    users = {u.id: u for u in session.scalars(select(User).where(User.id.in_(ids)))} if ids else {}
    departments = _departments(session, users)
    out = []
    for task, doc, stage in rows:
        if not has_permission(session, actor, P.VIEW, doc):
            continue
        late = aware(task.due_at) < moment
        if only_overdue and not late:
            continue
        days = calendar.working_days_between(aware(task.due_at).astimezone(calendar.MOSCOW).date(),
                                             moment.astimezone(calendar.MOSCOW).date()) if late else 0
        principal, assignee = users.get(task.principal_id), users.get(task.assignee_id)
        org = departments.get(task.principal_id, "")
        out.append(ControlRow(doc.id, doc.reg_number or "", doc.title, stage.title,
                              (principal.full_name or principal.login) if principal else "",
                              (assignee.full_name or assignee.login) if assignee else "",
                              aware(task.due_at), "overdue" if late else "open", days, org or "—"))
    return out


def _departments(session: Session, users: dict[int, User]) -> dict[int, str]:
    """A person's department: the first of their groups by name (the agency keeps departments as groups), else
    their organisation."""
    out: dict[int, str] = {}
    for user_id, title, name in session.execute(select(GroupMember.user_id, Group.title, Group.name)
                                                .join(Group, Group.id == GroupMember.group_id)
                                                .where(GroupMember.user_id.in_(users)).order_by(Group.name)):
        out.setdefault(user_id, title or name)
    for user_id, user in users.items():
        if user_id not in out and user.organisation is not None:
            out[user_id] = getattr(user.organisation, "short_name", "") or user.organisation.name
    return out


def overdue_by_department(session: Session, actor: User, at: datetime | None = None) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in control_report(session, actor, only_overdue=True, at=at):
        counts[row.department] = counts.get(row.department, 0) + 1
    return counts


def remind(session: Session, at: datetime | None = None) -> dict[str, int]:
    """Daily: «срок завтра» to the assignee of each task due on the next working day, «просрочено» to the assignee
    and the initiator of each overdue task; each once (the task remembers, and notices are deduplicated)."""
    moment = at or now()
    today = moment.astimezone(calendar.MOSCOW).date()
    tomorrow = calendar.add_working_days(today, 1)
    counts = {"due_tomorrow": 0, "overdue": 0}
    for task in session.scalars(select(ApprovalTask).where(ApprovalTask.status == "open")):
        doc = session.get_one(Document, task.document_id)
        assignee = session.get_one(User, task.assignee_id)
        due_day = aware(task.due_at).astimezone(calendar.MOSCOW).date()
        if aware(task.due_at) < moment and not task.reminded_overdue:
            task.reminded_overdue = True
            counts["overdue"] += 1
            route = session.get_one(ApprovalRoute, task.route_id)
            initiator = session.get(User, route.initiator_id) if route.initiator_id else None
            for person in [assignee] + ([initiator] if initiator and initiator.id != assignee.id else []):
                notify.notify(session, person, Kind.TASK_OVERDUE, doc, f"task:{task.id}:overdue:{person.id}",
                              due=aware(task.due_at).isoformat())
        elif due_day == tomorrow and not task.reminded_due and aware(task.due_at) >= moment:
            task.reminded_due = True
            counts["due_tomorrow"] += 1
            notify.notify(session, assignee, Kind.DEADLINE_TOMORROW, doc, f"task:{task.id}:due",
                          due=aware(task.due_at).isoformat())
    session.flush()
    return counts


@effect("approvals_signed")
def notify_signed(session: Session, actor: User | None, doc: Document) -> None:
    """Effect of a signing step: the initiator of the document's last approved round and its author are told."""
    route = session.scalars(select(ApprovalRoute).where(ApprovalRoute.document_id == doc.id,
                                                        ApprovalRoute.status == "approved")
                            .order_by(ApprovalRoute.round.desc())).first()
    initiator = session.get(User, route.initiator_id) if route and route.initiator_id else None
    version = session.get(Version, doc.current_version_id) if doc.current_version_id else None
    for person in _author_and_initiator(session, doc, initiator):
        if actor is None or person.id != actor.id:
            notify.notify(session, person, Kind.SIGNED, doc,
                          f"signed:{doc.id}:{version.id if version else 0}:{person.id}",
                          by=(actor.full_name or actor.login) if actor else "")


def get_document(session: Session, actor: User, document_id: int) -> Document:
    from dms.documents import service as docs
    try:
        return docs.get(session, actor, document_id)
    except Forbidden:
        raise NotFound("документ не найден") from None


def control_csv(rows: list[ControlRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    writer.writerow(["Документ", "Номер", "Название", "Этап", "Согласующий", "Исполнитель", "Срок", "Состояние",
                     "Просрочено, раб. дней", "Подразделение"])
    for r in rows:
        writer.writerow([r.document_id, r.reg_number, r.title, r.stage, r.approver, r.assignee,
                         r.due_at.astimezone(calendar.MOSCOW).strftime("%d.%m.%Y %H:%M"),
                         "просрочено" if r.status == "overdue" else "в работе", r.overdue_days, r.department])
    return "\ufeff" + out.getvalue()  # a BOM, so that spreadsheet programs read the Cyrillic as UTF-8
