"""Render a message from its template folder: subject, plain text and inlined HTML (pure).

`templates/email/<message>/{subject.txt,body.txt,body.html}` extend the shared layouts in
`templates/email/_base/`. The HTML is autoescaped and the text is not; a missing context key is an
error (StrictUndefined), never an empty gap in a patient's email. The HTML's `<style>` block is
copied into style attributes by css-inline, which never fetches anything from the network.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from monitor.notify.registry import registered
from monitor.resources import resource_path

if TYPE_CHECKING:
    import css_inline
    from jinja2 import Environment

_BLANK_RUNS = re.compile(r"\n{3,}")


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


@functools.cache
def environment() -> Environment:
    """The one template environment (cached: templates are compiled once per process).

    Jinja2 is imported here, on the first render, not with the module: most commands import
    the services that queue messages but render none (issue 15).
    """
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    return Environment(
        loader=FileSystemLoader(resource_path("templates")),
        undefined=StrictUndefined,
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )


@functools.cache
def _inliner() -> css_inline.CSSInliner:
    import css_inline  # on the first render, as Jinja2 is (see `environment`)

    return css_inline.CSSInliner(load_remote_stylesheets=False, keep_style_tags=False)


def render_email(message: str, context: Mapping[str, Any]) -> RenderedEmail:
    """Subject (one line), text and HTML of `message` for `context`.

    ValueError for a message not registered (`notify.registry`) or a subject that is not a
    single line; jinja2's UndefinedError when the context lacks a key a template uses.
    """
    registered(message)  # ValueError for a name not in the registry
    env = environment()
    folder = f"email/{message}"
    subject = env.get_template(f"{folder}/subject.txt").render(context).strip()
    if not subject or "\n" in subject or "\r" in subject:
        raise ValueError(f"{message}: the subject must be one non-empty line, got {subject!r}")
    text = _tidy_text(env.get_template(f"{folder}/body.txt").render(context))
    html = _inliner().inline(env.get_template(f"{folder}/body.html").render(context))
    return RenderedEmail(subject=subject, text=text, html=html)


def _tidy_text(text: str) -> str:
    """At most one blank line in a row, no trailing spaces, one final newline."""
    lines = "\n".join(line.rstrip() for line in text.strip().splitlines())
    return _BLANK_RUNS.sub("\n\n", lines) + "\n"
