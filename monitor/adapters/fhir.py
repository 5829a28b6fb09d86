"""FHIR R4 JSON to parsed results: an Observation, a DiagnosticReport, or a Bundle of them.

Observations are found wherever they are: bundle entries (nested bundles too), a report's
`contained` resources, and its `result` references resolved within the file. A member of a
report or panel (`hasMember`) without its own effective time takes the report's, as the spec's
General Health Profile does. Each item's raw text is a small Bundle with the Observation (and
its Patient, when the file had one), so a quarantine retry can read it on its own.
"""

from __future__ import annotations

import json
from collections import ChainMap
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from monitor.adapters import fhir_values as fv
from monitor.adapters import limits
from monitor.services.results.incoming import (
    Incoming,
    Parsed,
    Problem,
    Skipped,
    StatedPatient,
    stated_patient,
)

FORMAT = "fhir"
MAX_DEPTH = 16
_LAB_CATEGORY = "laboratory"


@dataclass(frozen=True)
class FhirOptions:
    timezone: str
    source: str | None = None
    identifier_type: str | None = None


@dataclass(frozen=True)
class _Inherited:
    """What a report or panel passes down to its members."""

    effective: str = ""
    accession: str = ""


@dataclass
class _Walk:
    options: FhirOptions
    index: MutableMapping[str, dict[str, Any]] = field(default_factory=dict)
    found: list[tuple[dict[str, Any], _Inherited, dict[str, Any]]] = field(default_factory=list)
    seen: set[int] = field(default_factory=set)
    problems: list[Parsed] = field(default_factory=list)
    contained: dict[int, dict[str, dict[str, Any]]] = field(default_factory=dict)
    patient_sizes: dict[int, int] = field(default_factory=dict)


def parse_fhir(text: str, options: FhirOptions) -> list[Parsed]:
    """Every Observation in a FHIR JSON document."""
    source = options.source or "fhir"
    try:
        document = json.loads(text.lstrip("\ufeff"), parse_float=Decimal)
    except (ValueError, RecursionError) as error:
        return [Problem(f"not valid JSON ({str(error)[:200]})", source, FORMAT, text, True)]
    kind = fv.text(fv.as_dict(document).get("resourceType"))
    if kind not in ("Bundle", "Observation", "DiagnosticReport"):
        reason = f"not a lab result: resourceType {kind or 'missing'}"
        return [Problem(reason, source, FORMAT, text, True)]
    if too_large := over_limits(document):
        return [Problem(too_large, source, FORMAT, text, True)]
    walk = _Walk(options)
    _visit(walk, document, _Inherited(), 0)
    if too_large := _patient_over_limit(walk):
        return [Problem(too_large, source, FORMAT, text, True)]
    stated = _stated_patients(walk, source)
    items = walk.problems + [
        _item(walk, *found, source, stated.get(id(found[2])) if found[2] else None)
        for found in walk.found
    ]
    if not items:
        return [Problem("the document holds no Observations", source, FORMAT, text, True)]
    return items


def over_limits(document: Any) -> str | None:
    """Why a document is too large to take in (limits.py), or None: its resources are counted
    wherever they are (entries, nested bundles, contained), without following references."""
    count, pending = 0, [document]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            count += "resourceType" in value
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    if count > limits.MAX_FHIR_RESOURCES:
        return limits.too_many("the document", count, limits.MAX_FHIR_RESOURCES, "resources")
    return None


def _patient_over_limit(walk: _Walk) -> str | None:
    """A Patient is copied into the raw text of each of its results, so it is bounded."""
    for _, _, patient in walk.found:
        if not patient or id(patient) in walk.patient_sizes:
            continue
        size = len(json.dumps(patient, default=str))
        walk.patient_sizes[id(patient)] = size
        if size > limits.MAX_FHIR_PATIENT_CHARS:
            return limits.too_long("a Patient resource", size, limits.MAX_FHIR_PATIENT_CHARS)
    return None


