"""Where the files shipped beside the code are: migrations, templates, the default config.

From a source checkout (or an editable install) they sit at the project's top level; a wheel
carries them inside the package as `monitor/_data/` (see pyproject's force-include).
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def resource_path(name: str) -> Path:
    """The path of a shipped folder or file (`migrations`, `templates`, `config.toml`)."""
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parent / name):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"{name} is missing from this installation")
