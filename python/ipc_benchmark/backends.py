"""The one description of every built-in backend: ``backends.json``, beside this file.

The Python registry (registry.py), the analysis (which backends persist, reach other
machines, consume a message per read) and the native harness (which embeds the same file
at build time) all read it; docs/results-schema.md explains its fields. Nothing here
imports MPI or the extension module.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, Literal, cast

Harness = Literal["python", "rust"]
#: "peer": a tool people already use (python/ipc_benchmark/peers/), run for comparison.
Implementation = Literal["rust", "reference", "user", "peer"]
#: "pickle": the stored/sent bytes are a pickle (protocol 5); "codec": our blob format.
Encoding = Literal["pickle", "codec"]


@dataclass(frozen=True)
class Properties:
    """What a backend can do by design, as opposed to how fast it ran."""

    #: The snapshot survives the writer and readers exiting (a file on disk).
    persistent: bool
    #: Readers can run on other machines than the writer, as the backend is built here.
    across_machines: bool
    #: Each read consumes a message the writer sent for it, so a write's time covers
    #: every read it serves and grows with the readers (docs/benchmark.md).
    message_per_read: bool
    #: Why, in a few words (shown in report.md).
    note: str


@dataclass(frozen=True)
class Backend:
    """One entry of backends.json: a backend as one or both harnesses run it."""

    name: str
    harnesses: tuple[Harness, ...]
    display_name: str
    implementation: Implementation
    #: The reference backend this one replaces, or None.
    reference: str | None
    encoding: Encoding | None
    #: Exercises the harness itself: runs only when named.
    self_test: bool
    #: None where unknown (a self-test backend).
    properties: Properties | None
    #: ``"module:attribute"`` of the Python class, and its keyword arguments.
    python_class: str | None = None
    python_kwargs: dict[str, Any] = field(default_factory=dict)


def _backend(entry: dict[str, Any]) -> Backend:
    props = entry["properties"]
    python = entry.get("python") or {}
    return Backend(
        name=entry["name"],
        harnesses=tuple(entry["harnesses"]),
        display_name=entry["display_name"],
        implementation=entry["implementation"],
        reference=entry["reference"],
        encoding=entry["encoding"],
        self_test=bool(entry.get("self_test", False)),
        properties=None if props is None else Properties(**props),
        python_class=python.get("class"),
        python_kwargs=dict(python.get("kwargs", {})),
    )


@cache
def all_backends() -> tuple[Backend, ...]:
    """Every entry of backends.json, in its order."""
    text = resources.files("ipc_benchmark").joinpath("backends.json").read_text("utf-8")
    entries = cast(list[dict[str, Any]], json.loads(text)["backends"])
    return tuple(_backend(e) for e in entries)


def of_harness(harness: Harness) -> dict[str, Backend]:
    """The backends ``harness`` runs, by name, in the file's order."""
    return {b.name: b for b in all_backends() if harness in b.harnesses}


def properties(name: str) -> Properties | None:
    """A backend's properties, or None when they are unknown (a user's ``module:Class``,
    a self-test backend). Entries that share a name share their properties."""
    for b in all_backends():
        if b.name == name:
            return b.properties
    return None
