"""Registration numbers are unique per type across the whole archive (issue 15.2): 1,000 registrations across three
organisations, concurrently, give 1,000 distinct numbers, gapless in each series; an override without {org} still
cannot repeat a number. Runs on SQLite and, with DMS_TEST_DATABASE_URL, on PostgreSQL."""
from __future__ import annotations

import re
import threading
from collections import defaultdict
from datetime import date

from sqlalchemy import select

from dms.workflow import numbering
from dms.models import Document, Organisation
from dms.documents import folders
from dms.people import users
from dms.workflow import service as wf

TYPES = ("application", "other")  # registered with no PDF needed
CODES = ("ЦОК-77-001", "ЦОК-50-002", "ЭМЦ-77-001")


def _documents(rt, world, n: int) -> list[int]:  # noqa: ANN001
    world.user("clerk", "Clerk")
    world.folder("/Журнал")
    with rt.db.session() as s:
        orgs = []
        for code in CODES:
            org = Organisation(code=code, name=code, kind="assessment_centre")
            s.add(org)
            orgs.append(org)
        s.flush()
        clerk, folder = users.get_user(s, "clerk"), folders.resolve(s, "/Журнал")
        docs = [Document(doc_type=TYPES[i % 2], title=f"Документ {i}", folder_id=folder.id, state="draft",
                         organisation_id=orgs[i % 3].id, created_by_id=clerk.id, meta={})
                for i in range(n)]
        s.add_all(docs)
        s.flush()
        return [d.id for d in docs]


def _register_all(rt, ids: list[int], threads: int = 4) -> None:  # noqa: ANN001
    errors: list[BaseException] = []

    def work(part: list[int]) -> None:
        try:
            for doc_id in part:
                with rt.db.session() as s:
                    wf.execute(s, users.get_user(s, "clerk"), s.get(Document, doc_id), "register")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(ids[i::threads],)) for i in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(timeout=600)
    assert not errors, errors[:3]


def _numbers(rt, ids: list[int]) -> list[tuple[str, str, str]]:  # noqa: ANN001
    with rt.db.session() as s:
        return list(s.execute(select(Document.doc_type, Organisation.code, Document.reg_number)
                              .join(Organisation, Organisation.id == Document.organisation_id)
                              .where(Document.id.in_(ids))).all())


def test_a_thousand_registrations_across_three_organisations_give_distinct_gapless_numbers(rt, world):  # noqa: ANN001
    ids = _documents(rt, world, 1000)
    _register_all(rt, ids)
    rows = _numbers(rt, ids)
    assert len({number for _, _, number in rows}) == 1000
    series: dict[tuple[str, str], list[int]] = defaultdict(list)
    year = date.today().year
    for doc_type, code, number in rows:
        prefix = numbering.DEFAULT_PATTERNS[doc_type].split("{")[0]
        m = re.fullmatch(rf"{re.escape(prefix)}{re.escape(code)}-{year}-(\d{{4}})", number)
        assert m, number  # the organisation's code is in the number
        series[(doc_type, code)].append(int(m.group(1)))
    assert len(series) == 6
    for key, seqs in series.items():
        assert sorted(seqs) == list(range(1, len(seqs) + 1)), key  # gapless in each journal


def test_a_pattern_without_the_organisation_counts_once_across_the_archive(rt, world, monkeypatch):  # noqa: ANN001
    ids = _documents(rt, world, 30)
    _register_all(rt, ids[:12], threads=3)  # the default patterns: per organisation
    monkeypatch.setenv("DMS_NUMBER_PATTERNS", '{"application": "ЗВ-{year}-{seq:04}", "other": "Д-{year}-{seq:04}"}')
    _register_all(rt, ids[12:], threads=3)
    rows = _numbers(rt, ids)
    assert len({number for _, _, number in rows}) == 30
    year = date.today().year
    later = sorted(int(n.rsplit("-", 1)[1]) for t, _, n in rows if t == "application" and n.startswith(f"ЗВ-{year}-"))
    # one series for the type across the organisations, continuing after the highest per-organisation counter (2)
    assert later == list(range(3, 3 + len(later)))


def test_the_migration_leaves_existing_numbers_and_statuses_alone(tmp_path):  # noqa: ANN001
    """A database at 0009 with a number counter and a register history: after 0010 (and every later revision) the
    counter and the status are as they were (no number is rewritten) and past register steps count as in effect."""
    from alembic import command
    from sqlalchemy import create_engine, text

    from dms.migrate import alembic_config, upgrade
    engine = create_engine(f"sqlite:///{tmp_path / 'old.sqlite3'}")
    cfg = alembic_config(str(engine.url))
    with engine.connect() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "0009")
        connection.commit()
    with engine.begin() as c:
        c.execute(text("INSERT INTO organisations (id, code, name, short_name, kind, register_status, city, inn, "
                       "created_at, status_reason) VALUES (1, 'ЦОК-77-001', 'Центр', '', 'assessment_centre', "
                       "'included', '', '', '2025-01-01 00:00:00', '')"))
        c.execute(text("INSERT INTO register_events (organisation_id, transition, from_status, to_status, reason, ts) "
                       "VALUES (1, 'include', 'applied', 'included', '', '2025-02-01 00:00:00')"))
        c.execute(text("INSERT INTO number_counters (doc_type, organisation_key, year, last_value) "
                       "VALUES ('order', 1, 2026, 7)"))
    upgrade(engine)
    with engine.connect() as c:
        assert c.execute(text("SELECT register_status, pending_status, ogrn FROM organisations")).one() == \
            ("included", "", "")
        assert c.execute(text("SELECT effective_at IS NOT NULL FROM register_events")).scalar() == 1
        assert c.execute(text("SELECT last_value FROM number_counters")).scalar() == 7
    engine.dispose()
