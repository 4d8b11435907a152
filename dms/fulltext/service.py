"""Full-text search with the permission filter inside the query, built from the same rules as every check."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from search.errors import InvalidRequestError, QuerySyntaxError, StaleIndexError
from search.pg import PgSearchIndex
from search.index import SearchIndex
from search.query import STOP_WORDS_ONLY, SearchRequest, SearchResult, search as run_search, warm as warm_index

from dms.errors import N_, DmsError, Invalid
from dms.models import Document, User, VersionText
from dms.runtime import Runtime
from dms.security import P, access_filter
from dms.documents.listing import parse_day
from dms.fulltext.indexing import open_index
from dms.idrange import digits

FACETS = ("doc_type", "state", "org", "year")
# The current text of one document, for a hit's highlight (up to a page of them per search): built once, so each
# call is a cached statement with one parameter, not a query constructed again.
_CURRENT_TEXT = (select(VersionText.text).join(Document, Document.current_version_id == VersionText.version_id)
                 .where(Document.id == bindparam("doc_id")))
STALE_INDEX = N_("Поисковый индекс записан прежней версией программы (формат %(found)s, нужен %(expected)s) и "
                 "не используется, пока его не перестроят: администратору нужно выполнить «dms reindex».")
NOTICES = {STOP_WORDS_ONLY: N_("Запрос состоит только из служебных слов (предлогов, союзов, частиц), по ним не "
                               "ищут: добавьте к запросу значимое слово.")}


class SearchUnavailable(DmsError):
    """The index cannot answer until an administrator acts (it is of an older format)."""
    status = 503


def notice_text(result: SearchResult) -> str | None:
    """What to tell the user about a result that searched nothing (a msgid; None: nothing to say)."""
    return NOTICES.get(result.notice or "")


@dataclass
class Query:
    q: str = ""
    filters: dict[str, Any] = field(default_factory=dict)
    date_from: date | None = None
    date_to: date | None = None
    sort: str = "relevance"
    page: int = 1
    page_size: int = 20


def warm(rt: Runtime) -> str:
    """Before a server process takes requests (gunicorn's post_worker_init, dms.wsgi_server): the index opened, the
    dictionary loaded and, on Whoosh, the warming phrase searched (search.query.warm: side files, field lengths,
    the most frequent words' postings, the facets), so that no user's first search pays for them. Returns the
    phrase searched ("" when none)."""
    index = open_index(rt)
    return warm_index(index) if isinstance(index, SearchIndex) else ""


def search_documents(session: Session, rt: Runtime, actor: User, query: Query) -> SearchResult:
    allowed = access_filter(session, actor, P.VIEW).clauses
    request = SearchRequest(q=query.q, allowed=allowed, filters={k: v for k, v in query.filters.items() if v},
                            date_from=query.date_from, date_to=query.date_to, sort=query.sort, page=query.page,
                            page_size=query.page_size, facets=FACETS, highlight=True, suggest=True)

    def full_text(doc_id: str) -> str | None:
        return session.execute(_CURRENT_TEXT, {"doc_id": int(doc_id)}).scalar()

    try:
        index = open_index(rt)
        if isinstance(index, PgSearchIndex):  # DMS_SEARCH_BACKEND=postgres
            return index.search(request, text_loader=full_text)
        return run_search(index, request, text_loader=full_text)
    except QuerySyntaxError as exc:
        raise Invalid("ошибка в запросе: %(why)s", why=exc) from None
    except InvalidRequestError as exc:
        raise Invalid("некорректные параметры поиска: %(why)s", why=exc) from None
    except StaleIndexError as exc:
        raise SearchUnavailable(STALE_INDEX, found=exc.found, expected=exc.expected) from None


def search_apart(request_session: Session, rt: Runtime, actor: User, query: Query) -> SearchResult:
    """A search that holds no write lock while it runs: what the request wrote so far (a token's or a session's
    touch) is committed first, then the search reads in a read-only session (SQLite: a deferred transaction, so
    web workers search at once and a clerk's filing never waits behind a search; PostgreSQL: READ ONLY)."""
    actor.global_roles  # noqa: B018 -- loaded in the request's session, which the read below must not reopen
    request_session.commit()
    with rt.db.read_session() as session:
        return search_documents(session, rt, actor, query)


def parse_query(args) -> Query:  # noqa: ANN001
    """A Query from request parameters or CLI options: q, type, state, org, year, from, to, sort, page."""
    def day(name: str) -> date | None:
        return parse_day(args.get(name), name)

    def number(name: str, default: int, lo: int, hi: int) -> int:
        raw = str(args.get(name) or default)
        if not digits(raw):
            raise Invalid("%(field)s: ожидается число", field=name)
        return max(lo, min(hi, int(raw)))

    sort = args.get("sort") or "relevance"
    if sort not in ("relevance", "date"):
        raise Invalid("sort: relevance или date")
    year = (args.get("year") or "").strip()
    if year and not (digits(year) and len(year) <= 4):
        raise Invalid("year: ожидается год")
    return Query(q=(args.get("q") or "").strip()[:500],
                 filters={"doc_type": args.get("type") or None, "state": args.get("state") or None,
                          "org": args.get("org") or None, "year": int(year) if year else None},
                 date_from=day("from"), date_to=day("to"), sort=sort,
                 page=number("page", 1, 1, 10_000), page_size=number("page_size", 20, 1, 100))
