"""The one renderer of the pricing SQL templates (jinja2 over ``sql/``).

Templates see the usage vocabulary (``keys``, ``fractional``) and can import the macros of
``sql/pricing/rules.sql`` (the selection rules written once, for the row twin and the rate card).
Compiled templates are kept: the columnar twin re-renders its views whenever usage is keyed.
"""

from __future__ import annotations

from functools import cache

import jinja2

from ..paths import SQL_DIR
from .usage import FRACTIONAL_KEYS, USAGE_KEYS


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(SQL_DIR),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # SQL, not HTML: values are our own identifiers and literals
    )


def render_sql(name: str, **values: object) -> str:
    """The SQL of template ``name`` (a path under sql/) with ``values``."""
    template = _environment().get_template(name)
    return template.render(keys=USAGE_KEYS, fractional=FRACTIONAL_KEYS, **values)
