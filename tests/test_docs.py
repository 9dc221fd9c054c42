"""Generated documentation (docs.py, cli_reference.py): every option documented, the generated regions of
README.md and docs/*.md current, the CLI reference complete, every promise backed by a test."""

from __future__ import annotations

import argparse
import dataclasses
import re
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest

from sinetune import cli_reference, docs
from sinetune.bench import BENCHMARKS, benchmark_options
from sinetune.cli import BENCH_FLAGS, FIT_FLAGS, RUN_FLAGS, TASK_FLAGS, TUNER_FLAGS, build_parser
from sinetune.config import RunConfig, SignalConfig
from sinetune.methods import METHODS, TunerOptions
from sinetune.tasks import TaskOptions
from sinetune.training import TrainOptions

ROOT = Path(__file__).resolve().parents[1]
CLI_PAGE = (ROOT / "docs" / "cli.md").read_text()


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
    assert docs.field_help(TrainOptions, "log_every").endswith(". Default: 10.")
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


def test_every_generated_region_is_current_and_present(monkeypatch):
    monkeypatch.chdir(ROOT)
    files = docs.documentation_files()
    assert ROOT / "README.md" in [path.resolve() for path in files]
    assert docs.main(["--check"]) == 0, "generated docs are stale: run `make docs-tables`"
    held = [name for path in files for name in docs.region_names(path.read_text())]
    assert sorted(held) == sorted(docs.REGIONS), "each generated region appears once in README.md or docs/"
    options = next(path.read_text() for path in files if "options" in docs.region_names(path.read_text()))
    for _, cls in docs.documented_classes():
        assert docs.option_table(cls) in options


def test_update_file_rewrites_only_the_regions(tmp_path, capsys, monkeypatch):
    path = tmp_path / "page.md"
    begin, end = docs.markers("methods")
    path.write_text(f"# title\n\n{docs.BEGIN}\nSTALE-TABLE\n{docs.END}\n\nmid\n{begin}\nold\n{end}\ntail\n"
                    "<!-- unknown:begin -->\nkept\n<!-- unknown:end -->\n")
    assert docs.update_file(path, check=True) and "STALE-TABLE" in path.read_text()
    assert docs.main(["--check", str(path)]) == 1
    assert docs.update_file(path)
    text = path.read_text()
    assert text.startswith("# title\n\n") and f"{docs.END}\n\nmid\n{begin}\n" in text and "STALE-TABLE" not in text
    assert text.endswith(f"{end}\ntail\n<!-- unknown:begin -->\nkept\n<!-- unknown:end -->\n")
    assert docs.option_table(TrainOptions) in text and "| `tuner` |" in docs.region(text, "methods")
    assert not docs.update_file(path) and docs.main(["--check", str(path)]) == 0
    plain = tmp_path / "plain.md"
    plain.write_text("no markers")
    assert docs.main([str(plain)]) == 0 and plain.read_text() == "no markers"
    assert "no generated region" in capsys.readouterr().err
    monkeypatch.chdir(tmp_path)  # a named file is regenerated alone; the other stale pages are named
    (tmp_path / "docs").mkdir()
    for name in ("README.md", "docs/other.md"):
        (tmp_path / name).write_text(f"{begin}\nold\n{end}\n")
    assert docs.main(["README.md"]) == 0 and "old" not in (tmp_path / "README.md").read_text()
    assert "docs/other.md also out of date" in capsys.readouterr().err
    assert docs.main([]) == 0 and "old" not in (tmp_path / "docs" / "other.md").read_text()
    path.write_text(f"{docs.BEGIN}\nno end")
    with pytest.raises(Exception, match="region"):
        docs.update_file(path)


def test_the_method_table_is_the_registry():
    table = docs.region((ROOT / "README.md").read_text(), "methods")
    assert [line.split("`")[1] for line in table.splitlines()[2:]] == list(METHODS)


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
    """docs/cli.md's synopsis: ``{command: [its lines joined per invocation]}``."""
    block = docs.region(CLI_PAGE, "cli").split("```bash\n", 1)[1].split("```", 1)[0]
    invocations: dict[str, list[str]] = {}
    for line in block.splitlines():
        line = line.split("  #", 1)[0]
        if line.startswith("sinetune "):
            current = invocations.setdefault(line.split()[1], [])
            current.append(line)
        elif line.strip():
            current[-1] += " " + line.strip()
    return invocations


