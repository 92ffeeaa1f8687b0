"""CEL expressions over one Kubernetes object, as Flux's `healthCheckExprs` write them.

An expression sees the object as `self`, and, as in Flux, each of its top-level fields by name
(`status.phase` is `self.status.phase`). The runtime is Google's CEL C++ implementation
(`cel-expr-python`) with the `strings` and `optional` extensions Kubernetes enables, so an
expression that works in a CRD validation rule or in Flux works here.

It lives in the model because resources are checked at load time (`gitmoor validate` reports a
rule that does not compile at its file and line); health evaluates the same compiled programs.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

TOP_LEVEL = ("apiVersion", "kind", "metadata", "spec", "status", "data")


@functools.cache
def _cel() -> Any:
    # Loaded at the first expression, not at import: the runtime's libraries take ~12 MiB of
    # an agent's memory, and most clusters declare no CEL health rule.
    from cel_expr_python import cel  # type: ignore[import-untyped]

    return cel


@functools.cache
def _env() -> Any:
    from cel_expr_python.ext import ext_optional, ext_strings  # type: ignore[import-untyped]

    cel = _cel()
    return cel.NewEnv(
        variables={"self": cel.Type.DYN, **{name: cel.Type.DYN for name in TOP_LEVEL}},
        extensions=[ext_strings.ExtStrings(), ext_optional.ExtOptional()],
    )


class CelError(ValueError):
    """An expression that does not compile, or that failed or gave no bool on an object."""


class Bound:
    """An object converted once into CEL's values: converting costs more than evaluating a
    typical rule, and a health rule evaluates up to three expressions on the same object."""

    def __init__(self, obj: Mapping[str, Any]) -> None:
        metadata = obj.get("metadata")
        if isinstance(metadata, Mapping) and "managedFields" in metadata:
            # Often the largest part of a live object, and no rule reads it: not converted.
            metadata = {k: v for k, v in metadata.items() if k != "managedFields"}
            obj = {**obj, "metadata": metadata}
        data = {"self": obj, **{k: obj[k] for k in TOP_LEVEL if k in obj}}
        try:
            self.activation = _env().Activation(data=data)
        except Exception as err:  # a value CEL cannot represent
            raise CelError(f"cannot read the object: {err}") from err


class Program:
    """A compiled expression; compile once (see `compile_expr`), evaluate on many objects.

    A program made by `deferred` compiles at its first evaluation instead, raising CelError
    there when it does not compile."""

    def __init__(self, source: str, compiled: Any) -> None:
        self.source = source
        self._compiled = compiled

    def __call__(self, obj: Mapping[str, Any] | Bound) -> bool:
        """The value on `obj`; pass a `Bound` to evaluate several programs on one object."""
        result = self.evaluate(obj)
        if not isinstance(result, bool):
            raise CelError(f"{self.source!r} gave {result!r}, not a bool")
        return result

    def evaluate(self, obj: Mapping[str, Any] | Bound) -> Any:
        """The plain value on `obj`, whatever its type."""
        if self._compiled is None:
            self._compiled = compile_expr(self.source)._compiled
        try:
            bound = obj if isinstance(obj, Bound) else Bound(obj)
            value = self._compiled.eval(activation=bound.activation)
        except CelError:
            raise
        except Exception as err:  # the bindings raise plain RuntimeErrors for odd inputs
            raise CelError(f"{self.source!r}: {err}") from err
        if value.type() == _cel().Type.ERROR:
            raise CelError(f"{self.source!r}: {value.plain_value()}")
        return value.plain_value()


def deferred(source: str) -> Program:
    """The program of `source`, compiled at its first evaluation: for rules known to compile
    (the built-in library, checked by its tests), so that loading them costs neither the CEL
    runtime nor the programs of kinds the cluster never shows."""
    return Program(source, None)


@functools.lru_cache(maxsize=4096)
def compile_expr(source: str) -> Program:
    """The program of `source`, cached: the same rule in many Syncs compiles once."""
    try:
        compiled = _env().compile(source)
    except Exception as err:
        raise CelError(f"CEL expression {source!r} does not compile: {_first_line(err)}") from err
    return Program(source, compiled)


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return " ".join(line.strip() for line in text.splitlines() if line.strip())[:300]
