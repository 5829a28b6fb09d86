"""The layers of a protocol's definition, merged before it is built (SPEC §10.4).

Lowest first: the shipped `<id>.toml`, the site's `protocols_dir` file, `[protocols.<id>]` in
config.toml and, for alemtuzumab only, the old `[protocol]` table. A higher layer merges key by
key onto the lower one (tables such as `rules.<analyte>` recursively); a panel table given in a
higher layer replaces that whole panel, and `enabled = false` in it takes the panel out.

Where the specification is silent (docs/decisions.md): a panel table holding nothing but
`enabled` switches the lower layer's panel off or on again and keeps its keys, so a site can
turn on a shipped panel that is off by default without repeating it. The old `[protocol]`
table merges its panels key by key (`whole_panels=False`), as it always has. A new panel keeps
the order it is given in, after the lower layer's panels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from monitor.domain.tables import ProtocolError, key_path


def merge_layers(layers: Sequence[Mapping[str, Any]], *, where: str) -> dict[str, Any]:
    """All of one protocol's layers, lowest first, merged into one table (inputs unchanged)."""
    merged: dict[str, Any] = {}
    for layer in layers:
        merged = merge_layer(merged, layer, where=where)
    return merged


def merge_layer(
    lower: Mapping[str, Any],
    higher: Mapping[str, Any],
    *,
    where: str,
    whole_panels: bool = True,
) -> dict[str, Any]:
    """`higher` merged onto `lower`; `where` names the protocol in an error (`protocols.<id>`)."""
    merged = _copy_table(lower)
    for key, value in higher.items():
        if key == "panels" and isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge_panels(merged[key], value, key_path(where, key), whole_panels)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge_tables(merged[key], value)
        else:
            merged[key] = _copy(value)
    return merged


def _merge_panels(
    lower: dict[str, Any], higher: Mapping[str, Any], where: str, whole_panels: bool
) -> dict[str, Any]:
    merged = dict(lower)
    for name, panel in higher.items():
        if not isinstance(panel, dict):
            merged[name] = panel  # build_protocol names it: "must be a table"
            continue
        enabled = panel.get("enabled", True)
        if not isinstance(enabled, bool):
            raise ProtocolError(key_path(key_path(where, name), "enabled"), "must be true or false")
        below = merged.get(name)
        if isinstance(below, dict) and (set(panel) == {"enabled"} or not whole_panels):
            merged[name] = _merge_tables(below, panel)
        else:
            merged[name] = _copy(panel)
    return merged


def _merge_tables(lower: Mapping[str, Any], higher: Mapping[str, Any]) -> dict[str, Any]:
    merged = _copy_table(lower)
    for key, value in higher.items():
        below = merged.get(key)
        if isinstance(value, dict) and isinstance(below, dict):
            merged[key] = _merge_tables(below, value)
        else:
            merged[key] = _copy(value)
    return merged


def _copy_table(table: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _copy(item) for key, item in table.items()}


def _copy(value: Any) -> Any:
    """A copy of nested tables and lists, so a merge never changes its inputs."""
    if isinstance(value, Mapping):
        return _copy_table(value)
    if isinstance(value, list):
        return [_copy(item) for item in value]
    return value
