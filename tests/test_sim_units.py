"""Unit checks of gitbot.sim's parts: scenario, manifest parsing, cookie jars, routing, exporter."""

from __future__ import annotations

import random
import statistics
from pathlib import Path

import pytest

from gitbot.sim.exporter import Request, Telemetry
from gitbot.sim.flux import load_manifests
from gitbot.sim.mesh import Mesh, User, make_users
from gitbot.sim.objects import Deployment, ManifestError, StringMatch, VirtualService, parse_object
from gitbot.sim.scenario import Behaviour, Scenario, ScenarioError, parse_duration
from gitbot.sim.workloads import ClusterObjects

DATA = Path(__file__).parent / "data" / "sim"


@pytest.mark.parametrize(
    ("image", "error_rate"),
    [
        pytest.param("ghcr.io/stefanprodan/podinfo:6.0.1", 0.0, id="exact-key"),
        pytest.param("ghcr.io/stefanprodan/podinfo:6.0.2", 0.30, id="name-tag-suffix"),
        pytest.param("docker.io/other/podinfo:6.0.2", 0.30, id="suffix-any-registry"),
        pytest.param("ghcr.io/stefanprodan/notpodinfo:6.0.2", 0.0, id="suffix-needs-slash"),
        pytest.param("nginx:1.25", 0.0, id="unknown-image-uses-defaults"),
    ],
)
def test_scenario_matches_images(image: str, error_rate: float) -> None:
    scenario = Scenario.load(DATA / "scenario.yaml")
    assert scenario.for_image(image).error_rate == error_rate


def test_scenario_image_entries_inherit_defaults() -> None:
    scenario = Scenario.load(DATA / "scenario.yaml")
    slow = scenario.for_image("ghcr.io/stefanprodan/podinfo:6.0.3")
    assert slow == Behaviour(error_rate=0.0, p50_ms=400, p99_ms=900, ready_after=0.2)
    assert scenario.for_image("x/podinfo:6.0.2").ready_after == pytest.approx(0.05)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        pytest.param("1s", 1.0, id="seconds"),
        pytest.param("250ms", 0.25, id="milliseconds"),
        pytest.param("2m", 120.0, id="minutes"),
        pytest.param(3, 3.0, id="plain-number"),
    ],
)
def test_parse_duration(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "data",
    [
        pytest.param({"defaults": {"error_rate": 1.5}}, id="error-rate-above-one"),
        pytest.param({"images": {"a:1": {"ready_after": "soon"}}}, id="bad-duration"),
        pytest.param({"images": ["a:1"]}, id="images-not-a-mapping"),
    ],
)
def test_scenario_rejects_bad_input(data: dict[str, object]) -> None:
    with pytest.raises(ScenarioError):
        Scenario.from_mapping(data)


def test_latency_samples_have_the_configured_quantiles() -> None:
    rng = random.Random(7)
    samples = sorted(Behaviour(p50_ms=20, p99_ms=60).sample_latency_ms(rng) for _ in range(20000))
    assert statistics.median(samples) == pytest.approx(20, rel=0.05)
    assert samples[int(0.99 * len(samples))] == pytest.approx(60, rel=0.1)


@pytest.mark.parametrize(
    ("match", "text", "expected"),
    [
        pytest.param(StringMatch("exact", "insider"), "insider", True, id="exact-equal"),
        pytest.param(StringMatch("exact", "insider"), "insiders", False, id="exact-longer"),
        pytest.param(StringMatch("prefix", "ins"), "insider", True, id="prefix"),
        pytest.param(StringMatch("suffix", "der"), "insider", True, id="suffix"),
        pytest.param(StringMatch("regex", "^(.*?;)?(canary=always)(;.*)?$"),
                     "canary=always; a=1", True, id="regex-cookie-first"),
        pytest.param(StringMatch("regex", "^(.*?;)?(canary=always)(;.*)?$"),
                     "a=1; canary=always", False, id="regex-full-match-sees-the-space"),
        pytest.param(StringMatch("regex", "ins"), "insider", False, id="regex-is-anchored"),
        pytest.param(StringMatch("exact", "x"), None, False, id="absent-header"),
    ],
)
def test_string_match(match: StringMatch, text: str | None, expected: bool) -> None:
    assert match.matches(text) is expected


def _deployment_doc(**spec: object) -> dict[str, object]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": spec}


@pytest.mark.parametrize(
    "doc",
    [
        pytest.param(["a list"], id="not-a-mapping"),
        pytest.param({"kind": "Service", "metadata": {"name": "s"}}, id="no-apiVersion"),
        pytest.param(_deployment_doc(template={"spec": {"containers": []}}), id="no-containers"),
        pytest.param(_deployment_doc(replicas="many", template={
            "spec": {"containers": [{"image": "a"}]}}), id="replicas-not-a-number"),
        pytest.param({"apiVersion": "networking.istio.io/v1beta1", "kind": "VirtualService",
                      "metadata": {"name": "v"},
                      "spec": {"http": [{"match": [{"headers": {"a": {"regex": "("}}}],
                                         "route": [{"destination": {"host": "x"}}]}]}},
                     id="bad-regex"),
    ],
)
def test_malformed_objects_are_rejected(doc: object) -> None:
    with pytest.raises(ManifestError):
        parse_object(doc)


