"""Generated documentation (docs.py): every option documented, README tables and CLI synopsis current."""

from __future__ import annotations

import argparse
import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest

from sinetune import docs
from sinetune.bench import BENCHMARKS, benchmark_options
from sinetune.cli import BENCH_FLAGS, FIT_FLAGS, RUN_FLAGS, TASK_FLAGS, build_parser
from sinetune.config import RunConfig, SignalConfig
from sinetune.methods import METHODS
from sinetune.tasks import TaskOptions
from sinetune.training import TrainOptions

README_PATH = Path(__file__).resolve().parents[1] / "README.md"
README = README_PATH.read_text()


@dataclass(frozen=True)
class Example:
    """An example.

    Second paragraph of prose.

    Attributes:
        width, height: sides in pixels (both
            documented at once).
        mode: ``"a"`` or ``"b"``; see :class:`~pkg.module.Thing` and :func:`pkg.helper`.

        bound: ``max|k|`` limit.

    Text after the section.
    """

    width: int = 4
    height: int = 3
    mode: Literal["a", "b"] = "a"
    bound: tuple[float, ...] | None = (1.0, 0.5)
    note: str = ""


def test_field_docs_parses_the_attributes_section():
    assert docs.field_docs(Example) == {
        "width": "sides in pixels (both documented at once).",
        "height": "sides in pixels (both documented at once).",
        "mode": '``"a"`` or ``"b"``; see :class:`~pkg.module.Thing` and :func:`pkg.helper`.',
        "bound": "``max|k|`` limit.",
    }
    assert docs.undocumented_fields(Example) == ["note"]
    assert docs.summary(Example) == "An example.\n\nSecond paragraph of prose."


def test_markup_conversion():
    entry = docs.field_docs(Example)["mode"]
    assert docs.plain(entry) == '"a" or "b"; see Thing and pkg.helper.'
    assert docs.markdown(entry) == '`"a"` or `"b"`; see `Thing` and `pkg.helper`.'
    assert docs.markdown("``max|k|``") == "`max\\|k\\|`"


def test_option_table_rows():
    rows = docs.option_table(Example).splitlines()
    assert rows[0] == "| key | default | type | meaning |"
    assert rows[2] == "| `width` | 4 | int | sides in pixels (both documented at once). |"
    assert rows[4].startswith("| `mode` | a | one of a, b | ")
    assert rows[5] == "| `bound` | [1.0, 0.5] | list of float or null | `max\\|k\\|` limit. |"
    assert len(rows) == 2 + len(dataclasses.fields(Example))


def test_field_help_appends_the_default_and_escapes_percent():
    assert docs.field_help(Example, "width") == "sides in pixels (both documented at once). Default: 4."
    assert docs.field_help(TrainOptions, "steps") == "number of optimizer steps (not epochs). Default: 300."
    assert "Default" not in docs.field_help(TrainOptions, "keep_best")  # False is no default worth stating
    assert docs.field_help(RunConfig, "seed").endswith("Default: 0.")
    with pytest.raises(Exception, match="no docstring entry"):
        docs.field_help(Example, "note")


def test_the_documented_classes_are_every_method_and_the_run_config():
    classes = [cls for _, cls in docs.documented_classes()]
    assert classes == [method.options_type for method in METHODS.values()] + [TrainOptions, SignalConfig,
                                                                           TaskOptions, RunConfig]


@pytest.mark.parametrize("cls", [cls for _, cls in docs.documented_classes()], ids=lambda cls: cls.__name__)
def test_every_option_has_a_docstring_entry(cls):
    assert not docs.undocumented_fields(cls), f"{cls.__name__}: fields without a docstring entry"
    stale = set(docs.field_docs(cls)) - {f.name for f in dataclasses.fields(cls)}
    assert not stale, f"{cls.__name__}: docstring entries for no field: {sorted(stale)}"


def test_readme_option_tables_are_current():
    assert docs.replace_region(README, docs.options_reference()) == README, \
        "README.md's option tables are stale: run `make docs-tables`"
    for _, cls in docs.documented_classes():
        assert docs.option_table(cls) in README


