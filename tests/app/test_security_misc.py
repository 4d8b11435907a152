"""Issue 16, item 7: smaller points (folder names that read as what they are)."""
from __future__ import annotations

import pytest

from dms.errors import Invalid
from dms.services import folders


@pytest.mark.parametrize("name", ["Приказы\u202eфдп.exe", "a\u2066b", "x\u200fy", "zero\u200bwidth", "c1\x9b"])
def test_bidi_and_invisible_characters_are_refused_in_folder_names(rt, name):  # noqa: ANN001
    with rt.db.session() as s, pytest.raises(Invalid, match="невидимые"):
        folders.create(s, None, folders.root(s), name)


def test_an_ordinary_russian_folder_name_is_kept(rt):  # noqa: ANN001
    with rt.db.session() as s:
        assert folders.create(s, None, folders.root(s), "Приказы 2026 (№ 5)").name == "Приказы 2026 (№ 5)"
