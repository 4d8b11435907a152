"""`dms init`: schema by migrations, the root folder, the object store, the index dir. Idempotent."""
from __future__ import annotations

from ..migrate import current, upgrade
from ..runtime import Runtime
from . import folders


def initialise(rt: Runtime) -> dict:
    rt.settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(rt.db.engine)
    with rt.db.session() as s:
        folders.root(s)
    _ = rt.store  # opening the store creates its directory or bucket
    from .indexing import open_index
    open_index(rt)  # creates an empty index the first time
    return {"database": rt.db.engine.url.render_as_string(hide_password=True), "schema": current(rt.db.engine),
            "storage": rt.store.describe(), "index": str(rt.settings.index_dir)}
