"""`dms init`: schema by migrations, the root folder, the object store, the index dir. Idempotent."""
from __future__ import annotations

from storage import StorageError

from dms.errors import DmsError
from dms.migrate import current, upgrade
from dms.runtime import Runtime
from dms.documents import folders


def initialise(rt: Runtime) -> dict:
    from dms.operations import filemodes
    filemodes.restrict_umask()
    rt.settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    upgrade(rt.db.engine)
    with rt.db.session() as s:
        folders.root(s)
    _ = rt.store  # opening the store creates its directory or bucket
    check_store(rt)
    from dms.fulltext.indexing import open_index
    open_index(rt)  # creates an empty index the first time
    filemodes.fix(rt.settings.data_dir, [rt.settings.index_dir])  # what an older version left open (issue 16)
    return {"database": rt.db.engine.url.render_as_string(hide_password=True), "schema": current(rt.db.engine),
            "storage": rt.store.describe(), "index": str(rt.settings.index_dir)}


class StoreNotReady(DmsError):
    status = 503


def check_store(rt: Runtime) -> None:
    """The store answers a read (issue 17: an S3 URL whose bucket does not exist failed only later, in dms demo,
    with a traceback)."""
    try:
        rt.store.check()
    except StorageError as exc:
        raise StoreNotReady("хранилище объектов недоступно: %(error)s (для S3: есть ли корзина? "
                            "create_bucket=true в DMS_STORAGE_URL создаёт её)", error=str(exc)) from None
