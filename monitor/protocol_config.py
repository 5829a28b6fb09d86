"""The monitoring protocols as data, read in layers and built once (SPEC §10.1, §10.4).

Layers, lowest first: the files shipped in `monitor/protocols/` (`<id>.toml`), the site's
`[clinic] protocols_dir` files (`<id>.toml`; a relative folder is from the working directory,
like `email.file_dir`), the `[protocols.<id>]` tables of config.toml and, for alemtuzumab only,
the old `[protocol]` table (what it changes from today's defaults, config.py's
`_old_protocol_layer`; its panels merged key by key, as `[protocol]` always was).
`domain.protocol_layers` merges them and `domain.phases.build_protocol` checks the result; an
error names the file of the highest layer that holds the key, and the key as that file spells
it (`panels.jcv.phases[1].until` in a file, `protocols.jcv...` or `protocol.panels...` in
config.toml).

Schedules follow the built plans (`Config.catalogue`), alemtuzumab's included.
"""

from __future__ import annotations

import ast
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitor.domain.analytes import build_analytes, catalogue_with
from monitor.domain.phases import ProtocolPlan, build_protocol
from monitor.domain.protocol_layers import merge_layer
from monitor.domain.tables import ProtocolError, key_path
from monitor.domain.units import DEFAULT_CATALOGUE, Analyte, AnalyteCatalogue
from monitor.errors import MonitorError

SHIPPED_DIR = Path(__file__).resolve().parent / "protocols"
DEFAULT_PROTOCOL_ID = "alemtuzumab"
MAX_FILE_BYTES = 1_000_000
MAX_FILES = 200


class ProtocolConfigError(MonitorError):
    """A protocol file or table that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class Layer:
    """One layer of one protocol: where it is written, its table, and how that file spells the
    protocol's own key path (`""` in a `<id>.toml`, `protocols.<id>` or `protocol` in config)."""

    source: str
    table: Mapping[str, Any]
    prefix: str
    whole_panels: bool = True


@dataclass(frozen=True)
class Definitions:
    """What the protocol layers define: the protocols, and the analyte catalogue (SPEC §2's
    analytes, the `[analytes]` of every protocol file and table, then config.toml's own)."""

    protocols: dict[str, ProtocolPlan]
    analytes: AnalyteCatalogue


def load_protocols(
    tables: Mapping[str, Any],
    old_table: Mapping[str, Any] | None,
    *,
    source: str,
    protocols_dir: str | None,
    shipped_dir: Path = SHIPPED_DIR,
    analytes: Mapping[str, Any] | None = None,
) -> dict[str, ProtocolPlan]:
    """Every protocol, id -> plan, sorted by id (`load_definitions` without the analytes)."""
    return load_definitions(
        tables,
        old_table,
        source=source,
        protocols_dir=protocols_dir,
        shipped_dir=shipped_dir,
        analytes=analytes,
    ).protocols


def load_definitions(
    tables: Mapping[str, Any],
    old_table: Mapping[str, Any] | None,
    *,
    source: str,
    protocols_dir: str | None,
    shipped_dir: Path = SHIPPED_DIR,
    analytes: Mapping[str, Any] | None = None,
) -> Definitions:
    """Every protocol, id -> plan, sorted by id, and the analytes: `tables` is config.toml's
    `[protocols]`, `old_table` the `[protocol]` layer (None for none), `source` config.toml's
    name, `analytes` config.toml's `[analytes]` (each replaces a file's analyte of that name)."""
    layers = _layers(tables, old_table, source, protocols_dir, shipped_dir)
    catalogue = _catalogue(layers, analytes or {}, source)
    plans = {
        protocol_id: build_layers(protocol_id, layers[protocol_id], catalogue)
        for protocol_id in sorted(layers)
    }
    return Definitions(plans, catalogue)


def _layers(
    tables: Mapping[str, Any],
    old_table: Mapping[str, Any] | None,
    source: str,
    protocols_dir: str | None,
    shipped_dir: Path,
) -> dict[str, list[Layer]]:
    layers: dict[str, list[Layer]] = {}
    for protocol_id, layer in _file_layers(shipped_dir, str(shipped_dir)):
        layers.setdefault(protocol_id, []).append(layer)
    if protocols_dir is not None:
        for protocol_id, layer in _file_layers(Path(protocols_dir), "clinic.protocols_dir"):
            layers.setdefault(protocol_id, []).append(layer)
    for protocol_id, table in tables.items():
        prefix = key_path("protocols", protocol_id)
        if not isinstance(table, dict):
            raise ProtocolConfigError(f"{source}: {prefix}: must be a table")
        layers.setdefault(protocol_id, []).append(Layer(source, table, prefix))
    if old_table is not None:
        layers.setdefault(DEFAULT_PROTOCOL_ID, []).append(
            Layer(
                source,
                old_table,
                "protocol",
                False,
            )
        )
    return layers


