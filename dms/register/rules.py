"""The register of organisations (Регистр системы оценки и сертификации профессиональных квалификаций) as data:
kinds of organisation, register statuses, and the transitions between them — who may take each (permissions held
on the register's root folder), whether a reason is required, and which document each files from which template.
dms.register.service executes them; the web UI, the API and the CLI read the same table.

The lifecycle follows seed 000 (the «жизненный цикл» of a centre): an application, inclusion in the register,
monitoring and audit, exclusion of the information about the centre from the register.

An application may be rejected (`reject`, with the reason, by an order). Re-application after exclusion or rejection
is allowed (`reapply`): the organisation may apply again, which files a new application and puts it back to
«applied»; its earlier history stays.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from dms.errors import N_
from dms.i18n import pick
from dms.security import Permission as P
from dms.idrange import digits

# The register's folder: every organisation's register documents go to REGISTER_ROOT/<organisation code>, and the
# permissions of a register transition are those held on this folder (global roles, or local roles granted here).
REGISTER_ROOT = "/Агентство/Регистр"
REGISTER_NAME = "Регистр системы оценки и сертификации профессиональных квалификаций"


@dataclass(frozen=True)
class Kind:
    code: str
    prefix: str        # of generated organisation codes, e.g. ЦОК-001
    label_ru: str
    label_en: str

    @property
    def label(self) -> str:
        return pick(self.label_ru, self.label_en)


KINDS: dict[str, Kind] = {k.code: k for k in (
    Kind("assessment_centre", "ЦОК", "Центр оценки квалификаций", "Assessment centre"),
    Kind("expert_methodical_centre", "ЭМЦ", "Экспертно-методический центр", "Expert-methodical centre"),
    Kind("practice_holder", "ДП", "Держатель практики", "Practice holder"),
    Kind("pilot_site", "ПП", "Пилотная площадка", "Pilot site"),
    Kind("training_provider", "ДПО", "Организация дополнительного профессионального образования",
         "Training provider"),
)}
AGENCY_KIND = "agency"  # the agency keeps the register; it is not in it


@dataclass(frozen=True)
class Status:
    code: str
    label_ru: str
    label_en: str

    @property
    def label(self) -> str:
        return pick(self.label_ru, self.label_en)


# The statuses in which an organisation acts under the Register: gets blank forms, issues certificates, signs
# agreements. «Under audit» is one of them: an audit checks an organisation that stays in the Register (seed 000:
# monitoring and audit, then exclusion only by an order), and stopping it would hold up the people it assesses;
# exclusion (by a signed order) is what ends it.
IN_FORCE = ("included", "under_audit")

STATUSES: dict[str, Status] = {s.code: s for s in (
    Status("applied", "Подано заявление", "Applied"),
    Status("included", "Включена в Регистр", "Included"),
    Status("under_audit", "На проверке", "Under audit"),
    Status("excluded", "Исключена из Регистра", "Excluded"),
    Status("rejected", "Отказано во включении", "Application rejected"),
)}


@dataclass(frozen=True)
class Filing:
    """The document a transition files: its type, the workflow steps that number it (and send it to signing), and
    its text. Placeholders: {name} {short_name} {code} {inn} {city} {kind} {reason} {date} {register}."""
    doc_type: str
    kind_label: str                 # the heading printed on the page: ПРИКАЗ, АКТ ПРОВЕРКИ, ЗАЯВЛЕНИЕ
    title: str
    paragraphs: tuple[str, ...]
    steps: tuple[str, ...]          # workflow transitions taken after filing, e.g. ("register", "send_to_signing")
    meta: tuple[tuple[str, str], ...] = ()   # metadata of the type; values are templates too
    by_applicant: bool = False      # printed on the applicant's letterhead (an application), else the agency's


@dataclass(frozen=True)
class RegisterTransition:
    name: str
    title_ru: str
    title_en: str
    sources: tuple[str | None, ...]  # None: an organisation not yet in the register (a new application)
    target: str
    permissions: tuple[P, ...] = (P.ADD, P.TRANSITION)
    reason_required: bool = False
    reason_label_ru: str = "Основание"
    reason_label_en: str = "Grounds"
    default_reason: str = ""
    filing: Filing | None = None
    refers_to: str | None = None     # files nothing; its event points at the document of this earlier step
    settles: str | None = None       # workflow transition then taken on the latest application (if open)
    confirm: str = ""                # the web asks to confirm, saying this consequence (a msgid)

    @property
    def title(self) -> str:
        return pick(self.title_ru, self.title_en)

    @property
    def reason_label(self) -> str:
        return pick(self.reason_label_ru, self.reason_label_en)


_APPLICATION = Filing(
    "application", "ЗАЯВЛЕНИЕ", "О включении в {register}",
    ("{name} (ИНН {inn}, г. {city}) просит включить организацию в {register} в качестве организации вида "
     "«{kind}».",
     "Сведения и документы, подтверждающие соответствие организации установленным требованиям, прилагаются.",
     "Дополнительные сведения: {reason}.",
     "Дата подачи заявления: {date}."),
    ("register",), (("applicant", "{name}"), ("applicant_org", "{short_name}")), by_applicant=True)

TRANSITIONS: dict[str, RegisterTransition] = {t.name: t for t in (
    RegisterTransition(
        "apply", "Подать заявление", "Apply", (None,), "applied", permissions=(P.ADD,),
        reason_label_ru="Дополнительные сведения", reason_label_en="Additional information", default_reason="нет",
        filing=_APPLICATION),
    RegisterTransition(
        "include", "Включить в Регистр", "Include", ("applied",), "included",
        default_reason="заявление организации и результаты его рассмотрения", settles="accept",
        filing=Filing(
            "order", "ПРИКАЗ", "О включении {short_name} в {register}",
            ("Рассмотрев заявление {name} (ИНН {inn}, г. {city}) и представленные документы,",
             "ПРИКАЗЫВАЮ:",
             "1. Включить {name} в {register} в качестве организации вида «{kind}» с {date}.",
             "2. Присвоить организации регистрационный код {code}.",
             "3. Основание: {reason}.",
             "4. Контроль за исполнением настоящего приказа оставляю за собой."),
            ("register", "send_to_signing"), (("subject", "Включение {code} в Регистр"), ("centre", "{code}")))),
    RegisterTransition(
        "reject", "Отказать во включении", "Reject the application", ("applied",), "rejected",
        reason_required=True, reason_label_ru="Причина отказа", reason_label_en="Reason for rejection",
        settles="reject",
        confirm=N_("Организации будет отказано во включении в Регистр: приказ об отказе будет оформлен и отправлен "
                   "на подпись; после подписания организация не сможет получать бланки и выдавать свидетельства."),
        filing=Filing(
            "order", "ПРИКАЗ", "Об отказе во включении {short_name} в {register}",
            ("Рассмотрев заявление {name} (ИНН {inn}, г. {city}) и представленные документы,",
             "ПРИКАЗЫВАЮ:",
             "1. Отказать {name} во включении в {register}.",
             "2. Причина отказа: {reason}.",
             "3. Уведомить организацию об отказе в течение пяти рабочих дней; организация вправе подать заявление "
             "повторно после устранения причин отказа.",
             "4. Контроль за исполнением настоящего приказа оставляю за собой."),
            ("register", "send_to_signing"), (("subject", "Отказ во включении {code} в Регистр"),
                                               ("centre", "{code}")))),
    RegisterTransition(
        "start_audit", "Начать проверку", "Start an audit", ("included",), "under_audit",
        reason_required=True, reason_label_ru="Основание проверки", reason_label_en="Grounds for the audit",
        filing=Filing(
            "report", "АКТ ПРОВЕРКИ", "Акт проверки {short_name}",
            ("Объект проверки: {name}, ИНН {inn}, г. {city}, регистрационный код в Регистре {code}.",
             "Основание проверки: {reason}.",
             "Дата начала проверки: {date}.",
             "Предмет проверки: соответствие деятельности организации требованиям, установленным для "
             "организаций, включённых в {register}; достоверность сведений, отражённых в Регистре.",
             "Результат проверки вносится в Регистр при её завершении."),
            ("submit",), (("kind", "audit"), ("site", "{code}")))),
    RegisterTransition(
        "finish_audit", "Завершить проверку", "Finish the audit", ("under_audit",), "included",
        reason_required=True, reason_label_ru="Результат проверки", reason_label_en="Result of the audit",
        refers_to="start_audit"),
    RegisterTransition(
        "exclude", "Исключить из Регистра", "Exclude", ("included", "under_audit"), "excluded",
        reason_required=True, reason_label_ru="Причина исключения", reason_label_en="Reason for exclusion",
        confirm=N_("Организация будет исключена из Регистра: приказ будет оформлен и отправлен на подпись; после "
                   "подписания она не сможет получать бланки, выдавать свидетельства и подписывать соглашения."),
        filing=Filing(
            "order", "ПРИКАЗ", "Об исключении информации о {short_name} из {register_gen}",
            ("В связи с: {reason},",
             "ПРИКАЗЫВАЮ:",
             "1. Исключить информацию о {name} (ИНН {inn}, г. {city}, регистрационный код {code}) из "
             "{register_gen} с {date}.",
             "2. Уведомить организацию об исключении в течение пяти рабочих дней.",
             "3. Контроль за исполнением настоящего приказа оставляю за собой."),
            ("register", "send_to_signing"), (("subject", "Исключение {code} из Регистра"), ("centre", "{code}")))),
    RegisterTransition(
        "reapply", "Подать заявление повторно", "Apply again", ("excluded", "rejected"), "applied",
        permissions=(P.ADD,),
        reason_label_ru="Дополнительные сведения", reason_label_en="Additional information",
        default_reason="повторное обращение после исключения",
        filing=_APPLICATION),
)}


def fill(template: str, values: dict[str, Any]) -> str:
    return template.format(register=REGISTER_NAME, register_gen=REGISTER_NAME.replace("Регистр ", "Регистра ", 1),
                           **values)


def kind_label(code: str) -> str:
    return KINDS[code].label_ru if code in KINDS else code


def status_label(code: str) -> str:
    return STATUSES[code].label_ru if code in STATUSES else code


assert all(t.target in STATUSES and all(s is None or s in STATUSES for s in t.sources)
           for t in TRANSITIONS.values()), "a register transition names an unknown status"
assert all(t.refers_to is None or t.refers_to in TRANSITIONS for t in TRANSITIONS.values())


# --- identifiers: checked by their rules ----------------------------------------------------------------------------

def _weighted(digits: str, weights: tuple[int, ...]) -> int:
    return sum(int(d) * w for d, w in zip(digits, weights, strict=False)) % 11 % 10


def inn_valid(inn: str) -> bool:
    """ИНН: 10 digits (an organisation: one check digit) or 12 (a person: two), by the tax service's weights."""
    if not digits(inn) or len(inn) not in (10, 12) or set(inn) == {"0"}:
        return False
    if len(inn) == 10:
        return _weighted(inn, (2, 4, 10, 3, 5, 9, 4, 6, 8)) == int(inn[9])
    return (_weighted(inn, (7, 2, 4, 10, 3, 5, 9, 4, 6, 8)) == int(inn[10])
            and _weighted(inn, (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)) == int(inn[11]))


