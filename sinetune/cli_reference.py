"""The command-line reference, generated from the argparse parser: one source for ``--help`` and docs/cli.md.

:func:`synopsis` writes one usage line per command (``sinetune fit [SIGNAL] [--size N] …``), walking
every sub-command of :func:`sinetune.cli.build_parser` — a nested one (``sinetune data fetch``) and a
command added later included, with no list to keep up to date. A command whose flags depend on an
argument gets one line per value (:data:`VARIANTS`: ``sinetune bench NAME`` per benchmark, each with the
flags that benchmark takes). :func:`flag_tables` writes, per command, its help and a table of every
argument with its ``--help`` text. :mod:`sinetune.docs` puts both into the docs pages' generated
regions (``make docs-tables``).
"""

from __future__ import annotations

import argparse
from typing import Callable, Iterator

#: the width a synopsis line is wrapped at (continuation lines are indented under the first argument)
WIDTH = 112

Command = tuple[str, argparse.ArgumentParser, str]  # (``sinetune fit``, its parser, its one-line help)


def commands(parser: argparse.ArgumentParser, prog: str = "sinetune") -> Iterator[Command]:
    """Every leaf command of ``parser`` in declaration order, nested sub-commands expanded."""
    sub = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
    if sub is None:
        yield prog, parser, ""
        return
    helps = {choice.dest: choice.help or "" for choice in sub._choices_actions}
    seen: set[int] = set()
    for name, child in sub.choices.items():
        if id(child) in seen:  # an alias
            continue
        seen.add(id(child))
        if any(isinstance(a, argparse._SubParsersAction) for a in child._actions):
            yield from commands(child, f"{prog} {name}")
        else:
            yield f"{prog} {name}", child, helps.get(name, "")


def _shown(action: argparse.Action) -> bool:
    return not isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)) \
        and action.help != argparse.SUPPRESS


def _value(action: argparse.Action) -> str:
    """What follows a flag (or stands for a positional): ``N``, ``auto|cpu|cuda``, ``LOW HIGH``, ``NAME ...``."""
    if action.choices is not None and not isinstance(action.choices, dict):
        names = ["|".join(map(str, action.choices))]
    elif isinstance(action.metavar, tuple):
        names = list(action.metavar)
    else:
        names = [action.metavar or action.dest.upper()]
    nargs = action.nargs
    if isinstance(nargs, int):
        return " ".join(names * nargs if len(names) == 1 else names)
    if nargs == "+":
        return f"{names[0]} ..."
    if nargs == "*":
        return f"[{names[0]} ...]"
    if nargs == "?" and action.option_strings:
        return f"[{names[0]}]"
    return names[0]


def _flag(action: argparse.Action) -> str:
    """The long spelling of an optional action (``--size``), else its first."""
    return next((flag for flag in action.option_strings if flag.startswith("--")), action.option_strings[0])


def usage_part(action: argparse.Action) -> str:
    """One argument as the synopsis shows it: ``SIGNAL``, ``[SIGNAL]``, ``[--size N]``, ``[--set KEY=VALUE ...]``."""
    if not action.option_strings:
        value = _value(action)
        return f"[{value}]" if action.nargs == "?" else value
    text = _flag(action) if action.nargs == 0 else f"{_flag(action)} {_value(action)}"
    if isinstance(action, (argparse._AppendAction, argparse._ExtendAction)):
        text += " ..."
    return text if action.required else f"[{text}]"


def wrap(prog: str, parts: list[str], width: int = WIDTH) -> list[str]:
    """``prog`` and ``parts`` as lines of at most ``width`` characters, continued under the first part."""
    lines, indent = [prog], " " * (len(prog) + 1)
    for part in parts:
        if len(lines[-1]) + 1 + len(part) > width and lines[-1].strip():
            lines.append(indent + part)
        else:
            lines[-1] += " " + part
    return lines


