"""Loading Flagger documents from a repository on disk: seeds, broken documents, cross-checks."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gitbot.adapters.specs import SpecSet, format_problems, load_repository
from gitbot.core.problems import Problem
from gitbot.core.spec import Canary, ObjectRef, Severity, Strategy, WebhookType

DATA = Path(__file__).parent / "data"
SEEDS = DATA / "seeds"
SPECS = DATA / "specs"


def single_canary(specs: SpecSet) -> Canary:
    assert format_problems(specs.problems) == ""
    assert len(specs.canaries) == 1
    return specs.canaries[0]


@pytest.mark.parametrize("seed", sorted(p.name for p in SEEDS.iterdir()))
def test_every_seed_canary_loads_without_problems(seed: str) -> None:
    specs = load_repository(SEEDS / seed)
    assert format_problems(specs.problems) == ""
    assert len(specs.canaries) == 1


def test_seed_podinfo_canary_values() -> None:
    canary = single_canary(load_repository(SEEDS / "seed001-canary"))
    assert canary.key == "test/podinfo"
    assert canary.target == ObjectRef(name="podinfo", kind="Deployment", api_version="apps/v1")
    assert canary.progress_deadline_seconds == 60
    assert canary.autoscaler is not None and canary.autoscaler.name == "podinfo"
    assert (canary.service.port, canary.service.target_port) == (9898, 9898)
    assert canary.service.gateways == ("public-gateway.istio-system.svc.cluster.local",)
    assert canary.service.hosts == ("app.example.com",)
    assert canary.service.traffic_policy["tls"]["mode"] == "DISABLE"
    assert canary.service.retries["retryOn"] == "gateway-error,connect-failure,refused-stream"
    analysis = canary.analysis
    assert (analysis.interval_seconds, analysis.threshold) == (60, 5)
    assert (analysis.max_weight, analysis.step_weight) == (50, 10)
    assert canary.strategy is Strategy.CANARY
    success, duration = analysis.metrics
    assert (success.name, success.threshold_range.min, success.interval) == (
        "request-success-rate", 99.0, "1m")
    assert (duration.name, duration.threshold_range.max, duration.interval) == (
        "request-duration", 500.0, "30s")
    acceptance, load = analysis.webhooks
    assert (acceptance.name, acceptance.type, acceptance.timeout_seconds) == (
        "acceptance-test", WebhookType.PRE_ROLLOUT, 30.0)
    assert acceptance.url == "http://flagger-loadtester.test/"
    assert acceptance.metadata["type"] == "bash"
    assert (load.name, load.type, load.timeout_seconds) == ("load-test", WebhookType.ROLLOUT, 5.0)
    assert load.metadata == {"cmd": "hey -z 1m -q 10 -c 2 http://podinfo-canary.test:9898/"}
    assert canary.source is not None
    assert (canary.source.path, canary.source.line) == ("podinfo-canary.yaml", 2)


def test_seed_blue_green_and_alerts() -> None:
    blue_green = single_canary(load_repository(SEEDS / "seed001-blue-green"))
    assert (blue_green.strategy, blue_green.analysis.iterations) == (Strategy.BLUE_GREEN, 10)
    specs = load_repository(SEEDS / "seed001-alerts")
    alert = single_canary(specs).analysis.alerts[0]
    assert (alert.name, alert.severity) == ("on-call Slack", Severity.INFO)
    provider = specs.provider(alert.provider_ref)
    assert provider is not None
    assert (provider.type, provider.channel, provider.username, provider.secret_ref) == (
        "slack", "on-call-alerts", "flagger", "on-call-url")


def test_seed_session_affinity_mirror_and_kustomize_namespace() -> None:
    sticky = single_canary(load_repository(SEEDS / "seed003-session-affinity")).analysis
    assert sticky.session_affinity is not None
    assert (sticky.session_affinity.cookie_name, sticky.session_affinity.max_age) == (
        "flagger-cookie", 21600)
    mirror = single_canary(load_repository(SEEDS / "seed003-mirror"))
    assert (mirror.analysis.mirror, mirror.analysis.mirror_weight) == (True, 100)
    assert mirror.strategy is Strategy.BLUE_GREEN
    account = single_canary(load_repository(SEEDS / "seed002-blue-green"))
    assert account.key == "shop/account"
    assert (account.analysis.iterations, account.analysis.threshold) == (10, 2)


def broken_repo(tmp_path: Path, case: str) -> Path:
    """A repository with the shared Deployment/template/provider and one broken document."""
    shutil.copytree(SPECS / "common", tmp_path / "apps")
    (tmp_path / "delivery").mkdir()
    shutil.copy(SPECS / "broken" / f"{case}.yaml", tmp_path / "delivery" / f"{case}.yaml")
    return tmp_path


C = "Canary test/podinfo"
BROKEN = [
    ("bad-yaml", "9: document: invalid YAML: expected ',' or ']', but got ':'"),
    ("unknown-kind", "2: CanaryRelease: kind: unknown kind 'CanaryRelease', expected one of "
     "Canary, MetricTemplate, AlertProvider"),
    ("missing-targetref", f"6: {C}: targetRef: is required"),
    ("step-weight-zero", f"17: {C}: analysis.stepWeight: must be between 1 and 100"),
    ("threshold-range-min-over-max", f"20: {C}: analysis.metrics[0].thresholdRange.min: must not "
     "be greater than max (99 > 90)"),
    ("threshold-range-not-a-number", f"20: {C}: analysis.metrics[0].thresholdRange.max: must be a "
     "number, got string '500ms'"),
    ("unknown-webhook-type", f"19: {C}: analysis.webhooks[0].type: unknown webhook type "
     "'during-rollout', expected one of confirm-rollout, pre-rollout, rollout, "
     "confirm-traffic-increase, confirm-promotion, post-rollout, rollback, event"),
    ("webhook-without-url", f"18: {C}: analysis.webhooks[0].url: is required"),
    ("duplicate-canary", "24: Canary test/podinfo-again: targetRef: duplicate canary for target "
     "Deployment test/podinfo, also targeted by test/podinfo at delivery/duplicate-canary.yaml:1"),
    ("unknown-field", f"13: {C}: analysis: needs one of stepWeight, stepWeights or iterations, "
     "otherwise the canary can never progress",
     f"16: {C}: analysis.stepWieght: unknown field"),
    ("missing-service-port", f"11: {C}: service.port: is required"),
    ("unknown-template-ref", f"19: {C}: analysis.metrics[0].templateRef: MetricTemplate "
     "test/error-rates not found in the repository"),
    ("custom-metric-without-query", f"18: {C}: analysis.metrics[0].name: custom metric "
     "'latency-p95' needs a templateRef or a query"),
    ("bad-interval", f"14: {C}: analysis.interval: must be a duration such as 30s, 1m or 1h"),
    ("alert-bad-severity", f"19: {C}: analysis.alerts[0].severity: must be one of info, warn, "
     "error, got 'critical'"),
    ("alert-unknown-provider", f"20: {C}: analysis.alerts[0].providerRef: AlertProvider "
     "test/pager not found in the repository"),
    ("session-affinity-cookie-clash", f"19: {C}: analysis.sessionAffinity.primaryCookieName: must "
     "differ from cookieName 'flagger-cookie'"),
    ("session-affinity-without-cookie", f"17: {C}: analysis.sessionAffinity.cookieName: is "
     "required"),
    ("alert-provider-unknown-type", "7: AlertProvider test/on-call-pager: type: unknown alert "
     "provider type 'pagerduty', expected one of slack, msteams, discord, rocket, gchat"),
    ("metric-template-without-query", "6: MetricTemplate test/latency: query: is required"),
    ("step-weights-not-increasing", f"16: {C}: analysis.stepWeights[2]: must be greater than the "
     "previous step 20"),
    ("max-weight-over-100", f"16: {C}: analysis.maxWeight: must be between 1 and 100"),
    ("iterations-negative", f"16: {C}: analysis.iterations: must be at least 0"),
    ("no-progression", f"13: {C}: analysis: needs one of stepWeight, stepWeights or iterations, "
     "otherwise the canary can never progress"),
    ("threshold-is-a-string", f"15: {C}: analysis.threshold: must be an integer, got string '5'"),
    ("target-kind-daemonset", f"9: {C}: targetRef.kind: 'DaemonSet' is not supported, gitbot "
     "supports Deployment only"),
    ("target-deployment-missing", f"10: {C}: targetRef.name: Deployment test/frontend not found "
     "in the repository"),
    ("missing-metadata-name", "3: Canary: metadata.name: is required"),
    ("unsupported-provider", f"7: {C}: provider: 'appmesh:v1beta2' is not supported, gitbot "
     "drives Istio only"),
    ("many-problems",
     f"7: {C}: targetRef.name: is required",
     f"10: {C}: service.port: must be an integer, got string '9898'",
     f"13: {C}: analysis.interval: must be a string, got number 90",
     f"15: {C}: analysis.stepWeight: must be between 1 and 100",
     f"17: {C}: analysis.metrics[0].name: is required",
     f"20: {C}: analysis.webhooks[0].name: is required",
     f"22: {C}: analysis.webhooks[0].retries: must be an integer, got string 'yes'"),
]


def test_every_broken_file_has_a_case() -> None:
    assert {case for case, *_ in BROKEN} == {p.stem for p in (SPECS / "broken").glob("*.yaml")}


@pytest.mark.parametrize(("case", "lines"), [pytest.param(c, tuple(ls), id=c) for c, *ls in BROKEN])
def test_broken_document_golden_problems(tmp_path: Path, case: str, lines: tuple[str, ...]) -> None:
    specs = load_repository(broken_repo(tmp_path, case))
    expected = "\n".join(f"delivery/{case}.yaml:{line}" for line in lines)
    assert format_problems(specs.problems) == expected
    canaries = [c.key for c in specs.canaries]
    assert canaries == (["test/podinfo"] if case == "duplicate-canary" else [])


def test_broken_and_valid_canary_in_one_file() -> None:
    specs = load_repository(SPECS / "mixed")
    assert [str(p) for p in specs.problems] == [
        "delivery/canaries.yaml:16: Canary test/podinfo-broken: analysis.stepWeight: must be "
        "between 1 and 100"]
    (canary,) = specs.canaries
    assert canary.key == "test/podinfo"
    assert canary.analysis.step_weights == (5, 25, 60)
    assert (canary.analysis.max_weight, canary.analysis.interval_seconds) == (60, 30)
    assert canary.source is not None and canary.source.document == 1


def test_bad_yaml_file_does_not_hide_other_files(tmp_path: Path) -> None:
    repo = broken_repo(tmp_path, "bad-yaml")
    shutil.copy(SPECS / "mixed" / "delivery" / "canaries.yaml", repo / "delivery" / "ok.yml")
    specs = load_repository(repo)
    assert [c.key for c in specs.canaries] == ["test/podinfo"]
    assert [p.path for p in specs.problems] == ["delivery/bad-yaml.yaml", "delivery/ok.yml"]
    assert [t.key for t in specs.templates] == ["test/error-rate"]
    assert [p.key for p in specs.providers] == ["test/on-call"]


def test_hidden_directories_and_other_documents_are_ignored(tmp_path: Path) -> None:
    shutil.copytree(SPECS / "mixed", tmp_path, dirs_exist_ok=True)
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "broken.yaml").write_text("a: [\n", encoding="utf-8")
    (tmp_path / ".github").mkdir()
    (tmp_path / ".github" / "ci.yml").write_text("kind: Canary\n", encoding="utf-8")
    (tmp_path / "misc.yaml").write_text(
        "---\n# only a comment\n---\n- a\n- b\n---\nplain scalar\n---\n"
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("apiVersion: flagger.app/v1beta1\n", encoding="utf-8")
    specs = load_repository(tmp_path)
    assert [p.path for p in specs.problems] == ["delivery/canaries.yaml"]
    assert [c.key for c in specs.canaries] == ["test/podinfo"]


def test_namespace_from_kustomization_in_the_same_directory(tmp_path: Path) -> None:
    shutil.copytree(SEEDS / "seed002-blue-green", tmp_path / "shop")
    shutil.copytree(SEEDS / "seed002-blue-green", tmp_path / "plain")
    (tmp_path / "plain" / "kustomization.yaml").unlink()
    specs = load_repository(tmp_path)
    assert format_problems(specs.problems) == ""
    assert sorted(c.key for c in specs.canaries) == ["default/account", "shop/account"]


def test_target_in_another_namespace_is_not_found(tmp_path: Path) -> None:
    shutil.copytree(SEEDS / "seed002-blue-green", tmp_path / "shop")
    (tmp_path / "shop" / "kustomization.yaml").unlink()
    (tmp_path / "shop" / "account-canary.yaml").write_text(
        (SEEDS / "seed002-blue-green" / "account-canary.yaml").read_text(encoding="utf-8")
        .replace("  name: account\nspec:", "  name: account\n  namespace: shop\nspec:"),
        encoding="utf-8")
    specs = load_repository(tmp_path)
    assert format_problems(specs.problems) == (
        "shop/account-canary.yaml:14: Canary shop/account: targetRef.name: Deployment "
        "shop/account not found in the repository")
    assert specs.canaries == ()


def test_same_canary_defined_twice(tmp_path: Path) -> None:
    shutil.copytree(SPECS / "mixed", tmp_path, dirs_exist_ok=True)
    shutil.copy(tmp_path / "delivery" / "canaries.yaml", tmp_path / "delivery" / "copy.yaml")
    specs = load_repository(tmp_path)
    assert format_problems(specs.problems).splitlines()[1:] == [
        "delivery/copy.yaml:16: Canary test/podinfo-broken: analysis.stepWeight: must be between "
        "1 and 100",
        "delivery/copy.yaml:21: Canary test/podinfo: metadata.name: duplicate Canary, also "
        "defined at delivery/canaries.yaml:18",
        "delivery/copy.yaml:24: Canary test/podinfo: targetRef: duplicate canary for target "
        "Deployment test/podinfo, also targeted by test/podinfo at delivery/canaries.yaml:18",
    ]
    assert [c.source.path for c in specs.canaries if c.source] == ["delivery/canaries.yaml"]


def test_format_problems_sorts_by_path_then_line() -> None:
    problems = [Problem("b.yaml", 3, "Canary", "t/a", "x", "m"),
                Problem("a.yaml", 10, "Canary", "t/a", "", "m"),
                Problem("a.yaml", 2, "", "", "", "invalid YAML: x")]
    assert format_problems(problems).splitlines() == [
        "a.yaml:2: document: invalid YAML: x",
        "a.yaml:10: Canary t/a: m",
        "b.yaml:3: Canary t/a: x: m",
    ]
    assert format_problems([]) == ""


def test_specset_lookups() -> None:
    specs = load_repository(SEEDS / "seed001-alerts")
    assert specs.ok
    assert specs.canary("test/podinfo") is specs.canaries[0]
    assert specs.canary("podinfo") is specs.canaries[0]
    assert specs.canary("nope") is None
    assert specs.provider(ObjectRef(name="on-call", namespace="other")) is None
    assert specs.template(ObjectRef(name="x", namespace="test")) is None
