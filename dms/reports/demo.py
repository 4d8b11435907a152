"""Demo reports filled in from the forms (dms.reports.forms), through the same service as the web form: pilot sites
comparing blocks of the model with their practice, an expert site judging their check, centres answering the
monitoring questionnaire. All are submitted, so the aggregate view (/reports/aggregate) has something to count.
Idempotent: a report whose title exists is left alone."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from dms.models import Document
from dms.reports.forms import MODEL_BLOCKS, PROCESS_PARAMETERS
from dms.runtime import Runtime
from dms.documents import folders
from dms.people import users
from dms.reports import service as svc
from dms.workflow import service as wf_svc

PILOT_FOLDER, EXPERT_FOLDER, MONITORING_FOLDER = ("/Отчёты/Пилотные площадки", "/Отчёты/Экспертные заключения",
                                                  "/Отчёты/Мониторинг")

# What a site writes where its practice differs from the model, per parameter.
DIVERGENCES = {
    "participants": "К процессу привлекается региональный совет по профессиональным квалификациям",
    "methods": "Консультирование ведётся преимущественно дистанционно, в форме вебинаров",
    "sequence": "Согласование с учредителем предшествует подаче заявления, а не следует за ним",
    "objects": "Дополнительно передаются сведения об экспертах центра и их аттестации",
    "methodical": "Методические рекомендации площадки детализируют порядок действий подробнее модели",
    "legal": "Порядок закреплён региональным нормативным актом, который модель не учитывает",
    "results": "Результатом процесса площадка считает также план устранения замечаний",
    "documents": "Площадка дополнительно оформляет протокол заседания экспертной комиссии",
}
BLOCK_RECOMMENDATIONS = {
    1: "Отразить в модели дистанционное консультирование учредителей центров оценки квалификаций.",
    2: "Закрепить периодичность аудита экспертно-методических центров — не реже одного раза в три года.",
    3: "Вести обеспечение центров бланочной документацией через Регистр с учётом номеров бланков.",
    4: "Предусмотреть запись соискателей на экзамен через информационную систему и срок ожидания не более "
       "десяти рабочих дней.",
    5: "Предусмотреть передачу в Регистр сведений о держателях практик и выданных ими документах.",
}
PATTERN = ("match", "match", "partial", "match", "match", "mismatch", "match", "match")


def _pilot(blocks: tuple[int, ...]) -> dict[str, Any]:
    answers: dict[str, Any] = {f"b{b}.taken": "yes" if b in blocks else "no" for b in range(1, len(MODEL_BLOCKS) + 1)}
    for b in blocks:
        for p in range(1, len(MODEL_BLOCKS[b - 1][1]) + 1):
            implemented = "no" if (b + p) % 5 == 0 else "yes"
            answers[f"b{b}.p{p}.implemented"] = implemented
            if implemented == "no":
                continue
            for i, (code, _label) in enumerate(PROCESS_PARAMETERS):
                choice = PATTERN[(i + b + p) % len(PATTERN)]
                answers[f"b{b}.p{p}.{code}"] = choice
                if choice != "match":
                    answers[f"b{b}.p{p}.{code}.note"] = DIVERGENCES[code]
        answers[f"b{b}.recommendations"] = BLOCK_RECOMMENDATIONS[b]
    answers["summary.recommendations"] = ("Модель в целом соответствует практике площадки; расхождения касаются "
                                          "регионального правового обеспечения и состава документов.")
    answers["summary.experts"] = "Эксперты пилотной площадки: 3 человека"
    return answers


def _expert(blocks: tuple[int, ...], sites: str) -> dict[str, Any]:
    answers: dict[str, Any] = {"pilot.sites": sites}
    answers.update({f"b{b}.reviewed": "yes" if b in blocks else "no" for b in range(1, len(MODEL_BLOCKS) + 1)})
    for b in blocks:
        for p, process in enumerate(MODEL_BLOCKS[b - 1][1], start=1):
            answers[f"b{b}.p{p}.completeness"] = ("full", "full", "partial")[(b + p) % 3]
            answers[f"b{b}.p{p}.adequacy"] = ("adequate", "partial", "adequate", "adequate")[(b + p) % 4]
            answers[f"b{b}.p{p}.assessment"] = (f"Процесс «{process}» сопоставлен площадками с практикой по всем "
                                                "параметрам; выводы подтверждены документами площадок.")
            if (b + p) % 3 == 0:
                answers[f"b{b}.p{p}.proposals"] = "Уточнить в модели состав участников и документы процесса."
    answers.update({
        "conclusion.check": "Практическая проверка проведена пилотными площадками полно по блокам 1 и 4, "
                            "частично — по блоку 3 (не рассмотрено обеспечение бланочной документацией).",
        "conclusion.model": "Элементы модели адекватны практике; требуют уточнения правовые регуляторы процессов.",
        "conclusion.recommendations": "Дополнить модель региональным уровнем правового обеспечения и перечнем "
                                      "документов по каждому процессу.",
    })
    return answers


def _monitoring(n: int) -> dict[str, Any]:
    agree = ("yes", "rather_yes", "rather_no", "no")
    sufficiency = ("sufficient", "partial", "insufficient")
    return {
        "respondent.filled_on": f"2025-04-{20 + n:02d}",
        "respondent.position": "Руководитель центра оценки квалификаций",
        "respondent.centres": 1 + n, "respondent.experts": 4 + 2 * n,
        "quality.quality": agree[n % 2], "quality.objectivity": agree[(n + 1) % 3], "quality.efficiency": agree[n % 3],
        "mechanisms.normative": sufficiency[n % 2], "mechanisms.methodical": sufficiency[(n + 1) % 3],
        "mechanisms.informational": sufficiency[(n + 2) % 3],
        "mechanisms.note": "Нужен регламент обмена данными мониторинга между центрами и агентством.",
        "indicators.complete": agree[n % 2], "indicators.measurable": agree[(n + 1) % 2],
        "indicators.tools": agree[n % 3], "indicators.hours": 6 + 3 * n,
        "indicators.note": "Добавить показатель доли соискателей, повторно сдававших экзамен.",
        "feedback.objective": agree[(n + 1) % 3], "feedback.channel": ("email", "forum", "phone")[n % 3],
        "practices.reveals": agree[n % 2],
        "practices.list": "Совместные экспертные сессии центров региона по разбору апелляций.",
        "proposals.text": "Сократить число показателей до измеримых по данным центров и ввести единую форму "
                          "ежеквартального отчёта.",
    }


# (form, site, period, folder, answers)
DEMO_FORM_REPORTS: tuple[tuple[str, str, str, str, dict[str, Any]], ...] = (
    ("pilot_site", "ПП-16-001", "октябрь 2025", PILOT_FOLDER, _pilot((1, 4))),
    ("pilot_site", "ЦОК-50-002", "октябрь 2025", PILOT_FOLDER, _pilot((3, 5))),
    ("expert_site", "ЭМЦ-77-001", "октябрь 2025", EXPERT_FOLDER, _expert((1, 3, 4), "ПП-16-001, ЦОК-50-002")),
    *(("monitoring", code, "апрель 2025", MONITORING_FOLDER, _monitoring(n))
      for n, code in enumerate(("ЦОК-77-001", "ЦОК-50-002", "ЦОК-40-003"))),
)


def load(rt: Runtime, author: str = "clerk") -> int:
    """File and submit the demo's form reports that are not there yet; returns how many were made."""
    made = 0
    with rt.db.session() as s:
        actor = users.get_user(s, author)
        existing = set(s.scalars(select(Document.title).where(Document.doc_type == "report")))
        for form_code, site, period, folder_path, answers in DEMO_FORM_REPORTS:
            filled = svc.check(s, form_code, site, period, answers)
            if svc.title_of(filled) in existing:
                continue
            doc = svc.save(s, rt.store, rt.settings.max_upload_bytes, actor, filled,
                           folder=folders.resolve(s, folder_path))
            wf_svc.execute(s, actor, doc, "submit")
            made += 1
    return made
