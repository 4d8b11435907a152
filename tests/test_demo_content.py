"""The demo data set: complete, consistent, fictional, deterministic, and every PDF renders."""

from __future__ import annotations

import io
import re
from collections import Counter
from datetime import date

import pypdf
import pytest

from dms.operations.demo_content import (
    DEMO_WATERMARK,
    DOCUMENT_TYPES,
    ORGANISATION_KINDS,
    SYNTHETIC_DOC_TYPES,
    DemoDocument,
    demo_documents,
    demo_folders,
    demo_organisations,
    demo_queries,
    render_demo_pdf,
    spec_text,
    synthetic_documents,
)
from dms.documents import doctypes
from dms.pdfrender import CertificateSpec, RenderSpec, render_document_pdf

REQUIRED_METADATA: dict[str, tuple[str, ...]] = {
    "certificate": ("holder", "qualification", "level", "centre", "issue_date", "valid_until", "number",
                    "blank_number"),
    "agreement": ("counterparty", "term_from", "term_to"),
    "report": ("period", "site", "kind"),
    "order": ("subject",),
    "application": ("applicant", "qualification"),
    "other": (),
}

# Metadata keys whose value is the code of an organisation.
ORGANISATION_REFERENCES = ("centre", "counterparty", "site", "applicant_org")

DOCUMENTS = demo_documents()


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def test_demo_holds_forty_to_sixty_documents_of_every_type() -> None:
    counts = Counter(d.doc_type for d in DOCUMENTS)
    assert 40 <= len(DOCUMENTS) <= 60
    assert set(counts) == set(DOCUMENT_TYPES)


def test_every_folder_referenced_exists_and_parents_come_first() -> None:
    folders = demo_folders()
    assert len(folders) == len(set(folders))
    for position, path in enumerate(folders):
        assert path.startswith("/") and not path.endswith("/")
        parent = path.rsplit("/", 1)[0]
        if parent:
            assert parent in folders[:position], f"{path} listed before its parent"
    for doc in DOCUMENTS:
        assert doc.folder in folders, doc.title


def test_every_organisation_referenced_exists() -> None:
    codes = {o["code"] for o in demo_organisations()}
    for doc in DOCUMENTS:
        assert doc.org_code in codes, doc.title
        for key in ORGANISATION_REFERENCES:
            if key in doc.metadata:
                assert doc.metadata[key] in codes, (doc.title, key)


def test_organisations_cover_the_kinds_and_have_unique_codes_and_valid_inns() -> None:
    organisations = demo_organisations()
    kinds = Counter(o["kind"] for o in organisations)
    assert set(kinds) == set(ORGANISATION_KINDS)
    assert kinds["assessment_centre"] == 3
    assert len({o["code"] for o in organisations}) == len(organisations)
    assert len({o["inn"] for o in organisations}) == len(organisations)
    weights = (2, 4, 10, 3, 5, 9, 4, 6, 8)
    for o in organisations:
        inn = o["inn"]
        assert re.fullmatch(r"0000\d{6}", inn), "fictional INNs live under the non-existent tax office 0000"
        assert int(inn[9]) == sum(int(d) * w for d, w in zip(inn, weights)) % 11 % 10
        assert len(o["ogrn"]) == 13 and int(o["ogrn"][12]) == int(o["ogrn"][:12]) % 11 % 10


@pytest.mark.parametrize("doc_type", DOCUMENT_TYPES)
def test_every_document_carries_the_metadata_of_its_type(doc_type: str) -> None:
    for doc in (d for d in DOCUMENTS if d.doc_type == doc_type):
        missing = [key for key in REQUIRED_METADATA[doc_type] if doc.metadata.get(key) in (None, "")]
        assert not missing, (doc.title, missing)


def test_demo_metadata_passes_the_document_type_schema() -> None:
    for doc in DOCUMENTS:
        known = {f.name for f in doctypes.get_type(doc.doc_type).fields}
        doctypes.validate_metadata(doc.doc_type, {k: v for k, v in doc.metadata.items() if k in known})


