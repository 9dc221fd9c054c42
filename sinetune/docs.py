"""Option documentation generated from the option dataclasses: one source for ``--help`` and README.md.

Every options dataclass documents its fields in a Google-style ``Attributes:`` section of its
docstring (``name: text``, continuation lines indented further; ``a, b: text`` documents two
fields at once). :func:`field_docs` parses that section; the CLI's flag help
(:func:`field_help`) and the README's option tables (:func:`option_table`,
:func:`options_reference`) are made from it, so they cannot drift from the code.

``python -m sinetune.docs [README.md]`` (``make docs-tables``) rewrites the region of README.md
between ``<!-- options:begin -->`` and ``<!-- options:end -->``; ``--check`` only reports whether
it is up to date (exit status 1 if not).
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
    """Every options dataclass a user can set, as ``(README heading, class)``: each method's options
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
    """The README's option reference: a heading, the docstring's prose and :func:`option_table` for
    each of :func:`documented_classes`."""
    parts = ["<!-- generated by `make docs-tables` (python -m sinetune.docs) from the option dataclasses' "
             "docstrings; edit those, not this region -->"]
    parts += [f"#### {heading}\n\n{summary(cls)}\n\n{option_table(cls)}" for heading, cls in documented_classes()]
    return "\n\n".join(parts)


def replace_region(text: str, content: str) -> str:
    """``text`` with the region between :data:`BEGIN` and :data:`END` replaced by ``content``."""
    start, stop = text.find(BEGIN), text.find(END)
    if start < 0 or stop < start:
        raise SinetuneError(f"no {BEGIN} … {END} region")
    return f"{text[:start]}{BEGIN}\n{content}\n{text[stop:]}"


def update_readme(path: str | Path, check: bool = False) -> bool:
    """Regenerate the option region of ``path``; returns whether it was (``check``: would be) changed."""
    path = Path(path)
    text = path.read_text()
    new = replace_region(text, options_reference())
    if new != text and not check:
        path.write_text(new)
    return new != text


def main(argv: list[str] | None = None) -> int:
    """``python -m sinetune.docs [--check] [README.md]``."""
    args = list(sys.argv[1:] if argv is None else argv)
    check = "--check" in args
    paths = [arg for arg in args if arg != "--check"] or ["README.md"]
    changed = [path for path in paths if update_readme(path, check=check)]
    for path in changed:
        print(f"{path}: option tables {'out of date' if check else 'regenerated'}")
    return 1 if check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
