"""Documentation generated from the code: option tables from the option dataclasses (one source for
``--help`` and docs/options.md), the CLI reference and the method table, kept current in the docs pages.

Every options dataclass documents its fields in a Google-style ``Attributes:`` section of its
docstring (``name: text``, continuation lines indented further; ``a, b: text`` documents two
fields at once). :func:`field_docs` parses that section; the CLI's flag help
(:func:`field_help`) and the option tables (:func:`option_table`,
:func:`options_reference`) are made from it, so they cannot drift from the code.

The documentation pages hold *generated regions*, each between ``<!-- NAME:begin -->`` and
``<!-- NAME:end -->`` (:data:`REGIONS`): ``options`` (docs/options.md: every option table),
``cli`` and ``cli-flags`` (docs/cli.md: the synopsis and the flag tables of every command, from the
argparse parser, :mod:`sinetune.cli_reference`) and ``methods`` (README.md: the method table, from the
registry). ``python -m sinetune.docs`` (``make docs-tables``) rewrites every region of README.md and
docs/**/*.md; given files, only those; ``--check`` only reports whether they are up to date (exit
status 1 if not). A region may appear in any page; a new command or method shows up by itself.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import sys
import types
import typing
from pathlib import Path
from typing import Any, Callable, Literal

from .errors import SinetuneError

BEGIN, END = "<!-- options:begin -->", "<!-- options:end -->"
_ENTRY = re.compile(r"^(\w+(?:\s*,\s*\w+)*)\s*:\s*(.*)$")
_ROLE = re.compile(r":\w+:`(~?)([^`]+)`")
_LITERAL = re.compile(r"``(.+?)``")


def _docstring_parts(cls: type) -> tuple[list[str], list[str]]:
    """``(prose lines before Attributes:, lines of the Attributes: section)`` of ``cls``'s docstring."""
    lines = inspect.cleandoc(cls.__doc__ or "").splitlines()
    for index, line in enumerate(lines):
        if line.strip() == "Attributes:":
            header = len(line) - len(line.lstrip())
            section = []
            for body in lines[index + 1:]:
                if body.strip() and len(body) - len(body.lstrip()) <= header:
                    break
                section.append(body)
            return lines[:index], section
    return lines, []


def field_docs(cls: type) -> dict[str, str]:
    """``{field name: docstring entry}`` from the ``Attributes:`` section of ``cls``'s docstring.

    Entry lines are joined with single spaces; markup (````x````, ``:class:`~a.B```) is kept, see
    :func:`plain` and :func:`markdown`. Names not among the fields are kept too (the caller checks).
    """
    _, section = _docstring_parts(cls)
    indents = [len(line) - len(line.lstrip()) for line in section if line.strip()]
    entries: dict[str, list[str]] = {}
    current: list[str] = []
    for line in section:
        if not line.strip():
            continue
        match = _ENTRY.match(line.strip())
        if len(line) - len(line.lstrip()) == min(indents) and match:
            current = [match.group(2)]
            for name in match.group(1).split(","):
                entries[name.strip()] = current
        else:
            current.append(line.strip())
    return {name: " ".join(words).strip() for name, words in entries.items()}


def _convert(text: str, literal: Callable[[str], str]) -> str:
    """Docstring markup → text: roles (``:class:`~a.B``` → ``B``) and ``literals`` through ``literal``."""
    text = _ROLE.sub(lambda m: literal(m.group(2).rsplit(".", 1)[-1] if m.group(1) else m.group(2)), text)
    return _LITERAL.sub(lambda m: literal(m.group(1)), text)


def plain(text: str) -> str:
    """Docstring markup as plain text (for ``--help``)."""
    return _convert(text, lambda code: code)


def markdown(text: str) -> str:
    """Docstring markup as Markdown inline text, ``|`` escaped for table cells."""
    return _convert(text, lambda code: f"`{code}`").replace("|", "\\|")


def field_help(cls: type, name: str) -> str:
    """``--help`` text of the flag that sets field ``name`` of ``cls``: its docstring entry, then its
    default when that is not ``None`` or ``False`` (``%`` escaped for argparse)."""
    entry = field_docs(cls).get(name)
    if not entry:
        raise SinetuneError(f"{cls.__name__}.{name} has no docstring entry")
    default = field_default(cls, name)
    text = plain(entry)
    if default is not None and default is not False:
        text = f"{text.rstrip('.')}. Default: {format_value(default)}."
    return text.replace("%", "%%")


