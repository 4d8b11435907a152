"""Figures for the dashboard. Every count goes through the same access filter as the folder lists and search,
so a user never sees a number made of documents they may not view."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta, UTC
from statistics import median

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dms.errors import localize
from dms.i18n import pick
from dms.models import Certificate, Document, LocalRole, Organisation, User, WorkflowHistory
from dms.security import P, access_filter, apply_filter_sql, principals, roles_with
from dms.workflow.rules import state_title
from dms.documents.listing import not_trashed

MONTHS = 12
TOP_CENTRES = 7  # the rest are drawn as one series
# Roles that see the charts, held globally or locally on any folder: those who run (a part of) the archive —
# who move documents through their workflow — and those who check it. A local Editor of a centre's folder sees
# the charts of what they may view; a Reader or Contributor does not.
CHART_ROLES = roles_with(P.TRANSITION) | roles_with(P.VIEW_AUDIT)
MONTH_NAMES_RU = ("янв", "фев", "мар", "апр", "май", "июн", "июл", "авг", "сен", "окт", "ноя", "дек")
MONTH_NAMES_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def sees_charts(session: Session, user: User) -> bool:
    if user.global_roles & CHART_ROLES:
        return True
    return session.scalar(select(LocalRole.id).where(LocalRole.principal.in_(principals(session, user)),
                                                     LocalRole.role.in_(CHART_ROLES)).limit(1)) is not None


def visible_ids(session: Session, user: User):  # noqa: ANN201
    """A subquery of the ids of the documents `user` may view."""
    return apply_filter_sql(select(Document.id).where(not_trashed()),
                            access_filter(session, user, P.VIEW)).scalar_subquery()


def last_months(today: date, count: int = MONTHS) -> list[tuple[int, int]]:
    """(year, month) of the `count` months ending with today's, oldest first."""
    index = today.year * 12 + today.month - 1
    return [divmod(i, 12) for i in range(index - count + 1, index + 1)]


def month_label(ym: tuple[int, int]) -> str:
    year, month0 = ym
    return f"{pick(MONTH_NAMES_RU[month0], MONTH_NAMES_EN[month0])} {year % 100:02d}"


@dataclass
class Series:
    name: str
    values: list[float]


@dataclass
class MonthlyChart:
    months: list[str]
    series: list[Series]

    @property
    def empty(self) -> bool:
        return not any(v for s in self.series for v in s.values)


def documents_by_state(session: Session, user: User) -> list[tuple[str, int]]:
    """Visible documents per state, states of different types with the same Russian title counted together."""
    stmt = apply_filter_sql(select(Document.doc_type, Document.state, func.count(Document.id)).where(not_trashed()),
                            access_filter(session, user, P.VIEW)).group_by(Document.doc_type, Document.state)
    counts: dict[str, int] = defaultdict(int)
    for doc_type, state, n in session.execute(stmt):
        counts[state_title(doc_type, state)] += n
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def certificates_per_centre(session: Session, user: User, today: date | None = None) -> MonthlyChart:
    """Certificates issued per centre per month over the last 12 months (by issue date)."""
    months = last_months(today or date.today())
    start = date(months[0][0], months[0][1] + 1, 1)
    year, month = func.extract("year", Certificate.issue_date), func.extract("month", Certificate.issue_date)
    stmt = (select(Organisation.short_name, Organisation.name, year, month, func.count(Certificate.id))
            .join(Organisation, Organisation.id == Certificate.centre_id)
            .where(Certificate.issue_date >= start, Certificate.document_id.in_(visible_ids(session, user)))
            .group_by(Organisation.short_name, Organisation.name, year, month))
    position = {ym: i for i, ym in enumerate(months)}
    by_centre: dict[str, list[float]] = {}
    for short, name, y, m, n in session.execute(stmt):
        ym = (int(y), int(m) - 1)
        if ym in position:
            by_centre.setdefault(short or name, [0.0] * len(months))[position[ym]] += n
    ranked = sorted(by_centre.items(), key=lambda kv: (-sum(kv[1]), kv[0]))
    series = [Series(name, values) for name, values in ranked[:TOP_CENTRES]]
    if len(ranked) > TOP_CENTRES:
        rest = [sum(col) for col in zip(*(v for _, v in ranked[TOP_CENTRES:]), strict=False)]
        series.append(Series(localize("прочие центры"), rest))
    return MonthlyChart([month_label(m) for m in months], series)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    rank = q * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _aware(ts: datetime) -> datetime:
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def signing_durations(session: Session, user: User, since: datetime) -> list[tuple[datetime, float]]:
    """(signed at, days since the last "send to signing" before it) for visible documents signed since `since`."""
    stmt = (select(WorkflowHistory.document_id, WorkflowHistory.transition, WorkflowHistory.ts)
            .where(WorkflowHistory.transition.in_(("send_to_signing", "sign")),
                   WorkflowHistory.ts >= since - timedelta(days=366),
                   WorkflowHistory.document_id.in_(visible_ids(session, user)))
            .order_by(WorkflowHistory.document_id, WorkflowHistory.ts, WorkflowHistory.id))
    result: list[tuple[datetime, float]] = []
    sent: dict[int, datetime] = {}
    for doc_id, transition, ts in session.execute(stmt):
        ts = _aware(ts)
        if transition == "send_to_signing":
            sent[doc_id] = ts
        elif doc_id in sent and ts >= since:
            result.append((ts, (ts - sent.pop(doc_id)).total_seconds() / 86400))
    return result


def signing_turnaround(session: Session, user: User, today: date | None = None) -> MonthlyChart:
    """Median and 90th percentile of days from sending to signing, per month of signing."""
    months = last_months(today or date.today())
    since = datetime(months[0][0], months[0][1] + 1, 1, tzinfo=UTC)
    per_month: dict[tuple[int, int], list[float]] = defaultdict(list)
    for ts, days in signing_durations(session, user, since):
        per_month[(ts.year, ts.month - 1)].append(days)
    medians = [round(median(per_month[m]), 1) if per_month[m] else 0.0 for m in months]
    p90 = [round(_percentile(per_month[m], 0.9), 1) if per_month[m] else 0.0 for m in months]
    return MonthlyChart([month_label(m) for m in months],
                        [Series(localize("медиана"), medians), Series(localize("90-й перцентиль"), p90)])


def recent_documents(session: Session, user: User, limit: int = 10) -> list[Document]:
    stmt = apply_filter_sql(select(Document).where(not_trashed()), access_filter(session, user, P.VIEW))
    return list(session.scalars(stmt.order_by(Document.updated_at.desc(), Document.id.desc()).limit(limit)))


def count_visible(session: Session, user: User, state: str | None = None) -> int:
    stmt = apply_filter_sql(select(func.count(Document.id)).where(not_trashed()), access_filter(session, user, P.VIEW))
    if state:
        stmt = stmt.where(Document.state == state)
    return session.scalar(stmt) or 0
