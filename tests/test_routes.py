"""Unit table for gitbot.core.routes: the desired Istio routes per strategy and their reading."""

from __future__ import annotations

from typing import Any

import pytest

from gitbot.core.routes import http_routes, merge_match, read_traffic, virtual_service
from gitbot.core.spec import Analysis, Canary, ObjectRef, ServiceSpec, SessionAffinity, freeze
from gitbot.core.state import Traffic


def canary(analysis: Analysis | None = None, **service: Any) -> Canary:
    return Canary(name="podinfo", namespace="test", target=ObjectRef("podinfo"),
                  service=ServiceSpec(port=9898, **service), analysis=analysis or Analysis())


def dests(p: int, c: int) -> list[dict[str, Any]]:
    return [{"destination": {"host": "podinfo-primary"}, "weight": p},
            {"destination": {"host": "podinfo-canary"}, "weight": c}]


URI = {"uri": {"prefix": "/api"}}
HDR = {"headers": {"x-canary": {"exact": "insider"}}}
AFFINITY = SessionAffinity(cookie_name="c", max_age=60, domain="x.io", http_only=True)
PRIMARY_AFFINITY = SessionAffinity(cookie_name="c", primary_cookie_name="p", max_age=60,
                                   domain="x.io", http_only=True)

ROUTE_CASES = [
    pytest.param(canary(), Traffic(90, 10), [{"route": dests(90, 10)}], id="canary-weights"),
    pytest.param(canary(), Traffic(100, 0), [{"route": dests(100, 0)}], id="zero-weight-written"),
    pytest.param(canary(match=freeze([URI]), timeout="5s", retries=freeze({"attempts": 2})),
                 Traffic(80, 20),
                 [{"match": [URI], "timeout": "5s", "retries": {"attempts": 2},
                   "route": dests(80, 20)}], id="service-fields-copied"),
    pytest.param(canary(Analysis(mirror_weight=30)), Traffic(100, 0, mirror=True),
                 [{"route": dests(100, 0), "mirror": {"host": "podinfo-canary"},
                   "mirrorPercentage": {"value": 30}}], id="mirror-with-percentage"),
    pytest.param(canary(Analysis(iterations=5)), Traffic(100, 0, mirror=True),
                 [{"route": dests(100, 0), "mirror": {"host": "podinfo-canary"}}],
                 id="blue-green-mirror-without-percentage"),
    pytest.param(canary(Analysis(iterations=5, match=freeze([HDR]))), Traffic(0, 100),
                 [{"match": [HDR], "route": dests(0, 100)},
                  {"route": [{"destination": {"host": "podinfo-primary"}, "weight": 0}]}],
                 id="ab-match-and-fallback"),
    pytest.param(canary(Analysis(iterations=5, match=freeze([HDR])), match=freeze([URI])),
                 Traffic(0, 100),
                 [{"match": [{**URI, **HDR}], "route": dests(0, 100)},
                  {"match": [URI], "route": [{"destination": {"host": "podinfo-primary"},
                                              "weight": 0}]}],
                 id="ab-match-merged-with-service-match"),
    pytest.param(canary(Analysis(session_affinity=AFFINITY)), Traffic(90, 10, session_cookie="c=v"),
                 [{"name": "sticky-route",
                   "match": [{"headers": {"Cookie": {"regex": ".*c.*v.*"}}}],
                   "route": dests(0, 100)},
                  {"route": [dests(90, 10)[0], {**dests(90, 10)[1], "headers": {"response": {
                      "add": {"Set-Cookie": "c=v; Max-Age=60; Domain=x.io; HttpOnly"}}}}]}],
                 id="session-affinity-sticky-first"),
    pytest.param(canary(Analysis(session_affinity=AFFINITY)),
                 Traffic(100, 0, previous_cookie="c=old"),
                 [{"name": "sticky-route",
                   "match": [{"headers": {"Cookie": {"regex": ".*c.*old.*"}}}],
                   "headers": {"response": {"add": {"Set-Cookie": "c=old; Max-Age=-1"}}},
                   "route": dests(100, 0)},
                  {"route": dests(100, 0)}], id="session-affinity-expires-previous-cookie"),
    pytest.param(canary(Analysis(interval_seconds=30, session_affinity=PRIMARY_AFFINITY)),
                 Traffic(90, 10, session_cookie="c=v", primary_cookie="p=w"),
                 [{"name": "sticky-route",
                   "match": [{"headers": {"Cookie": {"regex": ".*c.*v.*"}}}],
                   "route": dests(0, 100)},
                  {"name": "sticky-route-primary",
                   "match": [{"headers": {"Cookie": {"regex": ".*p.*w.*"}}}],
                   "route": dests(100, 0)},
                  {"route": [{**dests(90, 10)[0], "headers": {"response": {
                      "add": {"Set-Cookie": "p=w; Max-Age=30; Domain=x.io; HttpOnly"}}}},
                             {**dests(90, 10)[1], "headers": {"response": {
                      "add": {"Set-Cookie": "c=v; Max-Age=60; Domain=x.io; HttpOnly"}}}}]}],
                 id="session-affinity-primary-cookie-lasts-one-interval"),
    pytest.param(canary(Analysis(interval_seconds=30, session_affinity=PRIMARY_AFFINITY)),
                 Traffic(100, 0, previous_cookie="c=old"),
                 [{"name": "sticky-route",
                   "match": [{"headers": {"Cookie": {"regex": ".*c.*old.*"}}}],
                   "headers": {"response": {"add": {"Set-Cookie": "c=old; Max-Age=-1"}}},
                   "route": dests(100, 0)},
                  {"route": dests(100, 0)}], id="session-affinity-primary-cookie-gone-at-zero"),
]