def field_default(cls: type, name: str) -> Any:
    """The default value of field ``name`` of dataclass ``cls`` (``default_factory`` called)."""
    spec = {f.name: f for f in dataclasses.fields(cls)}[name]
    if spec.default_factory is not dataclasses.MISSING:
        return spec.default_factory()
    return None if spec.default is dataclasses.MISSING else spec.default


def format_value(value: Any) -> str:
    """A default as it is written in YAML: ``null``, ``true``, ``[1.0, 0.4]``, ``clamp``, ``1e-06``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_value(item) for item in value) + "]"
    if dataclasses.is_dataclass(value):
        return f"`{type(value).__name__}` section"
    return str(value)


def field_types(cls: type) -> dict[str, Any]:
    """``{field name: resolved annotation}`` of dataclass ``cls``."""
    return typing.get_type_hints(cls)


def base_type(annotation: Any) -> Any:
    """``X | None`` → ``X``; anything else unchanged."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        rest = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(rest) == 1:
            return rest[0]
    return annotation


def format_type(annotation: Any) -> str:
    """A field's annotation in words: ``int or null``, ``one of clamp, learned``, ``list of float``."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return " or ".join("null" if arg is type(None) else format_type(arg) for arg in args)
    if origin is Literal:
        return "one of " + ", ".join(map(str, args))
    if origin in (tuple, list):
        return "list of " + format_type(args[0])
    if dataclasses.is_dataclass(annotation):
        return "mapping"
    if annotation is Any:
        return "mapping"
    return getattr(annotation, "__name__", str(annotation))


def option_table(cls: type) -> str:
    """A Markdown table ``| key | default | type | meaning |`` of every field of dataclass ``cls``."""
    docs, hints = field_docs(cls), field_types(cls)
    rows = ["| key | default | type | meaning |", "|---|---|---|---|"]
    for spec in dataclasses.fields(cls):
        rows.append(f"| `{spec.name}` | {markdown(format_value(field_default(cls, spec.name)))} | "
                    f"{markdown(format_type(hints[spec.name]))} | {markdown(docs.get(spec.name, ''))} |")
    return "\n".join(rows)


def summary(cls: type) -> str:
    """The prose of ``cls``'s docstring before ``Attributes:``, as Markdown paragraphs."""
    prose, _ = _docstring_parts(cls)
    paragraphs = " ".join(line.strip() or "\n\n" for line in prose).split("\n\n")
    return "\n\n".join(markdown(" ".join(p.split())) for p in paragraphs if p.strip())


def undocumented_fields(cls: type) -> list[str]:
    """Fields of dataclass ``cls`` without a non-empty docstring entry."""
    docs = field_docs(cls)
    return [spec.name for spec in dataclasses.fields(cls) if not docs.get(spec.name)]


def documented_classes() -> list[tuple[str, type]]:
    """Every options dataclass a user can set, as ``(heading in docs/options.md, class)``: each method's options
    (:data:`sinetune.methods.METHODS`), then ``TrainOptions``, ``SignalConfig``, ``TaskOptions`` and ``RunConfig``."""
    from .config import RunConfig, SignalConfig
    from .methods import METHODS
    from .tasks import TaskOptions
    from .training import TrainOptions

    classes = [(f"`{name}` options (`{method.options_type.__name__}`, default `lr` {method.default_lr:g})",
                method.options_type) for name, method in METHODS.items()]
    return classes + [("Training (`train:` section, `TrainOptions`)", TrainOptions),
                      ("Signal (`signal:` section, `SignalConfig`)", SignalConfig),
                      ("Task (`task:` section, `TaskOptions`; docs/tasks.md)", TaskOptions),
                      ("Top level (`RunConfig`)", RunConfig)]


def options_reference() -> str:
    """docs/options.md's option reference: a heading, the docstring's prose and :func:`option_table` for
    each of :func:`documented_classes`."""
    parts = ["<!-- generated by `make docs-tables` (python -m sinetune.docs) from the option dataclasses' "
             "docstrings; edit those, not this region -->"]
    parts += [f"## {heading}\n\n{summary(cls)}\n\n{option_table(cls)}" for heading, cls in documented_classes()]
    return "\n\n".join(parts)


def methods_table() -> str:
    """The README's method table, from :data:`sinetune.methods.METHODS`: name, description, default lr."""
    from .cli_reference import cell
    from .methods import METHODS

    rows = ["| method | what it is | default `lr` |", "|---|---|---|"]
    rows += [f"| `{name}` | {cell(method.description)} | {method.default_lr:g} |" for name, method in METHODS.items()]
    return "\n".join(rows)


