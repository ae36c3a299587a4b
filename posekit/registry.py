"""A small name → object registry with close-match suggestions for unknown names."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Generic, TypeVar

from posekit.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps lowercase names to objects; ``get`` raises ConfigError naming the valid choices."""

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} registered twice")
            self._items[name] = obj
            return obj

        return deco

    def get(self, name: str) -> T:
        if name in self._items:
            return self._items[name]
        close = difflib.get_close_matches(name, self._items, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError(
            f"unknown {self.kind} {name!r}",
            hint=f"{hint}valid {self.kind} names: {', '.join(sorted(self._items))}",
        )

    def names(self) -> list[str]:
        return sorted(self._items)