def test_unknown_kinds_are_ignored_and_namespace_defaults() -> None:
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    assert parse_object(config_map) is None
    parsed = parse_object(_deployment_doc(template={"spec": {"containers": [{"image": "a"}]}}))
    assert parsed == Deployment("default", "d", 1, (), ("a",))


def test_load_manifests_reads_plain_directories(tmp_path: Path) -> None:
    objects = load_manifests(DATA / "podinfo")
    kinds = sorted((type(o).__name__, o.name) for o in objects)
    assert kinds == [("Deployment", "podinfo"), ("Deployment", "podinfo-primary"),
                     ("Service", "podinfo"), ("Service", "podinfo-canary"),
                     ("Service", "podinfo-primary"), ("VirtualService", "podinfo")]


def test_load_manifests_missing_kustomization_resource(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: [missing.yaml]\n", encoding="utf-8")
    with pytest.raises(ManifestError, match=r"missing\.yaml"):
        load_manifests(tmp_path)


def test_cookie_jar_stores_expires_and_deletes() -> None:
    user = User(insider=False)
    user.store_cookie("podinfo", "flagger-cookie=abc; Max-Age=10; Path=/", now=0.0)
    assert user.headers("podinfo", now=5.0) == {"cookie": "flagger-cookie=abc"}
    assert user.headers("podinfo", now=11.0) == {}
    assert user.headers("other", now=5.0) == {}
    user.store_cookie("podinfo", "flagger-cookie=abc; Max-Age=-1", now=6.0)
    assert user.headers("podinfo", now=7.0) == {}


def test_the_ab_cookie_comes_first_so_flaggers_regex_matches() -> None:
    user = User(insider=True)
    user.store_cookie("podinfo", "flagger-cookie=abc", now=0.0)
    cookie = user.headers("podinfo", now=1.0)["cookie"]
    assert cookie == "canary=always; flagger-cookie=abc"
    assert StringMatch("regex", "^(.*?;)?(canary=always)(;.*)?$").matches(cookie)


def test_insiders_are_spread_evenly() -> None:
    users = make_users(100, 0.25)
    assert sum(u.insider for u in users) == 25
    assert all(sum(u.insider for u in users[i:i + 4]) == 1 for i in range(0, 100, 4))
    assert User(insider=True).headers("h", 0.0) == {"x-canary": "insider",
                                                    "cookie": "canary=always"}


def _topology(weights: tuple[int, int]) -> ClusterObjects:
    docs = [
        _deployment_doc_named("primary", "app-primary", "img:1"),
        _deployment_doc_named("canary", "app", "img:1"),
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "app-primary"},
         "spec": {"selector": {"app": "primary"}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "app-canary"},
         "spec": {"selector": {"app": "canary"}}},
        {"apiVersion": "networking.istio.io/v1beta1", "kind": "VirtualService",
         "metadata": {"name": "app"},
         "spec": {"hosts": ["app"], "http": [{"route": [
             {"destination": {"host": "app-primary"}, "weight": weights[0]},
             {"destination": {"host": "app-canary.default.svc.cluster.local"},
              "weight": weights[1]}]}]}},
    ]
    objects = ClusterObjects(Scenario(defaults=Behaviour(ready_after=0.0)))
    objects.apply([o for d in docs if (o := parse_object(d)) is not None], now=0.0)
    return objects


def _deployment_doc_named(label: str, name: str, image: str) -> dict[str, object]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": 1, "template": {"metadata": {"labels": {"app": label}},
                                                 "spec": {"containers": [{"image": image}]}}}}


@pytest.mark.parametrize(
    "weights",
    [pytest.param((90, 10), id="90-10"), pytest.param((33, 67), id="33-67"),
     pytest.param((100, 0), id="all-primary")],
)
def test_weighted_split_is_exact(weights: tuple[int, int]) -> None:
    telemetry = Telemetry()
    mesh = Mesh(telemetry, request_rate=1000.0, ab_share=0.0)
    topology = _topology(weights).topology(now=1.0)
    assert isinstance(topology.virtual_services[0], VirtualService)
    mesh.tick(topology, dt=1.0, now=1.0)
    counts = _destination_counts(telemetry)
    assert counts.get("app", 0) == pytest.approx(10 * weights[1], abs=1)
    assert counts.get("app-primary", 0) == pytest.approx(10 * weights[0], abs=1)


def _destination_counts(telemetry: Telemetry) -> dict[str, float]:
    counts: dict[str, float] = {}
    for family in telemetry.families():
        for sample in family.samples:
            if sample.name == "istio_requests_total" and sample.labels["reporter"] == "destination":
                workload = sample.labels["destination_workload"]
                counts[workload] = counts.get(workload, 0) + sample.value
    return counts


def test_histogram_buckets_are_cumulative_with_istio_bounds() -> None:
    telemetry = Telemetry()
    workload = _topology((100, 0)).topology(now=1.0).backend("app-primary", "default")[1]
    for latency in (0.2, 7.0, 7.0, 4000.0):
        telemetry.record(Request("c", "default", ("default", "app-primary"), workload, 200, "-",
                                 latency))
    hist = telemetry.families()[1]
    buckets = {s.labels["le"]: s.value for s in hist.samples if s.name.endswith("_bucket")}
    assert (buckets["0.5"], buckets["10"], buckets["2500"], buckets["5000"], buckets["+Inf"]) == (
        1, 3, 3, 4, 4)
    assert next(s.value for s in hist.samples if s.name.endswith("_sum")) == pytest.approx(4014.2)