def _visit(walk: _Walk, resource: Any, inherited: _Inherited, depth: int) -> None:
    resource = fv.as_dict(resource)
    if depth > MAX_DEPTH:
        return
    kind = resource.get("resourceType")
    if kind == "Bundle":
        _bundle(walk, resource, inherited, depth)
    elif kind == "DiagnosticReport":
        _report(walk, resource, inherited, depth)
    elif kind == "Observation" and id(resource) not in walk.seen:
        walk.seen.add(id(resource))
        walk.found.append((resource, inherited, _patient(walk, resource)))
        members = fv.as_list(resource.get("hasMember"))
        passed = _pass_down(resource, inherited)
        for reference in members:
            _visit(walk, _resolve(walk, reference, resource), passed, depth + 1)


def _bundle(walk: _Walk, bundle: dict[str, Any], inherited: _Inherited, depth: int) -> None:
    """References resolve within this bundle (and its parents), never in a sibling bundle."""
    outer = walk.index
    walk.index = ChainMap({}, outer)  # a nested bundle sees its parents' entries, not a copy
    entries = [fv.as_dict(e) for e in fv.as_list(bundle.get("entry"))]
    for entry in entries:
        _remember(walk, fv.as_dict(entry.get("resource")), fv.text(entry.get("fullUrl")))
    # Reports and panels first, so their members inherit the report's time and accession.
    for entry in sorted(entries, key=lambda e: _order(fv.as_dict(e.get("resource")))):
        _visit(walk, entry.get("resource"), inherited, depth + 1)
    walk.index = outer


def _report(walk: _Walk, report: dict[str, Any], inherited: _Inherited, depth: int) -> None:
    for contained in fv.as_list(report.get("contained")):
        contained = fv.as_dict(contained)
        _remember(walk, contained, "#" + fv.text(contained.get("id")))
    passed = _pass_down(report, inherited)
    missing = []
    for reference in fv.as_list(report.get("result")):
        target = _resolve(walk, reference, report)
        if target:
            _visit(walk, target, passed, depth + 1)
        else:
            missing.append(fv.text(fv.as_dict(reference).get("reference")))
    if missing:
        reason = f"the report's results are not in this file: {', '.join(missing)}"
        source = walk.options.source or "fhir"
        walk.problems.append(Problem(reason, source, FORMAT, json.dumps(report, default=str)))


def _order(resource: dict[str, Any]) -> int:
    if resource.get("resourceType") == "DiagnosticReport":
        return 0
    return 1 if resource.get("hasMember") else 2


def _pass_down(resource: dict[str, Any], inherited: _Inherited) -> _Inherited:
    identifier: Any = next(iter(fv.as_list(resource.get("identifier"))), {})
    return _Inherited(
        effective=fv.effective(resource) or inherited.effective,
        accession=inherited.accession or fv.text(fv.as_dict(identifier).get("value")),
    )


def _remember(walk: _Walk, resource: dict[str, Any], url: str) -> None:
    kind, rid = fv.text(resource.get("resourceType")), fv.text(resource.get("id"))
    for key in (url, f"{kind}/{rid}" if kind and rid else ""):
        if key and key != "#":
            walk.index.setdefault(key, resource)


def _resolve(walk: _Walk, reference: Any, holder: dict[str, Any]) -> dict[str, Any]:
    ref = fv.text(fv.as_dict(reference).get("reference"))
    if ref.startswith("#") and (found := _contained_of(walk, holder).get(ref)):
        return found
    return walk.index.get(ref, {})


def _stated_patients(walk: _Walk, source: str) -> dict[int, StatedPatient]:
    """Who each Patient in the file is (birthDate, name.family), by the Patient's id(): its
    Observations share one StatedPatient whose raw text is a Bundle of the Patient and all of
    them, what the quarantine keeps if the record disagrees."""
    groups: dict[int, tuple[dict[str, Any], list[dict[str, Any]]]] = {}
    for obs, inherited, patient in walk.found:
        if patient:
            groups.setdefault(id(patient), (patient, []))[1].append(
                _observation_copy(obs, inherited, patient)
            )
    found = {}
    for key, (patient, observations) in groups.items():
        mrns = _mrns(observations[0], patient, walk.options)
        where = (source, FORMAT, _bundle_text(patient, observations))
        stated = stated_patient(
            mrns, fv.text(patient.get("birthDate")), fv.family_names(patient), where
        )
        if stated is not None:
            found[key] = stated
    return found


