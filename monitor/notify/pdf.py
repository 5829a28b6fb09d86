"""Print HTML to PDF with WeasyPrint (pure: bytes in memory, nothing fetched).

Letters and lab request forms are Jinja2 HTML pages under `templates/print/`, rendered by the same
environment as emails (`notify.render.environment`), then printed here. Every stylesheet is
inline in the page; the URL fetcher refuses anything else, so a template (or a value in it) can
never make the printer reach the network or read a local file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from monitor.notify.render import environment


class _NoFetching(Exception):
    pass


def _refuse(url: str, *args: object, **kwargs: object) -> dict[str, Any]:
    raise _NoFetching(f"a printed page may not load {url!r}")


def render_print_html(template: str, context: Mapping[str, Any]) -> str:
    """The autoescaped HTML of `templates/print/<template>` for `context` (StrictUndefined)."""
    return environment().get_template(f"print/{template}").render(context)


def _fetcher() -> Any:
    """What WeasyPrint calls for a URL: since version 70 a `URLFetcher` (it reads the fetcher's
    own attributes when a fetch fails), before that any function. Both refuse every URL."""
    import weasyprint

    base = getattr(weasyprint, "URLFetcher", None)
    if base is None:
        return _refuse

    class Refusing(base):  # type: ignore[misc, valid-type]
        def fetch(self, url: str, headers: object = None) -> Any:
            return _refuse(url)

    return Refusing()


def print_pdf(pages: Sequence[str]) -> bytes:
    """One PDF of every HTML document in `pages`, in order, each starting on a new page."""
    import weasyprint  # here: it takes a second to load and only printing needs it

    if not pages:
        raise ValueError("nothing to print")
    fetcher = _fetcher()
    documents = [weasyprint.HTML(string=page, url_fetcher=fetcher).render() for page in pages]
    every_page = [page for document in documents for page in document.pages]
    return bytes(documents[0].copy(every_page).write_pdf())