def cli_synopsis() -> str:
    """docs/cli.md's synopsis: every command's usage line (:func:`sinetune.cli_reference.synopsis`), in a
    ``bash`` block that the docs test does not run."""
    from .cli_reference import synopsis

    return (f"<!-- generated by `make docs-tables` (python -m sinetune.docs) from the argparse parser; edit "
            f"sinetune/cli.py, not this region -->\n\n{SKIP_SYNOPSIS}\n```bash\n{synopsis()}\n```")


def cli_flags() -> str:
    """docs/cli.md's flag reference: per command its help and a table of its arguments."""
    from .cli_reference import flag_tables

    return (f"<!-- generated by `make docs-tables` (python -m sinetune.docs) from the argparse parser; edit "
            f"sinetune/cli.py, not this region -->\n\n{flag_tables()}")


SKIP_SYNOPSIS = "<!-- docs-test: skip (a synopsis, not commands) -->"

#: the generated regions: ``<!-- NAME:begin -->`` … ``<!-- NAME:end -->`` in any Markdown file holds the
#: output of ``REGIONS[NAME]()``
REGIONS: dict[str, Callable[[], str]] = {"options": options_reference, "cli": cli_synopsis, "cli-flags": cli_flags,
                                         "methods": methods_table}
_MARKER = re.compile(r"<!-- ([\w-]+):begin -->")


def markers(name: str) -> tuple[str, str]:
    """The begin and end lines of region ``name``."""
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


def region_names(text: str) -> list[str]:
    """The generated regions ``text`` holds (names in :data:`REGIONS`), in order."""
    return [name for name in _MARKER.findall(text) if name in REGIONS]


def region(text: str, name: str) -> str:
    """The current content of region ``name`` of ``text`` (without its markers)."""
    begin, end = markers(name)
    start, stop = text.find(begin), text.find(end)
    if start < 0 or stop < start:
        raise SinetuneError(f"no {begin} … {end} region")
    return text[start + len(begin):stop].strip("\n")


def replace_region(text: str, content: str, name: str = "options") -> str:
    """``text`` with the region ``name`` (default the option tables) replaced by ``content``."""
    begin, end = markers(name)
    start, stop = text.find(begin), text.find(end)
    if start < 0 or stop < start:
        raise SinetuneError(f"no {begin} … {end} region")
    return f"{text[:start]}{begin}\n{content}\n{text[stop:]}"


def regenerate(text: str) -> str:
    """``text`` with every generated region it holds made current."""
    for name in region_names(text):
        text = replace_region(text, REGIONS[name](), name)
    return text


def update_file(path: str | Path, check: bool = False) -> bool:
    """Regenerate the regions of ``path``; returns whether it was (``check``: would be) changed."""
    path = Path(path)
    text = path.read_text()
    new = regenerate(text)
    if new != text and not check:
        path.write_text(new)
    return new != text


update_readme = update_file  # the name before the reference moved into docs/


def documentation_files(root: str | Path = ".") -> list[Path]:
    """The Markdown files under ``root`` that may hold generated regions: README.md and docs/**/*.md."""
    root = Path(root)
    return [path for path in [root / "README.md", *sorted((root / "docs").rglob("*.md"))] if path.is_file()]


def main(argv: list[str] | None = None) -> int:
    """``python -m sinetune.docs [--check] [FILE ...]``: regenerate (``--check``: report stale) regions.

    Without files: README.md and every docs/**/*.md under the working directory. A named file without a
    generated region is reported on stderr and left alone."""
    args = list(sys.argv[1:] if argv is None else argv)
    check = "--check" in args
    named = [Path(arg) for arg in args if arg != "--check"]
    changed = []
    for path in named or documentation_files():
        if named and not region_names(path.read_text()):
            print(f"{path}: no generated region (they are in {', '.join(_holders())}; "
                  f"`python -m sinetune.docs` regenerates every file)", file=sys.stderr)
        elif update_file(path, check=check):
            changed.append(path)
    for path in changed:
        print(f"{path}: generated regions {'out of date' if check else 'regenerated'}")
    others = [path for path in documentation_files() if named and path.resolve() not in {p.resolve() for p in named}]
    stale = [str(path) for path in others if update_file(path, check=True)]
    if stale:
        print(f"note: {', '.join(stale)} also out of date: `python -m sinetune.docs` (no file) regenerates "
              f"every page", file=sys.stderr)
    return 1 if check and changed else 0


def _holders() -> list[str]:
    return [str(path) for path in documentation_files() if region_names(path.read_text())] or ["no file here"]


if __name__ == "__main__":
    sys.exit(main())