def _contained_of(walk: _Walk, holder: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The holder's contained resources by "#id", indexed once per holder (the first of an id
    wins, as a search in order would find it)."""
    if id(holder) not in walk.contained:
        index: dict[str, dict[str, Any]] = {}
        for contained in fv.as_list(holder.get("contained")):
            contained = fv.as_dict(contained)
            index.setdefault("#" + fv.text(contained.get("id")), contained)
        walk.contained[id(holder)] = index
    return walk.contained[id(holder)]


def _item(
    walk: _Walk,
    obs: dict[str, Any],
    inherited: _Inherited,
    patient: dict[str, Any],
    source: str,
    stated: StatedPatient | None,
) -> Parsed:
    raw = _bundle_text(patient, [_observation_copy(obs, inherited, patient)])
    try:
        return _observation(walk, (obs, inherited, patient), source, raw, stated)
    except ValueError as error:
        return Problem(str(error), source, FORMAT, raw, stated=stated)


def _observation(
    walk: _Walk,
    found: tuple[dict[str, Any], _Inherited, dict[str, Any]],
    source: str,
    raw: str,
    stated: StatedPatient | None,
) -> Parsed:
    obs, inherited, patient = found
    status = fv.text(obs.get("status"))
    if status in fv.NOT_RESULTS:
        return Skipped(f"Observation status {status}")
    if status not in fv.STATUSES:
        raise ValueError(f"unknown Observation status {status!r}")
    categories = fv.category_codes(obs)
    if categories and _LAB_CATEGORY not in categories:
        return Skipped(f"not a laboratory result (category {', '.join(sorted(categories))})")
    value, unit = fv.value_and_unit(obs)
    if not value and obs.get("hasMember"):
        return Skipped("a panel: its members are the results")
    when = fv.effective(obs) or inherited.effective
    if not when:
        raise ValueError("no collection time (effective[x])")
    collected_on, collected_at = fv.collection_time(when, walk.options.timezone)
    low, high = fv.reference_range(obs)
    identifier: Any = next(iter(fv.as_list(obs.get("identifier"))), {})
    accession = inherited.accession or fv.text(fv.as_dict(identifier).get("value"))
    return Incoming(
        mrns=_mrns(obs, patient, walk.options),
        codes=fv.codes_of(obs.get("code")),
        value=value,
        unit=unit,
        collected_on=collected_on,
        collected_at=collected_at,
        status=fv.STATUSES[status],
        source=source,
        format=FORMAT,
        raw=raw,
        accession=(accession or fv.text(obs.get("id")) or None),
        ref_low=low,
        ref_high=high,
        lab_flag=fv.lab_flag(obs),
        stated=stated,
    )


def _patient(walk: _Walk, obs: dict[str, Any]) -> dict[str, Any]:
    found = _resolve(walk, obs.get("subject"), obs)
    return found if found.get("resourceType") == "Patient" else {}


def _mrns(obs: dict[str, Any], patient: dict[str, Any], options: FhirOptions) -> tuple[str, ...]:
    """subject.identifier, else the identifiers of the Patient the subject refers to. A bare
    reference's logical id is never taken for an MRN: ids of another system could collide."""
    subject = fv.as_dict(obs.get("subject"))
    direct = fv.text(fv.as_dict(subject.get("identifier")).get("value"))
    return (direct,) if direct else fv.identifiers(patient, options.identifier_type)


def _observation_copy(
    obs: dict[str, Any], inherited: _Inherited, patient: dict[str, Any]
) -> dict[str, Any]:
    """The Observation with what it inherited, standing on its own (no hasMember)."""
    observation = dict(obs)
    observation.pop("hasMember", None)
    if inherited.effective and not fv.effective(obs):
        observation["effectiveDateTime"] = inherited.effective
    if inherited.accession:
        observation["identifier"] = [{"value": inherited.accession}]
    if patient:
        reference = f"Patient/{fv.text(patient.get('id'))}"
        observation["subject"] = {**fv.as_dict(obs.get("subject")), "reference": reference}
    return observation


def _bundle_text(patient: dict[str, Any], observations: list[dict[str, Any]]) -> str:
    """A self-contained Bundle: the Patient (if any) and the Observations, for a retry."""
    entries = [{"resource": patient}] if patient else []
    entries += [{"resource": observation} for observation in observations]
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": entries}
    return json.dumps(bundle, default=_json_number, ensure_ascii=False)


def _json_number(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return str(value)