@pytest.mark.parametrize(("spec", "traffic", "want"), ROUTE_CASES)
def test_http_routes(spec: Canary, traffic: Traffic, want: list[dict[str, Any]]) -> None:
    assert http_routes(spec, traffic) == want


READ_CASES = [
    pytest.param(canary(), Traffic(70, 30), id="canary"),
    pytest.param(canary(Analysis(mirror_weight=30)), Traffic(100, 0, mirror=True), id="mirror"),
    pytest.param(canary(Analysis(iterations=5, match=freeze([HDR]))), Traffic(0, 100), id="ab"),
    pytest.param(canary(Analysis(session_affinity=AFFINITY)),
                 Traffic(60, 40, session_cookie="c=v"), id="sticky"),
    pytest.param(canary(Analysis(session_affinity=AFFINITY)),
                 Traffic(100, 0, previous_cookie="c=old"), id="sticky-previous"),
    pytest.param(canary(Analysis(session_affinity=PRIMARY_AFFINITY)),
                 Traffic(60, 40, session_cookie="c=v", primary_cookie="p=w"),
                 id="sticky-with-primary-cookie"),
]


@pytest.mark.parametrize(("spec", "traffic"), READ_CASES)
def test_read_traffic_inverts_http_routes(spec: Canary, traffic: Traffic) -> None:
    assert read_traffic(spec, http_routes(spec, traffic)) == traffic


def test_read_traffic_without_managed_route_is_none() -> None:
    foreign = [{"route": [{"destination": {"host": "podinfo"}}]}]
    assert read_traffic(canary(), foreign) is None


def test_merge_match_keeps_only_headers_and_source_labels() -> None:
    cond = {"headers": {"a": {"exact": "b"}}, "uri": {"exact": "/ignored"}}
    assert merge_match([cond], [URI, {"method": {"exact": "GET"}}]) == [
        {**URI, "headers": cond["headers"]},
        {"method": {"exact": "GET"}, "headers": cond["headers"]},
    ]


@pytest.mark.parametrize(("hosts", "want"), [
    pytest.param((), ["podinfo"], id="default-host"),
    pytest.param(("app.io",), ["app.io", "podinfo"], id="service-host-appended"),
    pytest.param(("*",), ["*"], id="wildcard-keeps-list"),
    pytest.param(("podinfo", "app.io"), ["podinfo", "app.io"], id="present-not-duplicated"),
])
def test_virtual_service_hosts(hosts: tuple[str, ...], want: list[str]) -> None:
    vs = virtual_service(canary(hosts=hosts), Traffic())
    assert vs["spec"]["hosts"] == want
    assert vs["spec"]["gateways"] == ["mesh"]
    assert vs["metadata"] == {"name": "podinfo", "namespace": "test"}
    assert vs["apiVersion"] == "networking.istio.io/v1beta1"


def test_delegate_virtual_service_has_no_hosts_or_gateways() -> None:
    vs = virtual_service(canary(delegation=True), Traffic(90, 10))
    assert set(vs["spec"]) == {"http"}


PORT = {"number": 9898}


@pytest.mark.parametrize(("service", "port"), [
    pytest.param({}, None, id="no-discovery"),
    pytest.param({"port_discovery": True}, None, id="discovery-mesh-only"),
    pytest.param({"port_discovery": True, "gateways": ("mesh", "istio-system/public")}, None,
                 id="discovery-mesh-first"),
    pytest.param({"port_discovery": True, "gateways": ("istio-system/public",)}, PORT,
                 id="discovery-behind-a-gateway"),
    pytest.param({"port_discovery": True, "delegation": True}, PORT, id="discovery-delegate"),
    pytest.param({"gateways": ("istio-system/public",)}, None, id="gateway-without-discovery"),
])
def test_destination_port_named_like_flagger(service: dict[str, Any],
                                             port: dict[str, int] | None) -> None:
    for spec in (canary(**service), canary(Analysis(iterations=5, match=freeze([HDR])),
                                           **service)):
        for route in http_routes(spec, Traffic(80, 20)):
            assert [d["destination"].get("port") for d in route["route"]] == (
                [port] * len(route["route"]))
