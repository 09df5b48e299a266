"""Every backend the harness can run, by name.

A ``BackendSpec`` says how to build a backend and what it is: its implementation
(``rust``, ``reference``, ``peer`` or ``user``), display name, and the reference backend it replaces,
as backends.json describes each built-in one (backends.py). Nothing is imported until a
backend is used, so a missing optional package (or a Rust class not built yet) makes that
one backend unavailable, with the reason, and breaks nothing else.

Adding a backend is one entry in backends.json; a user's ``IPCBackend`` subclass needs no
entry at all: ``user_spec("package.module:Class")`` (``--backend module:Class``).
"""

from __future__ import annotations

import importlib
import inspect
import pickle
from dataclasses import dataclass, field
from typing import Any

from . import backends
from .backends import Encoding, Implementation
from .base import IPCBackend


class BackendUnavailable(Exception):
    """A backend cannot be built here; the message says why."""


@dataclass(frozen=True)
class BackendSpec:
    name: str
    implementation: Implementation
    display_name: str
    #: The reference backend this one replaces, or None.
    reference: str | None
    #: ``"module:attribute"`` of the class; imported on first use.
    target: str
    #: Keyword arguments for the class.
    kwargs: dict[str, Any] = field(default_factory=dict)
    #: "pickle": the stored/sent bytes are a pickle (protocol 5); "codec": our blob
    #: format; None: unknown (a user's backend).
    encoding: Encoding | None = None

    def load(self) -> type[IPCBackend]:
        """The backend class; BackendUnavailable (with the reason) if it cannot be had."""
        module_name, _, attr = self.target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as e:
            raise BackendUnavailable(f"{self.name}: cannot import {module_name}: {e}") from e
        cls = getattr(module, attr, None)
        if cls is None:
            what = "the Rust backend is not built into this version" if (
                self.implementation == "rust") else "no such attribute"
            raise BackendUnavailable(f"{self.name}: {module_name} has no {attr} ({what})")
        if not (isinstance(cls, type) and issubclass(cls, IPCBackend)):
            raise BackendUnavailable(
                f"{self.name}: not an IPCBackend subclass (got {cls!r})"
            )
        return cls

    def unavailable_reason(self) -> str | None:
        """None if the backend can be built here, else why not."""
        try:
            self.load()
        except BackendUnavailable as e:
            return str(e)
        return None

    def create(self, timeout: float, **options: Any) -> IPCBackend:
        """A new, uninitialized instance.

        A built-in class that takes ``timeout`` (seconds one blocking operation may wait)
        gets the one given, so that a stuck operation raises before the harness gives up
        on the whole phase; it also gets each of ``options`` that is not None and that
        its constructor takes (the harness passes ``comm``, the communicator of a case's
        ranks, and ``endpoint``, a ZeroMQ address). A user's class is built with no
        arguments.
        """
        cls = self.load()
        kwargs = dict(self.kwargs)
        if self.implementation != "user":
            params = inspect.signature(cls).parameters
            given = {"timeout": timeout, **options}
            kwargs.update({k: v for k, v in given.items() if k in params and v is not None})
        return cls(**kwargs)

    def payload_bytes(self, data: dict[str, Any]) -> int | None:
        """Size of ``data`` as this backend stores or sends it, if the harness can know."""
        if self.encoding == "pickle":
            return len(pickle.dumps(data, protocol=5))
        if self.encoding == "codec":
            from ._core import serialize

            return len(serialize(data))
        return None


def _builtin(b: backends.Backend) -> BackendSpec:
    assert b.python_class is not None, f"backends.json: {b.name} has no python.class"
    return BackendSpec(b.name, b.implementation, b.display_name, b.reference, b.python_class,
                       kwargs=dict(b.python_kwargs), encoding=b.encoding)


_BUILTIN: tuple[BackendSpec, ...] = tuple(
    _builtin(b) for b in backends.of_harness("python").values())

BUILTIN: dict[str, BackendSpec] = {spec.name: spec for spec in _BUILTIN}


def user_spec(target: str) -> BackendSpec:
    """The spec of a user's ``module:Class``; ValueError if the text is not of that form.

    The class is imported when first used (``load``), on every rank alike.
    """
    module_name, sep, attr = target.partition(":")
    if not (sep and module_name and attr.isidentifier()):
        raise ValueError(
            f"backend {target!r}: expected 'module:Class', e.g. 'mypackage.store:MyBackend'"
        )
    return BackendSpec(target, "user", attr, None, target)


def resolve(name: str) -> BackendSpec:
    """The spec of a registry name or a ``module:Class``; ValueError lists the names."""
    if ":" in name:
        return user_spec(name)
    try:
        return BUILTIN[name]
    except KeyError:
        raise ValueError(
            f"unknown backend {name!r}: choose from {', '.join(BUILTIN)}, "
            "or give a 'module:Class'"
        ) from None


def default_backends() -> tuple[list[BackendSpec], dict[str, str]]:
    """Every built-in backend available here, and why each of the others is not."""
    available, missing = [], {}
    for spec in _BUILTIN:
        reason = spec.unavailable_reason()
        if reason is None:
            available.append(spec)
        else:
            missing[spec.name] = reason
    return available, missing