def test_certificate_metadata_matches_the_printed_certificate() -> None:
    certificates = [d for d in DOCUMENTS if d.doc_type == "certificate"]
    numbers = [d.metadata["number"] for d in certificates]
    assert len(numbers) == len(set(numbers))
    for doc in certificates:
        spec = doc.spec
        assert isinstance(spec, CertificateSpec)
        assert (spec.number, spec.holder_name, spec.qualification, spec.level, spec.centre_code) == (
            doc.metadata["number"], doc.metadata["holder"], doc.metadata["qualification"],
            doc.metadata["level"], doc.metadata["centre"])
        assert date.fromisoformat(doc.metadata["valid_until"]) > date.fromisoformat(doc.metadata["issue_date"])
        assert spec.verification_url.endswith(doc.metadata["verification_token"])
        assert doc.folder == f"/{spec.centre_code}/Свидетельства"


def test_agreement_terms_start_before_they_end() -> None:
    for doc in (d for d in DOCUMENTS if d.doc_type == "agreement"):
        assert date.fromisoformat(doc.metadata["term_from"]) < date.fromisoformat(doc.metadata["term_to"])


def test_registration_numbers_are_unique_per_type_and_organisation() -> None:
    keys = [(d.doc_type, d.org_code, d.reg_number) for d in DOCUMENTS]
    assert len(keys) == len(set(keys))
    assert len({d.filename for d in DOCUMENTS}) == len(DOCUMENTS)


def test_demo_documents_are_the_same_on_every_call() -> None:
    assert demo_documents() == DOCUMENTS
    assert render_demo_pdf(DOCUMENTS[0]) == render_demo_pdf(demo_documents()[0])


def test_verification_base_url_is_used_by_every_certificate() -> None:
    docs = demo_documents(verify_base_url="https://archive.example/v/")
    urls = [d.spec.verification_url for d in docs if isinstance(d.spec, CertificateSpec)]
    assert urls and all(u.startswith("https://archive.example/v/") for u in urls)


def test_every_demo_pdf_renders_and_its_words_are_extracted() -> None:
    page_counts = Counter()
    for doc in DOCUMENTS:
        reader = pypdf.PdfReader(io.BytesIO(render_demo_pdf(doc)))
        page_counts[len(reader.pages)] += 1
        text = normalise(" ".join(page.extract_text() for page in reader.pages))
        if isinstance(doc.spec, RenderSpec):
            assert normalise(doc.spec.title) in text, doc.title
            assert normalise(doc.spec.paragraphs[-1]) in text, doc.title
        else:
            assert doc.spec.holder_name in text and doc.spec.number in text, doc.title
    assert any(pages > 1 for pages in page_counts), "one demo document should span several pages"


def contains_phrase(text: str, phrase: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(phrase)}(?!\w)", text) is not None


def test_morphology_examples_need_stemming_to_find_every_document() -> None:
    texts = [spec_text(d.spec).lower() for d in DOCUMENTS]
    for example in demo_queries():
        for form in example["forms"]:
            assert any(contains_phrase(t, form) for t in texts), f"no demo document contains «{form}»"
        without_query_form = [t for t in texts if any(contains_phrase(t, f) for f in example["forms"])
                              and not contains_phrase(t, example["query"])]
        assert without_query_form, f"every document with a form of «{example['query']}» also has it verbatim"


def test_synthetic_documents_are_reproducible_distinct_and_varied() -> None:
    first = list(synthetic_documents(300, seed=7))
    assert first == list(synthetic_documents(300, seed=7))
    assert first != list(synthetic_documents(300, seed=8))
    assert len({s.reg_number for s in first}) == 300
    assert len({s.title for s in first}) > 100
    assert {s.doc_kind for s in first} == set(SYNTHETIC_DOC_TYPES)
    assert set(SYNTHETIC_DOC_TYPES.values()) <= set(DOCUMENT_TYPES)
    words = [len(spec_text(s).split()) for s in first]
    assert min(words) >= 50


def test_synthetic_documents_render_to_one_page_each() -> None:
    for spec in synthetic_documents(12, seed=3):
        reader = pypdf.PdfReader(io.BytesIO(render_document_pdf(spec, deterministic=True)))
        assert len(reader.pages) == 1
        assert normalise(spec.title) in normalise(reader.pages[0].extract_text())


def test_demo_document_is_a_frozen_record() -> None:
    doc: DemoDocument = DOCUMENTS[0]
    with pytest.raises(AttributeError):
        doc.title = "другой"  # type: ignore[misc]


def test_demo_certificates_are_marked_as_specimens() -> None:
    for doc in (d for d in DOCUMENTS if d.doc_type == "certificate"):
        reader = pypdf.PdfReader(io.BytesIO(render_demo_pdf(doc)))
        assert DEMO_WATERMARK in reader.pages[0].extract_text(), doc.title