def test_the_synopsis_lists_exactly_the_flags_of_every_command():
    synopsis = _synopsis()
    commands = _subparsers(build_parser())
    assert set(synopsis) == set(commands)
    flags_region = docs.region(CLI_PAGE, "cli-flags")
    for name, parser in commands.items():
        documented = {flag for line in synopsis[name] for flag in re.findall(r"--[a-z][a-z0-9-]*", line)}
        assert documented == _flags(parser), f"sinetune {name}: the synopsis differs from --help"
        assert f"### `sinetune {name}" in flags_region
        for flag in _flags(parser):
            assert f"| `{flag}" in flags_region, flag


def test_the_method_flag_lists_the_registry():
    for command in ("fit", "fit-many"):
        actions = _subparsers(build_parser())[command]._actions
        method_help = next(action.help for action in actions if "--method" in action.option_strings)
        assert f"one of {', '.join(METHODS)} " in method_help


def _toy_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tool")
    commands = parser.add_subparsers(dest="command")
    go = commands.add_parser("go", help="go somewhere")
    go.add_argument("where", nargs="?", metavar="PLACE", help="where to (default %(default)s)", default="home")
    go.add_argument("--speed", type=int, metavar="N", help="100%% fast")
    go.add_argument("--mode", choices=("walk", "run"), help="how | why")
    go.add_argument("--domain", nargs=2, metavar=("LOW", "HIGH"))
    go.add_argument("--tag", action="append", metavar="K=V", help="a *tag*")
    go.add_argument("--quiet", action="store_true")
    go.add_argument("--must", required=True)
    data = commands.add_parser("data", help="data sets")
    actions = data.add_subparsers(dest="action")
    fetch = actions.add_parser("fetch", help="download")
    fetch.add_argument("names", nargs="+", metavar="NAME")
    actions.add_parser("list")
    return parser


def test_the_reference_is_generated_for_any_command_tree():
    assert cli_reference.synopsis(_toy_parser(), width=60).splitlines() == [
        "tool go [PLACE] [--speed N] [--mode walk|run]",
        "        [--domain LOW HIGH] [--tag K=V ...] [--quiet]",
        "        --must MUST",
        "tool data fetch NAME ...",
        "tool data list",
    ]
    tables = cli_reference.flag_tables(_toy_parser())
    assert "### `tool go`\n\nGo somewhere.\n\n| argument | meaning |" in tables
    assert "| `PLACE` | where to (default home) |" in tables
    assert "| `--speed N` | 100% fast |" in tables and "| `--mode walk\\|run` | how \\| why |" in tables
    assert "| `--tag K=V ...` | a \\*tag\\* |" in tables and "| `--must MUST` |  |" in tables
    assert "### `tool data fetch`\n\nDownload." in tables and "### `tool data list`\n\nNo arguments." in tables


def test_bench_lines_use_only_their_benchmarks_flags():
    lines = {line.split()[2]: line for line in _synopsis()["bench"]}
    assert set(lines) == set(BENCHMARKS)
    for name, line in lines.items():
        accepted = benchmark_options(name)
        for flag in re.findall(r"--[a-z][a-z0-9-]*", line):
            assert flag in ("--device", "--out", "--quiet") or BENCH_FLAGS[flag] in accepted, f"bench {name}: {flag}"


def test_dedicated_flags_take_their_help_and_type_from_the_dataclasses():
    commands = _subparsers(build_parser())
    sections = {"": RunConfig, "signal": SignalConfig, "train": TrainOptions, "task": TaskOptions,
                "options": TunerOptions}
    for command, flags in (("fit", {**RUN_FLAGS, **FIT_FLAGS, **TASK_FLAGS, **TUNER_FLAGS}),
                           ("fit-many", {**RUN_FLAGS, **FIT_FLAGS})):
        actions = {action.option_strings[0]: action for action in commands[command]._actions if action.option_strings}
        for flag, key in flags.items():
            section, _, name = key.rpartition(".")
            action = actions[flag]
            assert action.help == docs.field_help(sections[section], name), flag
            kind = docs.base_type(docs.field_types(sections[section])[name])
            if int in typing.get_args(kind):  # int or a word: --batch-size N|full
                assert action.type("7") == 7 and action.type("full") == "full" and action.metavar == "N|full", flag
                continue
            assert action.type is (None if kind is bool or action.choices else kind), flag


def test_every_promise_names_a_test_that_exists():
    section = (ROOT / "docs" / "promises.md").read_text()
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
