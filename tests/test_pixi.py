"""pixi.toml: it cannot be run here (no conda-forge), so check what can be checked: that it
parses, declares what the project needs, and that every task calls something that exists
in this repository: a make target, a script, a module, a CLI subcommand, a cargo package,
and that the tool it runs comes from a declared dependency."""

from __future__ import annotations

import argparse
import importlib.util
import re
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ipc_benchmark.cli import build_parser as cli_parser

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the project's own venv is newer
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).parents[1]

#: What the project needs from conda-forge (pyproject.toml's extras and dev group, the
#: Rust toolchain, an MPI and bindgen's libclang).
REQUIRED_PACKAGES = {
    "python", "rust", "maturin", "c-compiler", "cxx-compiler", "mpich", "mpi4py",
    "libclang", "python-lmdb", "pyzmq", "matplotlib-base", "hypothesis", "pytest",
    "pytest-timeout", "mypy", "uv",
}
#: The original benchmark's tasks, and ours.
REQUIRED_TASKS = {"bench-small", "bench", "bench-large", "analyze", "clean",
                  "build", "bench-native", "test"}
#: Which declared package provides each program a task may run. ``ipc-bench`` comes from
#: this project, installed by the ``build`` task.
PROVIDER = {"python": "python", "cargo": "rust", "maturin": "maturin", "mpiexec": "mpich",
            "make": "make", "uv": "uv"}
SHELL_OPERATORS = {"&&", "||", ";", "|"}


def load() -> dict[str, Any]:
    with open(ROOT / "pixi.toml", "rb") as f:
        manifest: dict[str, Any] = tomllib.load(f)
    return manifest


def make_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    return {m[1] for m in re.finditer(r"^([A-Za-z0-9_.-]+)\s*:(?!=)", text, re.M)}


def workspace_packages() -> dict[str, Path]:
    """Cargo package name -> its directory, for the root package and every member."""
    root = tomllib.loads((ROOT / "Cargo.toml").read_text())
    dirs = [ROOT] + [ROOT / m for m in root["workspace"]["members"]]
    return {tomllib.loads((d / "Cargo.toml").read_text())["package"]["name"]: d
            for d in dirs}


def task_table(task: Any) -> dict[str, Any]:
    return {"cmd": task} if isinstance(task, str) else dict(task)


def closure(tasks: dict[str, Any], name: str) -> list[str]:
    """``name`` and every task it depends on, transitively; fails on a cycle."""
    seen: list[str] = []

    def visit(task: str, path: tuple[str, ...]) -> None:
        assert task not in path, f"dependency cycle: {' -> '.join((*path, task))}"
        if task in seen:
            return
        for dep in task_table(tasks[task]).get("depends-on", []):
            visit(dep, (*path, task))
        seen.append(task)

    visit(name, ())
    return seen


def simple_commands(cmd: str | list[str]) -> Iterator[list[str]]:
    """The simple commands of a task's command line, split at &&, ||, ; and |, with
    leading VAR=value assignments dropped."""
    words = list(cmd) if isinstance(cmd, list) else list(
        shlex.shlex(cmd, posix=True, punctuation_chars=True))
    current: list[str] = []
    for word in [*words, ";"]:
        if word in SHELL_OPERATORS:
            while current and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", current[0]):
                current.pop(0)
            if current:
                yield current
            current = []
        else:
            current.append(word)


def cli_accepts(args: list[str]) -> str | None:
    """None if ``ipc-bench`` parses ``args`` (subcommand and its own options), else why."""
    try:
        cli_parser().parse_known_args(args)
    except SystemExit:
        return f"ipc-bench does not accept {shlex.join(args)}"
    return None


def problems_of(command: list[str], built_here: list[str], deps: set[str]) -> list[str]:
    """What is wrong with one simple command of a task. ``built_here``: the simple
    commands of the task and everything it depends on (to find what builds a binary)."""
    program, args = command[0], command[1:]
    found: list[str] = []
    if program == "ipc-bench":
        # Installed by `maturin develop`, i.e. the build task.
        if not any(c.startswith("maturin develop") for c in built_here):
            found.append("runs ipc-bench without depending on the task that installs it")
        why = cli_accepts(args)
        if why:
            found.append(why)
        return found
    if program.startswith(("./", "target/")):
        binary = Path(program).name
        packages = workspace_packages()
        if binary not in packages:
            return [f"{program}: no workspace package builds a binary called {binary}"]
        if not (packages[binary] / "src" / "main.rs").exists():
            found.append(f"{program}: package {binary} has no src/main.rs")
        if not any(re.search(rf"cargo build .*-p {re.escape(binary)}\b", c)
                   for c in built_here):
            found.append(f"{program}: no task it depends on builds it (cargo build -p "
                         f"{binary})")
        return found
    if program not in PROVIDER:
        return [f"runs {program}, which this test does not know: teach it the program"]
    if PROVIDER[program] not in deps:
        found.append(f"runs {program}, but its package {PROVIDER[program]} is not declared")
    if program == "make":
        missing = [t for t in args if not t.startswith("-") and "=" not in t
                   and t not in make_targets()]
        found += [f"make {t}: no such target in the Makefile" for t in missing]
    elif program == "python":
        if args[:1] == ["-m"]:
            module = args[1]
            if importlib.util.find_spec(module) is None:
                found.append(f"python -m {module}: no such module")
            elif module == "ipc_benchmark":
                why = cli_accepts(args[2:])
                if why:
                    found.append(why)
        elif args and not (ROOT / args[0]).is_file():
            found.append(f"python {args[0]}: no such script")
    elif program == "mpiexec":
        rest = list(args)
        while rest and rest[0].startswith("-"):
            option = rest.pop(0)
            if option in ("-n", "-np") and rest:
                rest.pop(0)
        if not rest:
            found.append("mpiexec with nothing to run")
        else:
            found += problems_of(rest, built_here, deps)
    elif program == "cargo":
        if not args or args[0] not in ("build", "test", "clean", "run"):
            found.append(f"cargo {' '.join(args[:1])}: not a subcommand this project uses")
        for i, arg in enumerate(args):
            if arg == "-p" and args[i + 1] not in workspace_packages():
                found.append(f"cargo -p {args[i + 1]}: no such workspace package")
    elif program == "maturin":
        if not args or args[0] not in ("develop", "build"):
            found.append(f"maturin {' '.join(args[:1])}: not develop or build")
    return found


