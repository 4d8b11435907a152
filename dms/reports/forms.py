"""Report forms as data: the pilot-site and expert-site forms of the methodical recommendations on testing the
cross-industry certification model (seed 000, appendices 1 and 2) and the questionnaire of the test of the
monitoring model of certification centres (seed 001). A form is sections of questions; validation, the web form,
the PDF and the aggregate view all read these tables. Pure data and checks: no Flask, no database."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from collections.abc import Callable, Mapping

from dms.errors import N_

CHOICE, TEXT, NUMBER, DATE = "choice", "text", "number", "date"

# Scales of the choice questions: (stored code, label).
MATCH = (("match", N_("соответствует")), ("partial", N_("частично соответствует")),
         ("mismatch", N_("не соответствует")))
IMPLEMENTED = (("yes", N_("реализуется")), ("no", N_("не реализуется")))
TAKEN = (("yes", N_("да")), ("no", N_("нет")))
COMPLETENESS = (("full", N_("полная")), ("partial", N_("частичная")), ("insufficient", N_("недостаточная")))
ADEQUACY = (("adequate", N_("адекватна")), ("partial", N_("частично адекватна")), ("inadequate", N_("неадекватна")))
AGREE = (("yes", N_("да")), ("rather_yes", N_("скорее да")), ("rather_no", N_("скорее нет")), ("no", N_("нет")))
SUFFICIENCY = (("sufficient", N_("достаточны")), ("partial", N_("частично достаточны")),
               ("insufficient", N_("недостаточны")))
CHANNELS = (("phone", N_("телефонная «горячая линия»")), ("email", N_("электронная почта")),
            ("forum", N_("консультационный форум на странице проекта")), ("none", N_("не обращались")))

NOTE_LENGTH = 2000
MAX_ANSWERS = 2000


@dataclass(frozen=True)
class Question:
    code: str
    label: str
    kind: str = TEXT
    required: bool = False
    options: tuple[tuple[str, str], ...] = ()
    max_length: int = NOTE_LENGTH
    minimum: int = 0
    maximum: int = 1_000_000
    # The question applies only when an earlier answer is one of these codes; otherwise its answer is not kept
    # and it is not required (a block not taken into work, a process the site does not run).
    when: tuple[str, tuple[str, ...]] | None = None
    note_for: str | None = None        # a comment drawn in the row of this choice question
    recommendation: bool = False       # listed under «Рекомендации» in the aggregate view

    def option_label(self, code: str) -> str:
        return dict(self.options).get(code, code)


@dataclass(frozen=True)
class Section:
    code: str
    name: str                          # a msgid: shown through gettext, after the number
    questions: tuple[Question, ...]
    level: int = 1                     # 1: a block of the model or a part of a questionnaire; 2: a process
    hint: str = ""
    number: str = ""                   # "1.", "1.2."

    @property
    def title(self) -> str:
        return f"{self.number} {self.name}".strip()


@dataclass(frozen=True)
class ReportForm:
    code: str
    title: str
    kind: str                          # the report's meta "kind" (dms.documents.doctypes)
    basis: str                         # where the form comes from, printed on the PDF
    intro: str
    sections: tuple[Section, ...]
    # At least one of these (question code, answer code) must hold, with its message.
    require_any: tuple[tuple[tuple[str, str], ...], str] | None = None
    # Question codes whose answers name the blocks covered (the report's meta "block").
    block_questions: tuple[tuple[str, str], ...] = ()

    def questions(self) -> list[Question]:
        return [q for s in self.sections for q in s.questions]

    def question(self, code: str) -> Question | None:
        return self._index().get(code)

    def _index(self) -> dict[str, Question]:
        return {q.code: q for q in self.questions()}


# --- seed 000: the model's blocks, their organisational processes (Приложение 1) and the parameters -----------

MODEL_BLOCKS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (N_("Управление жизненным циклом центра (-ов) оценки и сертификации квалификаций"), (
        N_("Информирование и консультирование учредителей"),
        N_("Включение в Регистр"),
        N_("Мониторинг сети центров оценки и сертификации квалификаций"),
        N_("Аудит центров оценки и сертификации квалификаций"),
        N_("Исключение информации о центре оценки и сертификации квалификаций из Регистра системы оценки и "
           "сертификации квалификаций"),
    )),
    (N_("Управление жизненным циклом экспертно-методического центра"), (
        N_("Информирование и консультирование учредителей"),
        N_("Включение в Регистр системы оценки и сертификации квалификаций"),
        N_("Мониторинг сети экспертно-методических центров"),
        N_("Аудит экспертно-методических центров"),
        N_("Исключение информации об экспертно-методическом центре из Регистра системы оценки и сертификации "
           "квалификаций"),
    )),
    (N_("Обслуживание центра (-ов) оценки и сертификации квалификаций"), (
        N_("Консультирование центра оценки и сертификации квалификаций"),
        N_("Методическая поддержка центра оценки и сертификации квалификаций"),
        N_("Обеспечение центра оценки и сертификации квалификаций бланочной документацией"),
        N_("Отражение результатов деятельности центра оценки и сертификации квалификаций в Регистре системы "
           "оценки и сертификации квалификаций"),
    )),
    (N_("Обслуживание соискателей в центре оценки и сертификации квалификаций"), (
        N_("Информирование и консультирование соискателей"),
        N_("Обработка заявления соискателя"),
        N_("Оценка квалификации соискателя"),
        N_("Сертификация квалификации соискателя"),
        N_("Управление жизненным циклом квалификации соискателя"),
    )),
    (N_("Признание действующей практики сертификации квалификаций"), (
        N_("Анализ рассматриваемой автономной практики и подготовка рекомендаций"),
        N_("Заключение соглашений с держателем практики"),
        N_("Создание информационной коммуникации с Регистром системы оценки и сертификации квалификаций"),
        N_("Мониторинг функционирования автономных практик"),
    )),
)

# The columns of the tables of Приложение 1: the parameters that characterise a process.
PROCESS_PARAMETERS: tuple[tuple[str, str], ...] = (
    ("participants", N_("Участники деятельности (структуры, физические лица)")),
    ("methods", N_("Содержание деятельности: способы деятельности")),
    ("sequence", N_("Содержание деятельности: последовательность действий участников (мероприятия)")),
    ("objects", N_("Содержание деятельности: объекты деятельности (ресурсы, подлежащие обмену/изменению)")),
    ("methodical", N_("Регуляторы процессов: методическая поддержка")),
    ("legal", N_("Регуляторы процессов: правовая поддержка")),
    ("results", N_("Выходы процессов: результаты (продукты и услуги)")),
    ("documents", N_("Выходы процессов: документы")),
)

DIVERGENCE_NOTE = N_("При расхождении: описание по практике площадки и обоснование")


def _pilot_sections() -> tuple[Section, ...]:
    sections: list[Section] = []
    for b, (block, processes) in enumerate(MODEL_BLOCKS, start=1):
        taken = f"b{b}.taken"
        sections.append(Section(f"b{b}", block, (
            Question(taken, N_("Блок взят в работу пилотной площадкой"), CHOICE, True, TAKEN),
        ), hint=N_("Если блок не взят в работу, ответы по его процессам не сохраняются."), number=f"{b}."))
        for p, process in enumerate(processes, start=1):
            implemented = f"b{b}.p{p}.implemented"
            questions = [Question(implemented, N_("Процесс в практике оценки и сертификации площадки"), CHOICE, True,
                                  IMPLEMENTED, when=(taken, ("yes",)))]
            for code, label in PROCESS_PARAMETERS:
                choice = f"b{b}.p{p}.{code}"
                questions.append(Question(choice, label, CHOICE, True, MATCH, when=(implemented, ("yes",))))
                questions.append(Question(f"{choice}.note", DIVERGENCE_NOTE, TEXT, True,
                                          when=(choice, ("partial", "mismatch")), note_for=choice))
            sections.append(Section(f"b{b}.p{p}", process, tuple(questions), level=2, number=f"{b}.{p}."))
        sections.append(Section(f"b{b}.end", N_("Дополнения и рекомендации по блоку"), (
            Question(f"b{b}.extra", N_("Процессы, которыми площадка дополняет перечень процессов блока"), TEXT,
                     when=(taken, ("yes",))),
            Question(f"b{b}.recommendations", N_("Рекомендации по доработке"), TEXT, True, when=(taken, ("yes",)),
                     recommendation=True),
        ), level=2, number=f"{b}.{len(processes) + 1}."))
    sections.append(Section("summary", N_("Обобщённые рекомендации по доработке модели"), (
        Question("summary.recommendations", N_("Обобщённые рекомендации по доработке модели по итогам "
                    "сопоставительного анализа"), TEXT, True, max_length=4000, recommendation=True),
        Question("summary.experts", N_("Эксперты пилотной площадки, заполнившие форму"), TEXT, max_length=500),
    )))
    return tuple(sections)


def _expert_sections() -> tuple[Section, ...]:
    sections: list[Section] = [Section("pilot", N_("Рассмотренные материалы"), (
        Question("pilot.sites", N_("Пилотная площадка (площадки), материалы практической проверки которой "
                    "рассмотрены"), TEXT, True, max_length=500),
    ))]
    for b, (block, processes) in enumerate(MODEL_BLOCKS, start=1):
        reviewed = f"b{b}.reviewed"
        sections.append(Section(f"b{b}", block, (
            Question(reviewed, N_("Основной тип организационных процессов рассмотрен экспертной площадкой"), CHOICE,
                     True, TAKEN),
        ), hint=N_("Если блок не рассматривался, ответы по его процессам не сохраняются."), number=f"{b}."))
        for p, process in enumerate(processes, start=1):
            base = f"b{b}.p{p}"
            sections.append(Section(base, process, (
                Question(f"{base}.completeness", N_("Полнота проведённой пилотной площадкой практической проверки"),
                         CHOICE, True, COMPLETENESS, when=(reviewed, ("yes",))),
                Question(f"{base}.adequacy", N_("Адекватность проведённой пилотной площадкой практической проверки"),
                         CHOICE, True, ADEQUACY, when=(reviewed, ("yes",))),
                Question(f"{base}.assessment", N_("Оценка проведённой пилотной площадкой практической проверки модели"),
                         TEXT, True, when=(reviewed, ("yes",))),
                Question(f"{base}.proposals", N_("Предложения по доработке модели (по данному организационному "
                            "процессу)"), TEXT, when=(reviewed, ("yes",)), recommendation=True),
            ), level=2, number=f"{b}.{p}."))
    sections.append(Section("conclusion", N_("Выводы и рекомендации"), (
        Question("conclusion.check", N_("Вывод о полноте и адекватности проведённой пилотной (-ыми) площадкой (-ами) "
                    "практической проверки модели"), TEXT, True, max_length=4000),
        Question("conclusion.model", N_("Вывод о полноте и адекватности элементов (блоков) типовой межотраслевой "
                    "модели"), TEXT, True, max_length=4000),
        Question("conclusion.recommendations", N_("Рекомендации по доработке"), TEXT, True, max_length=4000,
                 recommendation=True),
    )))
    return tuple(sections)


def _monitoring_sections() -> tuple[Section, ...]:
    return (
        Section("respondent", N_("Сведения о площадке и респонденте"), (
            Question("respondent.filled_on", N_("Дата заполнения анкеты"), DATE, True),
            Question("respondent.position", N_("Должность респондента"), TEXT, True, max_length=300),
            Question("respondent.centres", N_("Число центров сертификации профессиональных квалификаций, участвовавших "
                        "в апробации на площадке"), NUMBER, True, maximum=10_000),
            Question("respondent.experts", N_("Число экспертов площадки, оценивших материалы"), NUMBER, maximum=10_000),
        )),
        Section("quality", N_("1. Повышение качества и объективности функций центров с помощью мониторинга"), (
            Question("quality.quality", N_("Мониторинг позволяет повысить качество функций, выполняемых центрами "
                        "сертификации профессиональных квалификаций"), CHOICE, True, AGREE),
            Question("quality.objectivity", N_("Мониторинг позволяет повысить объективность функций, выполняемых "
                        "центрами"), CHOICE, True, AGREE),
            Question("quality.efficiency", N_("Мониторинг повышает эффективность работы центров в системе подготовки "
                        "рабочих кадров и формирования прикладных квалификаций"), CHOICE, True, AGREE),
            Question("quality.note", N_("Комментарий"), TEXT),
        )),
        Section("mechanisms", N_("2. Механизмы мониторинга центров"), (
            Question("mechanisms.normative", N_("Нормативно-инструктивные механизмы мониторинга"), CHOICE, True,
                     SUFFICIENCY),
            Question("mechanisms.methodical", N_("Методические механизмы мониторинга"), CHOICE, True, SUFFICIENCY),
            Question("mechanisms.informational", N_("Информационные механизмы мониторинга"), CHOICE, True, SUFFICIENCY),
            Question("mechanisms.note", N_("Что следует доработать в механизмах мониторинга"), TEXT,
                     recommendation=True),
        )),
        Section("indicators", N_("3. Показатели и инструментарий мониторинга"), (
            Question("indicators.complete", N_("Показатели мониторинга полно характеризуют деятельность центров"),
                     CHOICE, True, AGREE),
            Question("indicators.measurable", N_("Показатели измеримы по данным, которыми располагают центры"),
                     CHOICE, True, AGREE),
            Question("indicators.tools", N_("Оценочные формы и анкеты мониторинга понятны и удобны для заполнения"),
                     CHOICE, True, AGREE),
            Question("indicators.hours", N_("Трудозатраты одного центра на заполнение форм мониторинга, чел.-часов"),
                     NUMBER, True, maximum=1000),
            Question("indicators.note", N_("Показатели, которые следует добавить или исключить"), TEXT,
                     recommendation=True),
        )),
        Section("feedback", N_("4. Механизм обратной связи для оценки деятельности центров"), (
            Question("feedback.objective", N_("Механизм обратной связи позволяет получить объективную оценку "
                        "деятельности центров"), CHOICE, True, AGREE),
            Question("feedback.channel", N_("Наиболее удобный канал консультационной поддержки апробации"), CHOICE,
                     True, CHANNELS),
            Question("feedback.note", N_("Комментарий"), TEXT),
        )),
        Section("practices", N_("5. Эффективные практики деятельности и взаимодействия центров"), (
            Question("practices.reveals", N_("Модель мониторинга помогает выявить эффективные практики деятельности "
                        "центров и их взаимодействия друг с другом и средой"), CHOICE, True, AGREE),
            Question("practices.list", N_("Эффективные практики, выявленные на площадке"), TEXT),
        )),
        Section("proposals", N_("Предложения и замечания по доработке модели"), (
            Question("proposals.text", N_("Предложения по доработке научно-технической модели мониторинга деятельности "
                        "центров сертификации профессиональных квалификаций"), TEXT, True, max_length=4000,
                     recommendation=True),
            Question("proposals.remarks", N_("Замечания"), TEXT),
        )),
    )


def _seed000_rules(toggle: str, message: str) -> dict[str, Any]:
    """Forms over the model's blocks: one block at least must be covered; the covered ones name the report's
    blocks."""
    codes = tuple((str(b), f"b{b}.{toggle}") for b in range(1, len(MODEL_BLOCKS) + 1))
    return {"require_any": (tuple((code, "yes") for _, code in codes), message), "block_questions": codes}



FORMS: dict[str, ReportForm] = {f.code: f for f in (
    ReportForm(
        "pilot_site", N_("Отчёт пилотной площадки по итогам апробации модели сертификации квалификаций"), "pilot_site",
        N_("Форма по Приложению 1 к Методическим рекомендациям по проведению апробации и тиражированию "
           "межотраслевой модели сертификации квалификаций специалистов (в том числе иностранных)"),
        N_("Для каждого процесса блока, взятого в работу, укажите, реализуется ли он в практике площадки, и для "
           "каждого параметра процесса — соответствует ли его «наполнение», предложенное в модели, реальной практике. "
           "При расхождении опишите параметр по практике площадки и обоснуйте предпочтительное «наполнение»."),
        _pilot_sections(), **_seed000_rules("taken", N_("возьмите в работу хотя бы один блок модели")),
    ),
    ReportForm(
        "expert_site", N_("Отчёт экспертной площадки по итогам обсуждения результатов апробации"), "expert_site",
        N_("Форма по Приложению 2 к Методическим рекомендациям по проведению апробации и тиражированию "
           "межотраслевой модели сертификации квалификаций специалистов (в том числе иностранных)"),
        N_("По каждому организационному процессу сопоставьте положения модели и материалы пилотных площадок, оцените "
           "полноту и адекватность проведённой ими практической проверки и сформулируйте предложения по доработке."),
        _expert_sections(), **_seed000_rules("reviewed", N_("отметьте хотя бы один рассмотренный блок модели")),
    ),
    ReportForm(
        "monitoring", N_("Анкета участника апробации модели мониторинга деятельности центров сертификации "
           "профессиональных квалификаций"), "monitoring",
        N_("Оценочная форма по Программе проведения апробации научно-технической модели мониторинга деятельности "
           "центров сертификации профессиональных квалификаций (этап V «Заполнение оценочных форм и анкет»)"),
        N_("Оцените возможность реализации модели мониторинга: её механизмы, показатели и инструментарий, механизм "
           "обратной связи и выявление эффективных практик; сформулируйте предложения по доработке модели."),
        _monitoring_sections(),
    ),
)}


def _check_definitions() -> None:
    for form in FORMS.values():
        seen: set[str] = set()
        for q in form.questions():
            assert q.code not in seen, f"{form.code}: question {q.code} twice"
            assert re.fullmatch(r"[a-z0-9_.]+", q.code), q.code
            assert q.when is None or q.when[0] in seen, f"{form.code}: {q.code} depends on a later question"
            assert (q.kind == CHOICE) == bool(q.options), q.code
            seen.add(q.code)


_check_definitions()


# --- validation ------------------------------------------------------------------------------------------------

class FormErrors(ValueError):
    """Answers that do not fit the form: question code -> message in Russian."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in list(errors.items())[:5]))
        self.errors = errors


UNPRINTABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _as_choice(q: Question, value: Any) -> str:
    text = str(value).strip()
    for code, label in q.options:
        if text in (code, label):
            return code
    raise ValueError(N_("недопустимый вариант ответа: выберите из списка"))


def _as_text(q: Question, value: Any) -> str:
    text = UNPRINTABLE.sub("", str(value)).replace("\r\n", "\n").strip()
    if len(text) > q.max_length:
        raise ValueError(N_("текст длиннее допустимого для этого вопроса"))
    return text


def _as_number(q: Question, value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(N_("ожидается целое число"))
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValueError(N_("ожидается целое число")) from None
    if not q.minimum <= number <= q.maximum:
        raise ValueError(N_("число вне допустимого для этого вопроса диапазона"))
    return number


def _as_date(_q: Question, value: Any) -> str:
    text = str(value).strip()
    for fmt in ("%Y-%m-%d", "%d.%m.%Y"):
        try:
            return datetime.strptime(text, fmt).date().isoformat()
        except ValueError:
            continue
    raise ValueError(N_("ожидается дата в формате ДД.ММ.ГГГГ или ГГГГ-ММ-ДД"))


CONVERTERS: dict[str, Callable[[Question, Any], Any]] = {
    CHOICE: _as_choice, TEXT: _as_text, NUMBER: _as_number, DATE: _as_date,
}


def get_form(code: str) -> ReportForm:
    try:
        return FORMS[code]
    except KeyError:
        raise FormErrors({"form": N_("неизвестная форма отчёта")}) from None


def applies(q: Question, answers: Mapping[str, Any]) -> bool:
    """Whether a question applies given the answers so far (conditions name earlier questions)."""
    return q.when is None or answers.get(q.when[0]) in q.when[1]


def validate(form: ReportForm, raw: Mapping[str, Any] | None) -> dict[str, Any]:
    """Clean answers: unknown questions, missing required answers, unknown options, over-long texts and numbers
    out of range are errors; answers to questions that do not apply are dropped."""
    raw = dict(raw or {})
    errors: dict[str, str] = {}
    if len(raw) > MAX_ANSWERS:
        raise FormErrors({"_": N_("слишком много ответов")})
    known = {q.code for q in form.questions()}
    for key in raw:
        if key not in known:
            errors[str(key)[:100]] = N_("такого вопроса нет в форме")
    clean: dict[str, Any] = {}
    for q in form.questions():
        if not applies(q, clean):
            continue
        value = raw.get(q.code)
        if value is None or (isinstance(value, str) and not value.strip()):
            if q.required:
                errors[q.code] = N_("обязательный ответ")
            continue
        if isinstance(value, (dict, list)):
            errors[q.code] = N_("ожидается одно значение")
            continue
        try:
            clean[q.code] = CONVERTERS[q.kind](q, value)
        except ValueError as exc:
            errors[q.code] = str(exc)
    if form.require_any and not errors:
        pairs, message = form.require_any
        if not any(clean.get(code) == value for code, value in pairs):
            errors[pairs[0][0]] = message
    if errors:
        raise FormErrors(errors)
    return clean


def blocks_covered(form: ReportForm, answers: Mapping[str, Any]) -> str:
    """The blocks a report covers, as the report's meta "block" ("1, 3"); empty for forms without blocks."""
    return ", ".join(number for number, code in form.block_questions if answers.get(code) == "yes")


def answer_text(q: Question, value: Any) -> str:
    if q.kind == CHOICE:
        return q.option_label(str(value))
    if q.kind == DATE:
        return date.fromisoformat(str(value)).strftime("%d.%m.%Y")
    return str(value)


# --- storage in Document.meta (dms.documents.doctypes kind "answers") ------------------------------------------------

def stored_answers(value: Any) -> str:
    """The report's "form_answers" metadata: {"form": code, "answers": {...}} as canonical JSON text. Text, not a
    nested object, so that the generic metadata form of the document page carries it back unchanged."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ValueError(N_("ожидается JSON-объект с полями form и answers")) from None
    if not isinstance(value, dict) or set(value) != {"form", "answers"} or not isinstance(value["answers"], dict):
        raise ValueError(N_("ожидается JSON-объект с полями form и answers"))
    form = FORMS.get(str(value["form"]))
    if form is None:
        raise ValueError(N_("неизвестная форма отчёта"))
    try:
        clean = validate(form, value["answers"])
    except FormErrors:
        raise ValueError(N_("ответы не соответствуют форме отчёта")) from None
    return dump_answers(form, clean)


def dump_answers(form: ReportForm, answers: Mapping[str, Any]) -> str:
    return json.dumps({"form": form.code, "answers": dict(sorted(answers.items()))}, ensure_ascii=False,
                      sort_keys=True, separators=(",", ":"))


def load_answers(meta: Mapping[str, Any] | None) -> tuple[ReportForm, dict[str, Any]] | None:
    """(form, answers) of a report's metadata, or None for a report not made from a form."""
    raw = (meta or {}).get("form_answers")
    if not raw:
        return None
    try:
        data = json.loads(raw) if isinstance(raw, str) else raw
        return FORMS[data["form"]], dict(data["answers"])
    except (ValueError, KeyError, TypeError):
        return None
