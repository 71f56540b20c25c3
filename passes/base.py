"""Pass infrastructure: a pass takes a model and returns a PassResult.

Modelled on onnx-ir's pass infra: every pass has a `name`, states its
preconditions (`requires`) and postconditions (`ensures`), never mutates the
model it is given, and any failure surfaces as a PassError that names the pass.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

import onnx


class PassError(Exception):
    """A pass failed. str(e) is one line that starts with the pass name."""

    def __init__(self, pass_name: str, message: str):
        self.pass_name = pass_name
        # One line, so it reads well in CLI output and JSON reports.
        self.message = " ".join(str(message).split())
        super().__init__(f"{pass_name}: {self.message}")


@dataclass
class PassResult:
    model: onnx.ModelProto
    modified: bool
    # JSON-serialisable records of what changed, e.g.
    # {"node": "Resize.0", "action": "...", "exact": True}
    changes: list[dict[str, Any]] = field(default_factory=list)


class GraphPass:
    """Base class. Subclasses set `name`/`description` and implement `apply`.

    `apply(model, **options)` receives a private copy of the model it may edit
    in place; its keyword-only parameters are the pass's options. Callers use
    `run`, which copies, checks `requires`, applies, then checks `ensures`.
    """

    name: str = ""
    description: str = ""

    def run(self, model: onnx.ModelProto, **options: Any) -> PassResult:
        self._check_options(options)
        work = onnx.ModelProto()
        work.CopyFrom(model)  # never touch the caller's model
        try:
            self.requires(work, **options)
            result = self.apply(work, **options)
            self.ensures(result.model, **options)
        except PassError:
            raise
        except Exception as e:  # name the pass in every failure
            raise PassError(self.name, f"{type(e).__name__}: {e}") from e
        return result

    # -- hooks -------------------------------------------------------------
    def apply(self, model: onnx.ModelProto, **options: Any) -> PassResult:
        raise NotImplementedError

    def requires(self, model: onnx.ModelProto, **options: Any) -> None:
        """Raise PassError if the model is not fit for this pass."""

    def ensures(self, model: onnx.ModelProto, **options: Any) -> None:
        """Raise PassError if the pass did not establish its guarantee."""

    # -- helpers -----------------------------------------------------------
    def error(self, message: str) -> PassError:
        return PassError(self.name, message)

    def options(self) -> list[str]:
        """Option names this pass accepts (keyword-only params of `apply`)."""
        params = inspect.signature(self.apply).parameters.values()
        return [p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY]

    def _check_options(self, options: dict[str, Any]) -> None:
        unknown = sorted(set(options) - set(self.options()))
        if unknown:
            accepted = ", ".join(self.options()) or "none"
            raise self.error(f"unknown option(s) {', '.join(unknown)} (accepted: {accepted})")
