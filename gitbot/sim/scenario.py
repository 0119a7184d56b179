"""Workload behaviour per container image for the simulated cluster.

A scenario file says how each image behaves: its error rate, its latency quantiles and how long its
pods take to become available. ``gitbot.sim.cluster`` loads it and ``gitbot.sim.mesh`` asks it how a
workload answers. Example::

    defaults: {error_rate: 0.0, latency_ms: {p50: 20, p99: 60}, ready_after: 1s}
    images:
      ghcr.io/stefanprodan/podinfo:6.0.1: {}
      podinfo:6.0.2: {error_rate: 0.30}

An image matches a key exactly, or by a ``name:tag`` suffix after a ``/``.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

_Z99 = 2.3263478740408408  # standard normal quantile at 0.99
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, None: 1.0}


class ScenarioError(ValueError):
    """The scenario file or mapping is not valid."""


@dataclass(frozen=True)
class Behaviour:
    """How one image answers: share of 500s, latency quantiles in ms, readiness delay in s."""

    error_rate: float = 0.0
    p50_ms: float = 20.0
    p99_ms: float = 60.0
    ready_after: float = 1.0

    def sample_latency_ms(self, rng: random.Random) -> float:
        """Draw a latency from a log-normal distribution with this p50 and p99."""
        if self.p50_ms <= 0:
            return 0.0
        ratio = max(self.p99_ms, self.p50_ms) / self.p50_ms
        sigma = math.log(ratio) / _Z99
        return self.p50_ms * math.exp(sigma * rng.gauss(0.0, 1.0))


@dataclass(frozen=True)
class Scenario:
    """Behaviour for each image, with defaults for images not listed."""

    defaults: Behaviour = field(default_factory=Behaviour)
    images: Mapping[str, Behaviour] = field(default_factory=dict)

    def for_image(self, image: str) -> Behaviour:
        """The behaviour of ``image``: an exact key, else the longest matching suffix key."""
        if image in self.images:
            return self.images[image]
        matches = [key for key in self.images if image.endswith("/" + key)]
        if matches:
            return self.images[max(matches, key=len)]
        return self.defaults

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Scenario:
        """Build a scenario from the parsed YAML mapping."""
        if not isinstance(data, Mapping):
            raise ScenarioError("scenario must be a mapping")
        defaults = _behaviour(data.get("defaults") or {}, Behaviour(), "defaults")
        images_raw = data.get("images") or {}
        if not isinstance(images_raw, Mapping):
            raise ScenarioError("images must be a mapping of image to behaviour")
        images = {
            str(image): _behaviour(spec or {}, defaults, f"images[{image}]")
            for image, spec in images_raw.items()
        }
        return cls(defaults=defaults, images=images)

    @classmethod
    def load(cls, path: Path) -> Scenario:
        """Read a scenario YAML file."""
        with path.open(encoding="utf-8") as stream:
            data = YAML(typ="safe", pure=True).load(stream)
        return cls.from_mapping(data or {})


def parse_duration(value: object) -> float:
    """Seconds from ``1s``, ``500ms``, ``2m`` or a plain number of seconds."""
    if isinstance(value, bool):
        raise ScenarioError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        return float(value)
    found = _DURATION.match(str(value))
    if not found:
        raise ScenarioError(f"not a duration: {value!r}")
    return float(found.group(1)) * _UNIT_SECONDS[found.group(2)]


def _behaviour(spec: object, base: Behaviour, where: str) -> Behaviour:
    if not isinstance(spec, Mapping):
        raise ScenarioError(f"{where}: must be a mapping")
    changes: dict[str, float] = {}
    try:
        if "error_rate" in spec:
            changes["error_rate"] = float(spec["error_rate"])
        if "ready_after" in spec:
            changes["ready_after"] = parse_duration(spec["ready_after"])
        latency = spec.get("latency_ms") or {}
        if "p50" in latency:
            changes["p50_ms"] = float(latency["p50"])
        if "p99" in latency:
            changes["p99_ms"] = float(latency["p99"])
    except (TypeError, ValueError, AttributeError) as err:
        raise ScenarioError(f"{where}: {err}") from err
    if not 0.0 <= changes.get("error_rate", base.error_rate) <= 1.0:
        raise ScenarioError(f"{where}: error_rate must be between 0 and 1")
    return replace(base, **changes)
