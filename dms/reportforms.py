"""Report forms as data: the pilot-site and expert-site forms of the methodical recommendations on testing the
cross-industry certification model (seed 000, appendices 1 and 2) and the questionnaire of the test of the
monitoring model of certification centres (seed 001). A form is sections of questions; validation, the web form,
the PDF and the aggregate view all read these tables. Pure data and checks: no Flask, no database."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Callable, Mapping

CHOICE, TEXT, NUMBER, DATE = "choice", "text", "number", "date"

# Scales of the choice questions: (stored code, label).
MATCH = (("match", "соответствует"), ("partial", "частично соответствует"), ("mismatch", "не соответствует"))
IMPLEMENTED = (("yes", "реализуется"), ("no", "не реализуется"))
TAKEN = (("yes", "да"), ("no", "нет"))
COMPLETENESS = (("full", "полная"), ("partial", "частичная"), ("insufficient", "недостаточная"))
ADEQUACY = (("adequate", "адекватна"), ("partial", "частично адекватна"), ("inadequate", "неадекватна"))
AGREE = (("yes", "да"), ("rather_yes", "скорее да"), ("rather_no", "скорее нет"), ("no", "нет"))
SUFFICIENCY = (("sufficient", "достаточны"), ("partial", "частично достаточны"), ("insufficient", "недостаточны"))
CHANNELS = (("phone", "телефонная «горячая линия»"), ("email", "электронная почта"),
            ("forum", "консультационный форум на странице проекта"), ("none", "не обращались"))

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
    title: str
    questions: tuple[Question, ...]
    level: int = 1                     # 1: a block of the model or a part of a questionnaire; 2: a process
    hint: str = ""


@dataclass(frozen=True)
class ReportForm:
    code: str
    title: str
    kind: str                          # the report's meta "kind" (dms.doctypes)
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
    ("Управление жизненным циклом центра (-ов) оценки и сертификации квалификаций", (
        "Информирование и консультирование учредителей",
        "Включение в Регистр",
        "Мониторинг сети центров оценки и сертификации квалификаций",
        "Аудит центров оценки и сертификации квалификаций",
        "Исключение информации о центре оценки и сертификации квалификаций из Регистра системы оценки и "
        "сертификации квалификаций",
    )),
    ("Управление жизненным циклом экспертно-методического центра", (
        "Информирование и консультирование учредителей",
        "Включение в Регистр системы оценки и сертификации квалификаций",
        "Мониторинг сети экспертно-методических центров",
        "Аудит экспертно-методических центров",
        "Исключение информации об экспертно-методическом центре из Регистра системы оценки и сертификации "
        "квалификаций",
    )),
    ("Обслуживание центра (-ов) оценки и сертификации квалификаций", (
        "Консультирование центра оценки и сертификации квалификаций",
        "Методическая поддержка центра оценки и сертификации квалификаций",
        "Обеспечение центра оценки и сертификации квалификаций бланочной документацией",
        "Отражение результатов деятельности центра оценки и сертификации квалификаций в Регистре системы "
        "оценки и сертификации квалификаций",
    )),
    ("Обслуживание соискателей в центре оценки и сертификации квалификаций", (
        "Информирование и консультирование соискателей",
        "Обработка заявления соискателя",
        "Оценка квалификации соискателя",
        "Сертификация квалификации соискателя",
        "Управление жизненным циклом квалификации соискателя",
    )),
    ("Признание действующей практики сертификации квалификаций", (
        "Анализ рассматриваемой автономной практики и подготовка рекомендаций",
        "Заключение соглашений с держателем практики",
        "Создание информационной коммуникации с Регистром системы оценки и сертификации квалификаций",
        "Мониторинг функционирования автономных практик",
    )),
)

# The columns of the tables of Приложение 1: the parameters that characterise a process.
PROCESS_PARAMETERS: tuple[tuple[str, str], ...] = (
    ("participants", "Участники деятельности (структуры, физические лица)"),
    ("methods", "Содержание деятельности: способы деятельности"),
    ("sequence", "Содержание деятельности: последовательность действий участников (мероприятия)"),
    ("objects", "Содержание деятельности: объекты деятельности (ресурсы, подлежащие обмену/изменению)"),
    ("methodical", "Регуляторы процессов: методическая поддержка"),
    ("legal", "Регуляторы процессов: правовая поддержка"),
    ("results", "Выходы процессов: результаты (продукты и услуги)"),
    ("documents", "Выходы процессов: документы"),
)

DIVERGENCE_NOTE = "При расхождении: описание по практике площадки и обоснование"


def _pilot_sections() -> tuple[Section, ...]:
    sections: list[Section] = []
    for b, (block, processes) in enumerate(MODEL_BLOCKS, start=1):
        taken = f"b{b}.taken"
        sections.append(Section(f"b{b}", f"Блок {b}. «{block}»", (
            Question(taken, "Блок взят в работу пилотной площадкой", CHOICE, True, TAKEN),
        ), hint="Если блок не взят в работу, ответы по его процессам не сохраняются."))
        for p, process in enumerate(processes, start=1):
            implemented = f"b{b}.p{p}.implemented"
            questions = [Question(implemented, "Процесс в практике оценки и сертификации площадки", CHOICE, True,
                                  IMPLEMENTED, when=(taken, ("yes",)))]
            for code, label in PROCESS_PARAMETERS:
                choice = f"b{b}.p{p}.{code}"
                questions.append(Question(choice, label, CHOICE, True, MATCH, when=(implemented, ("yes",))))
                questions.append(Question(f"{choice}.note", DIVERGENCE_NOTE, TEXT, True,
                                          when=(choice, ("partial", "mismatch")), note_for=choice))
            sections.append(Section(f"b{b}.p{p}", f"{b}.{p}. {process}", tuple(questions), level=2))
        sections.append(Section(f"b{b}.end", f"Блок {b}: дополнения и рекомендации", (
            Question(f"b{b}.extra", "Процессы, которыми площадка дополняет перечень процессов блока", TEXT,
                     when=(taken, ("yes",))),
            Question(f"b{b}.recommendations", "Рекомендации по доработке", TEXT, True, when=(taken, ("yes",)),
                     recommendation=True),
        ), level=2))
    sections.append(Section("summary", "Обобщённые рекомендации по доработке модели", (
        Question("summary.recommendations", "Обобщённые рекомендации по доработке модели по итогам "
                 "сопоставительного анализа", TEXT, True, max_length=4000, recommendation=True),
        Question("summary.experts", "Эксперты пилотной площадки, заполнившие форму", TEXT, max_length=500),
    )))
    return tuple(sections)


def _expert_sections() -> tuple[Section, ...]:
    sections: list[Section] = [Section("pilot", "Рассмотренные материалы", (
        Question("pilot.sites", "Пилотная площадка (площадки), материалы практической проверки которой "
                 "рассмотрены", TEXT, True, max_length=500),
    ))]
    for b, (block, processes) in enumerate(MODEL_BLOCKS, start=1):
        reviewed = f"b{b}.reviewed"
        sections.append(Section(f"b{b}", f"Блок {b}. «{block}»", (
            Question(reviewed, "Основной тип организационных процессов рассмотрен экспертной площадкой", CHOICE,
                     True, TAKEN),
        ), hint="Если блок не рассматривался, ответы по его процессам не сохраняются."))
        for p, process in enumerate(processes, start=1):
            base = f"b{b}.p{p}"
            sections.append(Section(base, f"{b}.{p}. {process}", (
                Question(f"{base}.completeness", "Полнота проведённой пилотной площадкой практической проверки",
                         CHOICE, True, COMPLETENESS, when=(reviewed, ("yes",))),
                Question(f"{base}.adequacy", "Адекватность проведённой пилотной площадкой практической проверки",
                         CHOICE, True, ADEQUACY, when=(reviewed, ("yes",))),
                Question(f"{base}.assessment", "Оценка проведённой пилотной площадкой практической проверки модели",
                         TEXT, True, when=(reviewed, ("yes",))),
                Question(f"{base}.proposals", "Предложения по доработке модели (по данному организационному "
                         "процессу)", TEXT, when=(reviewed, ("yes",)), recommendation=True),
            ), level=2))
    sections.append(Section("conclusion", "Выводы и рекомендации", (
        Question("conclusion.check", "Вывод о полноте и адекватности проведённой пилотной (-ыми) площадкой (-ами) "
                 "практической проверки модели", TEXT, True, max_length=4000),
        Question("conclusion.model", "Вывод о полноте и адекватности элементов (блоков) типовой межотраслевой "
                 "модели", TEXT, True, max_length=4000),
        Question("conclusion.recommendations", "Рекомендации по доработке", TEXT, True, max_length=4000,
                 recommendation=True),
    )))
    return tuple(sections)


def _monitoring_sections() -> tuple[Section, ...]:
    return (
        Section("respondent", "Сведения о площадке и респонденте", (
            Question("respondent.filled_on", "Дата заполнения анкеты", DATE, True),
            Question("respondent.position", "Должность респондента", TEXT, True, max_length=300),
            Question("respondent.centres", "Число центров сертификации профессиональных квалификаций, участвовавших "
                     "в апробации на площадке", NUMBER, True, maximum=10_000),
            Question("respondent.experts", "Число экспертов площадки, оценивших материалы", NUMBER, maximum=10_000),
        )),
        Section("quality", "1. Повышение качества и объективности функций центров с помощью мониторинга", (
            Question("quality.quality", "Мониторинг позволяет повысить качество функций, выполняемых центрами "
                     "сертификации профессиональных квалификаций", CHOICE, True, AGREE),
            Question("quality.objectivity", "Мониторинг позволяет повысить объективность функций, выполняемых "
                     "центрами", CHOICE, True, AGREE),
            Question("quality.efficiency", "Мониторинг повышает эффективность работы центров в системе подготовки "
                     "рабочих кадров и формирования прикладных квалификаций", CHOICE, True, AGREE),
            Question("quality.note", "Комментарий", TEXT),
        )),
        Section("mechanisms", "2. Механизмы мониторинга центров", (
            Question("mechanisms.normative", "Нормативно-инструктивные механизмы мониторинга", CHOICE, True,
                     SUFFICIENCY),
            Question("mechanisms.methodical", "Методические механизмы мониторинга", CHOICE, True, SUFFICIENCY),
            Question("mechanisms.informational", "Информационные механизмы мониторинга", CHOICE, True, SUFFICIENCY),
            Question("mechanisms.note", "Что следует доработать в механизмах мониторинга", TEXT,
                     recommendation=True),
        )),
        Section("indicators", "3. Показатели и инструментарий мониторинга", (
            Question("indicators.complete", "Показатели мониторинга полно характеризуют деятельность центров",
                     CHOICE, True, AGREE),
            Question("indicators.measurable", "Показатели измеримы по данным, которыми располагают центры",
                     CHOICE, True, AGREE),
            Question("indicators.tools", "Оценочные формы и анкеты мониторинга понятны и удобны для заполнения",
                     CHOICE, True, AGREE),
            Question("indicators.hours", "Трудозатраты одного центра на заполнение форм мониторинга, чел.-часов",
                     NUMBER, True, maximum=1000),
            Question("indicators.note", "Показатели, которые следует добавить или исключить", TEXT,
                     recommendation=True),
        )),
        Section("feedback", "4. Механизм обратной связи для оценки деятельности центров", (
            Question("feedback.objective", "Механизм обратной связи позволяет получить объективную оценку "
                     "деятельности центров", CHOICE, True, AGREE),
            Question("feedback.channel", "Наиболее удобный канал консультационной поддержки апробации", CHOICE,
                     True, CHANNELS),
            Question("feedback.note", "Комментарий", TEXT),
        )),
        Section("practices", "5. Эффективные практики деятельности и взаимодействия центров", (
            Question("practices.reveals", "Модель мониторинга помогает выявить эффективные практики деятельности "
                     "центров и их взаимодействия друг с другом и средой", CHOICE, True, AGREE),
            Question("practices.list", "Эффективные практики, выявленные на площадке", TEXT),
        )),
        Section("proposals", "Предложения и замечания по доработке модели", (
            Question("proposals.text", "Предложения по доработке научно-технической модели мониторинга деятельности "
                     "центров сертификации профессиональных квалификаций", TEXT, True, max_length=4000,
                     recommendation=True),
            Question("proposals.remarks", "Замечания", TEXT),
        )),
    )


def _seed000_rules(toggle: str, message: str) -> dict[str, Any]:
    """Forms over the model's blocks: one block at least must be covered; the covered ones name the report's
    blocks."""
    codes = tuple((str(b), f"b{b}.{toggle}") for b in range(1, len(MODEL_BLOCKS) + 1))
    return {"require_any": (tuple((code, "yes") for _, code in codes), message), "block_questions": codes}


SEED000_BASIS = ("Форма по Приложению {n} к Методическим рекомендациям по проведению апробации и тиражированию "
                 "межотраслевой модели сертификации квалификаций специалистов (в том числе иностранных)")

FORMS: dict[str, ReportForm] = {f.code: f for f in (
    ReportForm(
        "pilot_site", "Отчёт пилотной площадки по итогам апробации модели сертификации квалификаций", "pilot_site",
        SEED000_BASIS.format(n=1),
        "Для каждого процесса блока, взятого в работу, укажите, реализуется ли он в практике площадки, и для "
        "каждого параметра процесса — соответствует ли его «наполнение», предложенное в модели, реальной практике. "
        "При расхождении опишите параметр по практике площадки и обоснуйте предпочтительное «наполнение».",
        _pilot_sections(), **_seed000_rules("taken", "возьмите в работу хотя бы один блок модели"),
    ),
    ReportForm(
        "expert_site", "Отчёт экспертной площадки по итогам обсуждения результатов апробации", "expert_site",
        SEED000_BASIS.format(n=2),
        "По каждому организационному процессу сопоставьте положения модели и материалы пилотных площадок, оцените "
        "полноту и адекватность проведённой ими практической проверки и сформулируйте предложения по доработке.",
        _expert_sections(), **_seed000_rules("reviewed", "отметьте хотя бы один рассмотренный блок модели"),
    ),
    ReportForm(
        "monitoring", "Анкета участника апробации модели мониторинга деятельности центров сертификации "
        "профессиональных квалификаций", "monitoring",
        "Оценочная форма по Программе проведения апробации научно-технической модели мониторинга деятельности "
        "центров сертификации профессиональных квалификаций (этап V «Заполнение оценочных форм и анкет»)",
        "Оцените возможность реализации модели мониторинга: её механизмы, показатели и инструментарий, механизм "
        "обратной связи и выявление эффективных практик; сформулируйте предложения по доработке модели.",
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
    raise ValueError("недопустимый вариант; допустимые: " + ", ".join(label for _, label in q.options))


def _as_text(q: Question, value: Any) -> str:
    text = UNPRINTABLE.sub("", str(value)).replace("\r\n", "\n").strip()
    if len(text) > q.max_length:
        raise ValueError(f"не длиннее {q.max_length} символов (сейчас {len(text)})")
    return text


def _as_number(q: Question, value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("ожидается целое число")
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValueError("ожидается целое число") from None
    if not q.minimum <= number <= q.maximum:
        raise ValueError(f"ожидается число от {q.minimum} до {q.maximum}")
    return number


def _as_date(_q: Question, value: Any) -> str:
    text = str(value).strip()
    for fmt in ("%Y-%m-%d", "%d.%m.%Y"):
        try:
            return datetime.strptime(text, fmt).date().isoformat()
        except ValueError:
            continue
    raise ValueError("ожидается дата в формате ДД.ММ.ГГГГ или ГГГГ-ММ-ДД")


CONVERTERS: dict[str, Callable[[Question, Any], Any]] = {
    CHOICE: _as_choice, TEXT: _as_text, NUMBER: _as_number, DATE: _as_date,
}


def get_form(code: str) -> ReportForm:
    try:
        return FORMS[code]
    except KeyError:
        raise FormErrors({"form": "неизвестная форма отчёта; допустимые: " + ", ".join(FORMS)}) from None


def applies(q: Question, answers: Mapping[str, Any]) -> bool:
    """Whether a question applies given the answers so far (conditions name earlier questions)."""
    return q.when is None or answers.get(q.when[0]) in q.when[1]


def validate(form: ReportForm, raw: Mapping[str, Any] | None) -> dict[str, Any]:
    """Clean answers: unknown questions, missing required answers, unknown options, over-long texts and numbers
    out of range are errors; answers to questions that do not apply are dropped."""
    raw = dict(raw or {})
    errors: dict[str, str] = {}
    if len(raw) > MAX_ANSWERS:
        raise FormErrors({"_": f"слишком много ответов (больше {MAX_ANSWERS})"})
    known = {q.code for q in form.questions()}
    for key in raw:
        if key not in known:
            errors[str(key)[:100]] = "такого вопроса нет в форме «%s»" % form.title
    clean: dict[str, Any] = {}
    for q in form.questions():
        if not applies(q, clean):
            continue
        value = raw.get(q.code)
        if value is None or (isinstance(value, str) and not value.strip()):
            if q.required:
                errors[q.code] = "обязательный ответ"
            continue
        if isinstance(value, (dict, list)):
            errors[q.code] = "ожидается одно значение"
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


# --- storage in Document.meta (dms.doctypes kind "answers") ----------------------------------------------------

def stored_answers(value: Any) -> str:
    """The report's "form_answers" metadata: {"form": code, "answers": {...}} as canonical JSON text. Text, not a
    nested object, so that the generic metadata form of the document page carries it back unchanged."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ValueError("ожидается JSON-объект {\"form\", \"answers\"}") from None
    if not isinstance(value, dict) or set(value) != {"form", "answers"} or not isinstance(value["answers"], dict):
        raise ValueError("ожидается JSON-объект {\"form\", \"answers\"}")
    form = FORMS.get(str(value["form"]))
    if form is None:
        raise ValueError("неизвестная форма отчёта; допустимые: " + ", ".join(FORMS))
    try:
        clean = validate(form, value["answers"])
    except FormErrors as exc:
        raise ValueError("ответы не соответствуют форме: " + str(exc)) from None
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
