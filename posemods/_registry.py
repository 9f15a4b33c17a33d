"""What the two registries by name share: the model registry (:mod:`posemods.models`) and the dataset
registry (:mod:`posemods.data`) each keep a ``name -> spec`` dict and add to it through :func:`add_spec`,
so a wrong spec or a second spec of one name is refused alike in both."""

from __future__ import annotations

from typing import TypeVar

Spec = TypeVar("Spec")


def add_spec(registry: dict[str, Spec], spec: Spec, spec_type: type[Spec], kind: str) -> Spec:
    """Add ``spec`` to ``registry`` under ``spec.name`` and return it: a ``TypeError`` unless it is a
    ``spec_type``, a ``ValueError`` if a ``kind`` (``"model"``, ``"dataset"``) of that name is registered."""
    if not isinstance(spec, spec_type):
        raise TypeError(f"spec: expected a {spec_type.__name__}, got {type(spec).__name__}")
    if spec.name in registry:
        raise ValueError(f"name: a {kind} named {spec.name!r} is already registered")
    registry[spec.name] = spec
    return spec
