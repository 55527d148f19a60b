"""The single Jinja2 environment used for all generated files."""
from __future__ import annotations

import functools

import jinja2

from ..paths import templates_dir
from .filters import FILTERS


@functools.lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,           # C is not HTML
    )
    env.filters.update(FILTERS)
    return env