def task_problems(manifest: dict[str, Any], name: str) -> list[str]:
    tasks = manifest["tasks"]
    deps = set(manifest.get("dependencies", {}))
    table = task_table(tasks[name])
    unknown = [d for d in table.get("depends-on", []) if d not in tasks]
    if unknown:
        return [f"depends on unknown task(s) {', '.join(unknown)}"]
    built_here = [shlex.join(c) for t in closure(tasks, name)
                  for c in simple_commands(task_table(tasks[t]).get("cmd", []))]
    found: list[str] = []
    commands = list(simple_commands(table.get("cmd", [])))
    if not commands and not table.get("depends-on"):
        found.append("has neither a command nor dependencies")
    for command in commands:
        found += [f"{shlex.join(command)}: {p}" for p in problems_of(command, built_here, deps)]
    return found


def test_manifest_declares_the_channel_platform_and_packages() -> None:
    manifest = load()
    workspace = manifest.get("workspace") or manifest["project"]
    assert workspace["channels"] == ["conda-forge"]
    assert "linux-64" in workspace["platforms"]
    missing = REQUIRED_PACKAGES - set(manifest["dependencies"])
    assert not missing, f"pixi.toml lacks {sorted(missing)}"


def test_the_tasks_of_the_original_and_ours_exist() -> None:
    missing = REQUIRED_TASKS - set(load()["tasks"])
    assert not missing, f"pixi.toml lacks the tasks {sorted(missing)}"


@pytest.mark.parametrize("task", sorted(load()["tasks"]))
def test_every_task_calls_something_that_exists(task: str) -> None:
    assert task_problems(load(), task) == []


def test_the_bench_tasks_run_one_writer_and_1_3_7_readers() -> None:
    tasks = load()["tasks"]
    for name, ranks in (("bench-small", 2), ("bench", 4), ("bench-large", 8)):
        (command,) = simple_commands(task_table(tasks[name])["cmd"])
        args = cli_parser().parse_known_args(command[1:])[0]
        assert isinstance(args, argparse.Namespace)
        assert (command[0], args.command, args.ranks) == ("ipc-bench", "run", ranks)


@pytest.mark.parametrize("cmd, expected", [
    ("make no-such-target", "no such target"),
    ("python no_such_script.py", "no such script"),
    ("python -m ipc_benchmark.no_such_module", "no such module"),
    ("python -m ipc_benchmark frobnicate", "does not accept"),
    ("ipc-bench frobnicate", "does not accept"),
    ("cargo build -p no-such-crate", "no such workspace package"),
    ("mpiexec -n 2 target/release/no-such-binary", "no workspace package"),
    ("mpiexec -n 2 target/release/ipc-mpi-bench", "no task it depends on builds it"),
    ("pip install something", "does not know"),
    ("X=1 ninja", "does not know"),
])
def test_the_checks_catch_what_does_not_exist(cmd: str, expected: str) -> None:
    manifest = {"dependencies": {p: "*" for p in (*REQUIRED_PACKAGES, "make")},
                "tasks": {"build": "maturin develop", "bad": {"cmd": cmd}}}
    problems = task_problems(manifest, "bad")
    assert any(expected in p for p in problems), problems


def test_undeclared_tools_and_tasks_are_caught() -> None:
    manifest = {"dependencies": {"python": "*"},
                "tasks": {"a": "cargo build -p ipc-core", "b": {"depends-on": ["nope"]},
                          "c": "ipc-bench clean"}}
    assert any("package rust is not declared" in p for p in task_problems(manifest, "a"))
    assert task_problems(manifest, "b") == ["depends on unknown task(s) nope"]
    assert any("without depending on the task that installs it" in p
               for p in task_problems(manifest, "c"))
