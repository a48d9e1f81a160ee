"""``{% source "redis_patterns.roundtrips" %}``: a pattern's own code on its page.

The code shown is read from the module (or file) at render time, so the page
can never drift from what runs.  Only names written in templates are
accepted; nothing here takes user input.
"""

from __future__ import annotations

import importlib
import inspect
from functools import lru_cache
from pathlib import Path

from django import template
from django.conf import settings
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_for_filename

register = template.Library()


@lru_cache(maxsize=128)
def _render(path: str, text: str) -> str:
    lexer = get_lexer_for_filename(path)
    return highlight(text, lexer, HtmlFormatter(cssclass="code", linenos="table"))


def _resolve(dotted: str) -> tuple[str, str]:
    """``package.module`` or ``package.module.Object`` -> (repo path, source)."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ModuleNotFoundError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        # A decorated function's code object is its wrapper's: unwrap (as getsource does) so that the caption
        # names the file the shown code is in, not the decorator's.
        obj = inspect.unwrap(obj)
        path = Path(inspect.getsourcefile(obj)).resolve()
        return str(path.relative_to(settings.BASE_DIR)), inspect.getsource(obj)
    raise template.TemplateSyntaxError(f"cannot import {dotted!r}")


@register.simple_tag
def source(dotted: str) -> str:
    """Highlighted source of a module, class or function, with its file path."""
    path, text = _resolve(dotted)
    return format_html('<figure class="source"><figcaption>{}</figcaption>{}</figure>', path,
                       mark_safe(_render(path, text)))  # noqa: S308 - Pygments escapes the code


@register.simple_tag
def source_file(relative: str) -> str:
    """Highlighted text of a file in the repository (e.g. a ``.lua`` script)."""
    base = Path(settings.BASE_DIR).resolve()
    path = (base / relative).resolve()
    if base not in path.parents:
        raise template.TemplateSyntaxError(f"{relative!r} is outside the project")
    return format_html('<figure class="source"><figcaption>{}</figcaption>{}</figure>', relative,
                       mark_safe(_render(relative, path.read_text())))  # noqa: S308


@register.simple_tag
def source_css() -> str:
    return mark_safe(HtmlFormatter(cssclass="code").get_style_defs(".code"))  # noqa: S308
