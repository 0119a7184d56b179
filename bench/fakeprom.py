"""The stand-in Prometheus of the benchmarks (bench/scale.py, bench/soak.py, bench/probes.py):
`gitbot.sim.promstub.PromStub`, the one the fast tests use too, under the name the bench
scripts import."""

from __future__ import annotations

from gitbot.sim.promstub import PromStub as FakePrometheus

__all__ = ["FakePrometheus"]
