"""A protocol in the words a clinician checks it by (SPEC §10, issue 13): one home for them.

`schedule_words` says one panel's schedule as a sentence ("every 2 weeks for 6 months, then
every 2 months"), `monitoring_words` a protocol's end and anchor, `window_words` a panel's
window. They read `phases.ProtocolPlan` as built (`every_months = m` is one `every` phase from
0), and follow `phases.due_dates`' rules, so the words say what the schedule does:

* An `every` phase's first date is one step after its `from` (`(A + from) + k*every`, k >= 1),
  so an explicit start reads "after month 6": "every 3 months after month 6" is due at 9, 12...
* `until` is inclusive: "for 6 months" and "until month 24" both include that month's date.
* A phase that starts where the previous one stopped (its `until`, or an `at` phase's last
  offset) reads "then ..."; one that starts elsewhere reads "and ..." with its own start.
* Offsets count from the anchor (a course's last dose, a continuous treatment's start), which
  `monitoring_words` names once per protocol rather than in every panel's sentence.
"""

from __future__ import annotations

from monitor.domain.lengths import Length, Unit
from monitor.domain.phases import Kind, PanelPlan, Phase, ProtocolPlan

_UNIT_WORDS = {Unit.DAYS: "day", Unit.WEEKS: "week", Unit.MONTHS: "month"}
_SEX_WORDS = {"F": "women only (recorded sex F)", "M": "men only (recorded sex M)"}


def counted(count: int, noun: str) -> str:
    """`1 month`, `6 months`: a count with its noun in the right number."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def length_words(length: Length) -> str:
    """A duration: `2 weeks`, `1 month`, `14 days`."""
    return counted(length.count, _UNIT_WORDS[length.unit])


def offset_words(length: Length) -> str:
    """A point after the anchor: `month 6`, `week 10`, `day 14`."""
    return f"{_UNIT_WORDS[length.unit]} {length.count}"


def every_words(length: Length) -> str:
    """`every month`, `every 2 weeks` (a step of one unit has no number)."""
    noun = _UNIT_WORDS[length.unit]
    return f"every {noun}" if length.count == 1 else f"every {counted(length.count, noun)}"


def at_words(offsets: tuple[Length, ...]) -> str:
    """`at 3 months`, `at 2 and 6 months`, `at 2 weeks, 1 month and 6 months` (given order)."""
    if len({offset.unit for offset in offsets}) == 1:
        numbers = [str(offset.count) for offset in offsets]
        noun = _UNIT_WORDS[offsets[0].unit]
        plural = len(offsets) > 1 or offsets[0].count != 1
        return f"at {_listed(numbers)} {noun}{'s' if plural else ''}"
    return "at " + _listed([length_words(offset) for offset in offsets])


def _listed(items: list[str]) -> str:
    """`a`, `a and b`, `a, b and c`."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def schedule_words(panel: PanelPlan, kind: Kind = Kind.COURSES) -> str:
    """The panel's schedule as one sentence (without a capital or a full stop, for a table)."""
    parts = [_phase_words(phase, index, panel.phases) for index, phase in enumerate(panel.phases)]
    text = ", ".join(parts)
    if panel.baseline:
        before = "before each course's first dose" if kind is Kind.COURSES else "at the start"
        text = f"{before} (baseline), then {text}"
    if panel.indefinite:
        text += _indefinite_words(panel.phases[-1])
    if panel.sex is not None:
        text += f"; {sex_words(panel.sex)}"
    return text


def _phase_words(phase: Phase, index: int, phases: tuple[Phase, ...]) -> str:
    """One phase: its step, then its start only where it does not follow on (module doc)."""
    if phase.every is None:
        text = at_words(phase.at)
        return text if index == 0 else f"and {text}"
    start = phase.from_ or Length(0, phase.every.unit)
    follows = index > 0 and start == _stop_of(phases[index - 1])
    text = every_words(phase.every)
    if index == 0 and start.count == 0:
        if phase.until is not None:
            text += f" for {length_words(phase.until)}"
        return text
    if not follows:
        text += " from the start" if start.count == 0 else f" after {offset_words(start)}"
    if phase.until is not None:
        text += f" until {offset_words(phase.until)}"
    if index == 0:
        return text
    return f"then {text}" if follows else f"and {text}"


def _indefinite_words(last: Phase) -> str:
    """An indefinite panel ignores the monitoring end (SPEC §10.4); an open last phase then runs
    while the patient is active, a bounded one still stops at its own `until`."""
    if last.every is not None and last.until is None:
        return ", for as long as the patient is active, beyond the end of monitoring"
    return "; the end of monitoring does not cut it short"


def _stop_of(phase: Phase) -> Length | None:
    """Where a phase stops, for the next one to follow on: its `until`, or its last `at`."""
    return phase.until if phase.every is not None else phase.at[-1]


def sex_words(sex: str | None) -> str:
    """Who a panel applies to by recorded sex (SPEC §10.4: exactly that value)."""
    return "everyone" if sex is None else _SEX_WORDS[sex]


def window_words(panel: PanelPlan) -> str:
    """`7 days before to 7 days after the due date`; a side of 0 days is the due date itself."""
    before = counted(panel.window_before_days, "day") + " before"
    after = counted(panel.window_after_days, "day") + " after"
    if panel.window_before_days == 0:
        before = "the due date"
    if panel.window_after_days == 0:
        return f"{before} to the due date" if panel.window_before_days else "the due date only"
    return f"{before} to {after} the due date"


def monitoring_words(plan: ProtocolPlan) -> str:
    """When monitoring ends, what times count from and the baseline window, in sentences."""
    if plan.kind is Kind.COURSES:
        sentences = [
            _courses_end(plan.monitoring_months),
            "Times count from the last dose of each course.",
        ]
        baseline_on = "each course's first dose"
    else:
        sentences = [_continuous_end(plan), "Times count from the treatment's start."]
        baseline_on = "the start"
    if any(panel.baseline for panel in plan.panels):
        days = counted(plan.baseline_window_days, "day")
        sentences.append(f"Baseline tests are due on {baseline_on}, taken up to {days} before.")
    return " ".join(sentences)


def _courses_end(months: int | None) -> str:
    if months is None:
        return "Monitoring has no end."
    return f"Monitoring ends {counted(months, 'month')} after the last dose of the last course."


def _continuous_end(plan: ProtocolPlan) -> str:
    after = plan.after_stop_months
    text = "Continuous: monitoring goes on while the treatment is taken"
    text += f" and for {counted(after, 'month')} after a stop" if after else ", and ends at a stop"
    if plan.monitoring_months is not None:
        cap = counted(plan.monitoring_months, "month")
        text += f"; it ends {cap} after the start at the latest"
    return text + "."