def ogrn_valid(ogrn: str) -> bool:
    """ОГРН: 13 digits (an organisation, starting 1 or 5), the last = the first 12 mod 11 (mod 10); ОГРНИП: 15
    digits starting 3, the last = the first 14 mod 13 (mod 10)."""
    if not digits(ogrn):
        return False
    if len(ogrn) == 13:
        return ogrn[0] in "15" and int(ogrn[:12]) % 11 % 10 == int(ogrn[12])
    if len(ogrn) == 15:
        return ogrn[0] == "3" and int(ogrn[:14]) % 13 % 10 == int(ogrn[14])
    return False


KPP_RE = re.compile(r"^\d{4}[0-9A-Z]{2}\d{3}$")  # tax office (4), reason (2: digits or capital Latin), number (3)


def kpp_valid(kpp: str) -> bool:
    return bool(KPP_RE.match(kpp))


# Every organisation's code: its kind's prefix, the region (two digits, the subject of the Federation) and its number
# in the region, e.g. ЦОК-77-001 (what the demo, the certificates' numbers and the folders use).
CODE_RE = re.compile(r"^(?P<prefix>[А-ЯЁ]{2,4})-(?P<region>\d{2})-(?P<seq>\d{3})$")


def code_problem(code: str, kind: str) -> str | None:
    """None if the code follows the pattern for this kind, else what is wrong (a msgid)."""
    m = CODE_RE.match(code)
    if m is None or m["region"] == "00" or (kind in KINDS and m["prefix"] != KINDS[kind].prefix):
        return N_("код: вид-регион-номер, например %(example)s")
    return None