def test_update_readme_rewrites_only_the_region(tmp_path):
    path = tmp_path / "README.md"
    path.write_text(f"# title\n\n{docs.BEGIN}\nSTALE-TABLE\n{docs.END}\n\ntail\n")
    assert docs.update_readme(path, check=True) and "STALE-TABLE" in path.read_text()
    assert docs.main(["--check", str(path)]) == 1
    assert docs.update_readme(path)
    text = path.read_text()
    assert text.startswith("# title\n\n") and text.endswith(f"{docs.END}\n\ntail\n") and "STALE-TABLE" not in text
    assert docs.option_table(TrainOptions) in text
    assert not docs.update_readme(path) and docs.main(["--check", str(path)]) == 0
    path.write_text("no markers")
    with pytest.raises(Exception, match="region"):
        docs.update_readme(path)


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _flags(parser: argparse.ArgumentParser) -> set[str]:
    """The ``--flags`` of ``parser`` and of its sub-commands (``sinetune data fetch``), ``--help`` aside."""
    nested = set().union(*map(_flags, _subparsers(parser).values())) if any(
        isinstance(a, argparse._SubParsersAction) for a in parser._actions) else set()
    return nested | {flag for action in parser._actions for flag in action.option_strings
                     if flag.startswith("--")} - {"--help"}


def _synopsis() -> dict[str, list[str]]:
    """The README's command-line synopsis: ``{command: [its lines joined per invocation]}``."""
    block = README.split("## Command line", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    invocations: dict[str, list[str]] = {}
    for line in block.splitlines():
        line = line.split("  #", 1)[0]
        if line.startswith("sinetune "):
            current = invocations.setdefault(line.split()[1], [])
            current.append(line)
        elif line.strip():
            current[-1] += " " + line.strip()
    return invocations


def test_readme_synopsis_lists_exactly_the_flags_of_every_command():
    synopsis = _synopsis()
    commands = _subparsers(build_parser())
    assert set(synopsis) == set(commands)
    for name, parser in commands.items():
        documented = {flag for line in synopsis[name] for flag in re.findall(r"--[a-z][a-z0-9-]*", line)}
        assert documented == _flags(parser), f"sinetune {name}: README synopsis differs from --help"
        for flag in _flags(parser):
            assert f"`{flag}" in README or f"[{flag}" in README


def test_readme_synopsis_method_lists_are_the_registry():
    synopsis = _synopsis()
    for command, methods in (("fit", tuple(METHODS)), ("fit-many", tuple(METHODS))):
        (listed,) = re.findall(r"--method ([\w|]+)", synopsis[command][0])
        assert listed.split("|") == list(methods), command
        actions = _subparsers(build_parser())[command]._actions
        method_help = next(action.help for action in actions if "--method" in action.option_strings)
        assert f"one of {', '.join(methods)} " in method_help


def test_readme_bench_lines_use_only_their_benchmarks_flags():
    lines = {line.split()[2]: line for line in _synopsis()["bench"]}
    assert set(lines) == set(BENCHMARKS)
    for name, line in lines.items():
        accepted = benchmark_options(name)
        for flag in re.findall(r"--[a-z][a-z0-9-]*", line):
            assert flag in ("--device", "--out", "--quiet") or BENCH_FLAGS[flag] in accepted, f"bench {name}: {flag}"


def test_dedicated_flags_take_their_help_and_type_from_the_dataclasses():
    commands = _subparsers(build_parser())
    sections = {"": RunConfig, "signal": SignalConfig, "train": TrainOptions, "task": TaskOptions}
    for command, flags in (("fit", {**RUN_FLAGS, **FIT_FLAGS, **TASK_FLAGS}), ("fit-many", {**RUN_FLAGS, **FIT_FLAGS})):
        actions = {action.option_strings[0]: action for action in commands[command]._actions if action.option_strings}
        for flag, key in flags.items():
            section, _, name = key.rpartition(".")
            action = actions[flag]
            assert action.help == docs.field_help(sections[section], name), flag
            kind = docs.base_type(docs.field_types(sections[section])[name])
            assert action.type is (None if kind is bool or action.choices else kind), flag


def test_every_promise_names_a_test_that_exists():
    section = README.split("## What sinetune promises")[1].split("\n## ")[0]
    tests = Path(__file__).resolve().parent
    current = None
    named = 0
    for token in section.replace("`", " ").replace(",", " ").split():
        if token.startswith("tests/"):
            current, _, name = token.partition("::")
        elif token.startswith("::"):
            name = token[2:]
        else:
            continue
        assert (tests.parent / current).is_file(), current
        assert not name or f"def {name}(" in (tests.parent / current).read_text(), f"{current}::{name}"
        named += 1
    assert named >= 15
