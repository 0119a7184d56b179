"""Local stand-ins for the outside world, for `gitbot demo` and the tests.

`gitbot.sim.prometheus` launches a real Prometheus binary scraping local exporters; the
simulated Flux + Istio cluster lives beside it.
"""