def usage_lines(prog: str, actions: list[argparse.Action], width: int = WIDTH) -> list[str]:
    """``prog`` and its arguments (positionals first), wrapped at ``width`` (:func:`wrap`)."""
    ordered = [a for a in actions if not a.option_strings] + [a for a in actions if a.option_strings]
    return wrap(prog, [usage_part(a) for a in ordered], width)


def _default(value: object) -> str:
    return ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def _bench_variants(prog: str, parser: argparse.ArgumentParser) -> Iterator[tuple[str, list[str]]]:
    """``sinetune bench NAME`` once per benchmark, with the flags that benchmark takes
    (:data:`sinetune.cli.BENCH_FLAGS`, :func:`sinetune.bench.benchmark_options`; the others apply to all),
    each showing the runner's default where it has one (``[--steps 300]``)."""
    import inspect

    from .bench import BENCHMARKS, RUNNERS, benchmark_options
    from .cli import BENCH_FLAGS

    for name in BENCHMARKS:
        accepted = benchmark_options(name)
        defaults = {key: spec.default for key, spec in inspect.signature(RUNNERS[name]).parameters.items()}
        parts = []
        for action in (a for a in parser._actions if _shown(a) and a.option_strings):
            key = BENCH_FLAGS.get(_flag(action))
            if key is not None and key not in accepted:
                continue
            default = defaults.get(key)
            shown = action.nargs != 0 and default not in (None, False, inspect.Parameter.empty)
            parts.append(f"[{_flag(action)} {_default(default)}]" if shown else usage_part(action))
        yield f"{prog} {name}", parts


#: commands whose synopsis is one line per value of an argument: command → ``(prog, parser)`` → ``(line
#: prefix, the arguments shown)`` per value
VARIANTS: dict[str, Callable[[str, argparse.ArgumentParser], Iterator[tuple[str, list[str]]]]] = {
    "sinetune bench": _bench_variants,
}


def synopsis(parser: argparse.ArgumentParser | None = None, width: int = WIDTH) -> str:
    """The usage lines of every command of ``parser`` (default :func:`sinetune.cli.build_parser`)."""
    if parser is None:
        from .cli import build_parser

        parser = build_parser()
    lines: list[str] = []
    for prog, leaf, _ in commands(parser, parser.prog):
        if prog in VARIANTS:
            for prefix, parts in VARIANTS[prog](prog, leaf):
                lines += wrap(prefix, parts, width)
        else:
            lines += usage_lines(prog, [a for a in leaf._actions if _shown(a)], width)
    return "\n".join(lines)


def cell(text: str) -> str:
    """Plain text as a Markdown table cell: ``\\ | * _ [ ]`` escaped, one line."""
    for char in "\\|*_[]":
        text = text.replace(char, "\\" + char)
    return " ".join(text.split())


def help_text(prog: str, action: argparse.Action) -> str:
    """``action``'s ``--help`` text as argparse prints it (``%(default)s`` expanded, ``%%`` → ``%``)."""
    if not action.help:
        return ""
    return argparse.HelpFormatter(prog)._expand_help(action)


def flag_tables(parser: argparse.ArgumentParser | None = None, level: int = 3) -> str:
    """Per command: a heading (``#`` × ``level``), its help, a table ``| argument | meaning |``."""
    if parser is None:
        from .cli import build_parser

        parser = build_parser()
    parts = []
    for prog, leaf, text in commands(parser, parser.prog):
        rows = ["| argument | meaning |", "|---|---|"]
        for action in (a for a in leaf._actions if _shown(a)):
            name = usage_part(action).removeprefix("[").removesuffix("]") if action.option_strings \
                else _value(action)
            name = name.replace("|", "\\|")  # a pipe ends a table cell, even in a code span (GitHub)
            rows.append(f"| `{name}` | {cell(help_text(prog, action))} |")
        about = f"{cell(text[:1].upper() + text[1:])}.\n\n" if text else ""
        parts.append(f"{'#' * level} `{prog}`\n\n{about}" + ("\n".join(rows) if len(rows) > 2 else
                                                           "No arguments."))
    return "\n\n".join(parts)
