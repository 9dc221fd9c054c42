"""mkdocs hook: ``\\|`` inside a code span of a table row becomes ``|``.

GitHub needs the pipe in ``| `a\\|b` |`` escaped even in code (else it ends the cell) and shows ``a|b``;
Python-Markdown's tables ignore pipes inside code spans and would show the backslash. The generated
tables (``make docs-tables``) are written for GitHub; this hook makes the site show them the same.
"""

from __future__ import annotations

import re

_CODE = re.compile(r"(`+)(.+?)\1")


def unescape_table_code(markdown: str) -> str:
    """``markdown`` with ``\\|`` → ``|`` inside the code spans of lines that start with ``|``."""
    return "\n".join(_CODE.sub(lambda m: m.group(1) + m.group(2).replace("\\|", "|") + m.group(1), line)
                     if line.lstrip().startswith("|") else line for line in markdown.split("\n"))


def on_page_markdown(markdown: str, **kwargs) -> str:  # noqa: D103 (the mkdocs hook)
    return unescape_table_code(markdown)