def _catalogue(
    layers: Mapping[str, list[Layer]], config_tables: Mapping[str, Any], source: str
) -> AnalyteCatalogue:
    """SPEC §2's analytes, those of every layer (two layers that define a name must agree),
    then config.toml's `[analytes]`, which replace a layer's definition of the same name."""
    found: dict[str, tuple[Analyte, str]] = {}
    for protocol_layers in layers.values():
        for layer in protocol_layers:
            if "analytes" not in layer.table:
                continue
            where = f"{layer.prefix}.analytes" if layer.prefix else "analytes"
            for name, analyte in _analytes(layer.table["analytes"], where, layer.source).items():
                earlier = found.setdefault(name, (analyte, layer.source))
                if earlier[0] != analyte:
                    raise ProtocolConfigError(
                        f"{layer.source}: {where}.{name}: defined differently in {earlier[1]}"
                    )
    added = {name: analyte for name, (analyte, _) in found.items()}
    added.update(_analytes(config_tables, "analytes", source))
    try:
        return catalogue_with(added)
    except ProtocolError as error:
        raise ProtocolConfigError(f"{source}: {error}") from None


def _analytes(tables: Any, where: str, source: str) -> dict[str, Analyte]:
    try:
        return build_analytes(tables, where)
    except ProtocolError as error:
        raise ProtocolConfigError(f"{source}: {error}") from None


def build_layers(
    protocol_id: str, layers: list[Layer], analytes: AnalyteCatalogue = DEFAULT_CATALOGUE
) -> ProtocolPlan:
    """One protocol from its layers (lowest first; their `analytes` tables are the catalogue's,
    read by `_catalogue`); a ProtocolError becomes a message naming the file and the key."""
    where = key_path("protocols", protocol_id)
    merged: dict[str, Any] = {}
    try:
        for layer in layers:
            table = {key: value for key, value in layer.table.items() if key != "analytes"}
            merged = merge_layer(merged, table, where=where, whole_panels=layer.whole_panels)
        return build_protocol(protocol_id, merged, where=where, known_analytes=analytes.names)
    except ProtocolError as error:
        raise ProtocolConfigError(_located(error, where, layers, merged)) from None


# --- the layers ------------------------------------------------------------------------------


def _file_layers(folder: Path, named_by: str) -> list[tuple[str, Layer]]:
    """Each `<id>.toml` in `folder` (other names and hidden files are not read), by name."""
    if not folder.is_dir():
        raise ProtocolConfigError(f"{named_by}: {folder} is not a folder")
    try:
        paths = sorted(
            path
            for path in folder.iterdir()
            if path.suffix == ".toml" and not path.name.startswith(".")
        )
    except OSError as error:
        raise ProtocolConfigError(
            f"{named_by}: cannot read {folder}: {error.strerror or error}"
        ) from None
    if len(paths) > MAX_FILES:
        raise ProtocolConfigError(f"{named_by}: {folder} holds over {MAX_FILES} .toml files")
    return [(path.stem, Layer(str(path), _read_toml(path), "")) for path in paths]


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise ProtocolConfigError(f"cannot read {path}: {error.strerror or error}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ProtocolConfigError(f"{path} is over {MAX_FILE_BYTES} bytes: not a protocol file")
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ProtocolConfigError(f"{path} is not UTF-8 text (save it as UTF-8)") from None
    except (tomllib.TOMLDecodeError, RecursionError) as error:
        detail = error if isinstance(error, tomllib.TOMLDecodeError) else "nested too deeply"
        raise ProtocolConfigError(f"{path} is not valid TOML: {detail}") from None


# --- naming the file and the key of an error --------------------------------------------------

_STEP = re.compile(r"\.([A-Za-z0-9_\-]+)|\.('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")|\[(\d+)\]")


def _located(error: ProtocolError, where: str, layers: list[Layer], merged: Any) -> str:
    """`<file>: <key as that file spells it>: <problem>`. The file is the highest layer that
    holds as much of the key's path as the merged table does: the one whose value was read, or
    for a missing key the one that gave its table (a panel a higher layer replaced whole is not
    blamed on the lower file)."""
    steps = _steps(error.path[len(where) :]) if error.path.startswith(where) else None
    if steps is None or not layers:
        sources = ", ".join(dict.fromkeys(layer.source for layer in layers))
        return f"{sources}: {error.path}: {error.problem}"
    read = _depth(merged, steps)
    best = next(
        (layer for layer in reversed(layers) if _depth(layer.table, steps) >= read), layers[-1]
    )
    rest = error.path[len(where) :]
    if best.prefix:
        shown = best.prefix + rest
    else:
        shown = rest.lstrip(".") or "(top level)"
    return f"{best.source}: {shown}: {error.problem}"


def _steps(rest: str) -> list[str | int] | None:
    steps: list[str | int] = []
    position = 0
    while position < len(rest):
        match = _STEP.match(rest, position)
        if match is None:
            return None
        plain, quoted, index = match.groups()
        steps.append(int(index) if index is not None else plain or ast.literal_eval(quoted))
        position = match.end()
    return steps


def _depth(table: Any, steps: list[str | int]) -> int:
    """How many of `steps` lead through `table`."""
    depth = 0
    node = table
    for step in steps:
        if isinstance(step, int) and isinstance(node, list) and step < len(node):
            node = node[step]
        elif isinstance(step, str) and isinstance(node, dict) and step in node:
            node = node[step]
        else:
            break
        depth += 1
    return depth
