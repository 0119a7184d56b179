"""`SecretResolver` reads only `<secretsDir>/<namespace>/<name>/<key>`, inside secretsDir.

Replays the exfiltration of issue 8: a MetricTemplate (or AlertProvider) whose secretRef climbs
out of secretsDir (`../../host/git`, or namespace `../host`) must never get a host token sent to
the address it names. Real files, symlinks and FIFOs in tmp_path; a real HTTP server on
127.0.0.1 plays the template's Prometheus and the provider's chat webhook.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from httpfixtures import RecordingServer, Reply

from gitbot.adapters.notifiers import notify
from gitbot.adapters.prometheus import PrometheusMetrics
from gitbot.adapters.secrets import MAX_VALUE_BYTES, SecretRefError, SecretResolver
from gitbot.adapters.specs import format_problems, load_repository
from gitbot.core.spec import (
    Alert,
    AlertProvider,
    Analysis,
    Canary,
    Metric,
    MetricTemplate,
    ObjectRef,
    ServiceSpec,
    Severity,
)
from gitbot.core.state import AlertMessage

HOST_TOKEN = "host-git-token-" + "7f3a9c"  # what must never leave the host
APP_TOKEN = "app-prometheus-token"
VECTOR = {"status": "success",
          "data": {"resultType": "vector", "result": [{"metric": {}, "value": [0, "1"]}]}}
SPECS = Path(__file__).parent / "data" / "specs"


@pytest.fixture
def secrets(tmp_path: Path) -> Path:
    """`tmp/secrets` with test/prom-auth/token, and a host token at `tmp/host/git/token`."""
    root = tmp_path / "secrets"
    (root / "test" / "prom-auth").mkdir(parents=True)
    (root / "test" / "prom-auth" / "token").write_text(APP_TOKEN + "\n", encoding="utf-8")
    (tmp_path / "host" / "git").mkdir(parents=True)
    (tmp_path / "host" / "git" / "token").write_text(HOST_TOKEN, encoding="utf-8")
    return root


def test_reads_the_keys_of_the_referring_namespace_only(secrets: Path) -> None:
    resolve = SecretResolver(secrets, environ={})
    assert resolve("test", "prom-auth") == {"token": APP_TOKEN}
    assert resolve("other", "prom-auth") == {}
    assert resolve("test", "missing") == {}


@pytest.mark.parametrize(
    ("namespace", "name"),
    [
        pytest.param("test", "../../host/git", id="name-climbs-out"),
        pytest.param("../host", "git", id="namespace-climbs-out"),
        pytest.param("..", "host", id="namespace-dotdot"),
        pytest.param("test", "..", id="name-dotdot"),
        pytest.param("test", "/etc", id="absolute-name"),
        pytest.param("Test", "prom-auth", id="upper-case-namespace"),
        pytest.param("test", "a" * 254, id="name-too-long"),
        pytest.param("", "prom-auth", id="empty-namespace"),
    ],
)
def test_refuses_names_that_are_no_kubernetes_names(
    secrets: Path, namespace: str, name: str
) -> None:
    with pytest.raises(SecretRefError, match=r"secretRef (namespace|name) refused") as raised:
        SecretResolver(secrets, environ={"GITBOT_SECRET_HOST_GIT_TOKEN": HOST_TOKEN})(
            namespace, name)
    assert HOST_TOKEN not in str(raised.value)


def test_a_symlink_out_of_secrets_dir_is_refused(secrets: Path, tmp_path: Path) -> None:
    (secrets / "test" / "linked").symlink_to(tmp_path / "host" / "git")
    (secrets / "evil").symlink_to(tmp_path / "host")
    (secrets / "test" / "app").mkdir()
    (secrets / "test" / "app" / "token").symlink_to(tmp_path / "host" / "git" / "token")
    resolve = SecretResolver(secrets, environ={})
    for namespace, name in (("test", "linked"), ("evil", "git"), ("test", "app")):
        with pytest.raises(SecretRefError, match="resolves to a path outside secretsDir") as e:
            resolve(namespace, name)
        assert HOST_TOKEN not in str(e.value)


def test_a_mounted_secret_with_links_inside_secrets_dir_is_read(secrets: Path) -> None:
    """The layout kubelet writes: `key -> ..data/key`, `..data -> ..<timestamp>`."""
    folder = secrets / "test" / "mounted"
    (folder / "..2026_11_27_07_00_00.1").mkdir(parents=True)
    (folder / "..2026_11_27_07_00_00.1" / "token").write_text("mounted-token", encoding="utf-8")
    (folder / "..data").symlink_to("..2026_11_27_07_00_00.1")
    (folder / "token").symlink_to("..data/token")
    (secrets / "test" / "alias").symlink_to("prom-auth")
    resolve = SecretResolver(secrets, environ={})
    assert resolve("test", "mounted") == {"token": "mounted-token"}
    assert resolve("test", "alias") == {"token": APP_TOKEN}


def test_secrets_dir_itself_may_be_a_symlink(secrets: Path, tmp_path: Path) -> None:
    (tmp_path / "run-secrets").symlink_to(secrets)
    assert SecretResolver(tmp_path / "run-secrets", environ={})("test", "prom-auth") == {
        "token": APP_TOKEN}


@pytest.mark.timeout(30)
def test_a_fifo_is_refused_without_blocking(secrets: Path) -> None:
    os.mkfifo(secrets / "test" / "prom-auth" / "password")
    with pytest.raises(SecretRefError, match="key password: refused, not a regular file"):
        SecretResolver(secrets, environ={})("test", "prom-auth")


def test_a_value_over_the_size_limit_is_refused(secrets: Path) -> None:
    value = secrets / "test" / "prom-auth" / "token"
    value.write_bytes(b"x" * MAX_VALUE_BYTES)
    assert len(SecretResolver(secrets, environ={})("test", "prom-auth")["token"]) == (
        MAX_VALUE_BYTES)
    value.write_bytes(b"x" * (MAX_VALUE_BYTES + 1))
    with pytest.raises(SecretRefError, match=f"larger than {MAX_VALUE_BYTES} bytes"):
        SecretResolver(secrets, environ={})("test", "prom-auth")


def test_files_that_are_no_secret_keys_are_skipped(secrets: Path) -> None:
    folder = secrets / "test" / "prom-auth"
    (folder / ".hidden").write_text("x", encoding="utf-8")
    (folder / "with space").write_text("x", encoding="utf-8")
    (folder / "subdir").mkdir()
    assert SecretResolver(secrets, environ={})("test", "prom-auth") == {"token": APP_TOKEN}


def test_environment_values_and_files_merge(secrets: Path) -> None:
    env = {"GITBOT_SECRET_TEST_PROM_AUTH_USERNAME": "bot", "GITBOT_SECRET_OTHER_X_TOKEN": "no"}
    assert SecretResolver(secrets, environ=env)("test", "prom-auth") == {
        "token": APP_TOKEN, "username": "bot"}
    assert SecretResolver(None, environ=env)("test", "prom-auth") == {"username": "bot"}


# The exfiltration of issue 8, replayed end to end.


def _canary(template: ObjectRef | None = None, provider: ObjectRef | None = None) -> Canary:
    metrics = (Metric(name="errors", template_ref=template),) if template else ()
    alerts = (Alert(name="on-call", provider_ref=provider, severity=Severity.INFO),) if (
        provider) else ()
    return Canary(name="podinfo", namespace="test", target=ObjectRef(name="podinfo"),
                  service=ServiceSpec(port=9898), analysis=Analysis(metrics=metrics,
                                                                    alerts=alerts))


def _template(namespace: str, secret: str, address: str) -> MetricTemplate:
    return MetricTemplate(name="exfil", namespace=namespace, address=address,
                          secret_ref=secret, query="vector(1)")


def _authorizations(server: RecordingServer) -> list[str]:
    return [r.headers.get("authorization", "") for r in server.requests]


@pytest.mark.parametrize(
    ("namespace", "secret"),
    [pytest.param("test", "../../host/git", id="name-climbs-out"),
     pytest.param("../host", "git", id="namespace-climbs-out")],
)
def test_a_metric_template_cannot_send_a_host_token(
    secrets: Path, namespace: str, secret: str
) -> None:
    """Even handed a template the parser would refuse, the resolver never reads the host."""
    with RecordingServer(Reply(200, VECTOR)) as server:
        template = _template(namespace, secret, server.url)
        canary = _canary(template=ObjectRef(name="exfil", namespace=namespace))
        with PrometheusMetrics("http://127.0.0.1:1", timeout=2) as prometheus:
            [(_, outcome)] = prometheus.query_metrics(
                canary, {template.key: template}, SecretResolver(secrets, environ={}))
    assert outcome.value is None
    assert outcome.error is not None and "secretRef" in outcome.error
    assert HOST_TOKEN not in outcome.error
    assert not any(HOST_TOKEN in a for a in _authorizations(server))
    assert server.requests == []


def test_a_legitimate_secret_ref_does_authenticate(secrets: Path) -> None:
    """The control: the same setup with a secretRef inside secretsDir sends its token."""
    with RecordingServer(Reply(200, VECTOR)) as server:
        template = _template("test", "prom-auth", server.url)
        canary = _canary(template=ObjectRef(name="exfil", namespace="test"))
        with PrometheusMetrics("http://127.0.0.1:1", timeout=2) as prometheus:
            [(_, outcome)] = prometheus.query_metrics(
                canary, {template.key: template}, SecretResolver(secrets, environ={}))
    assert (outcome.value, outcome.error) == (1.0, None)
    assert _authorizations(server) == [f"Bearer {APP_TOKEN}"]


def test_the_secret_is_looked_up_in_the_namespace_of_the_template(secrets: Path) -> None:
    """A canary in `test` using a template of `istio-system` (Flagger's cross-namespace ref)
    authenticates with the template's own Secret, never with one of the canary's namespace."""
    (secrets / "istio-system" / "prom-auth").mkdir(parents=True)
    (secrets / "istio-system" / "prom-auth" / "token").write_text("mesh-token", encoding="utf-8")
    with RecordingServer(Reply(200, VECTOR)) as server:
        template = _template("istio-system", "prom-auth", server.url)
        canary = _canary(template=ObjectRef(name="exfil", namespace="istio-system"))
        with PrometheusMetrics("http://127.0.0.1:1", timeout=2) as prometheus:
            prometheus.query_metrics(
                canary, {template.key: template}, SecretResolver(secrets, environ={}))
    assert _authorizations(server) == ["Bearer mesh-token"]


def test_an_alert_provider_cannot_send_a_host_token(secrets: Path) -> None:
    with RecordingServer(200) as server:
        provider = AlertProvider(name="on-call", namespace="test", type="slack",
                                 address=f"{server.url}/hook", secret_ref="../../host/git")
        canary = _canary(provider=ObjectRef(name="on-call", namespace="test"))
        errors = notify(canary, AlertMessage(Severity.ERROR, "Canary failed"),
                        {provider.key: provider}, SecretResolver(secrets, environ={}))
    assert len(errors) == 1 and "secretRef name refused" in errors[0], errors
    assert not any(HOST_TOKEN in a for a in _authorizations(server))
    assert server.requests == []


def test_the_repository_with_the_exfiltrating_template_is_invalid(
    secrets: Path, tmp_path: Path
) -> None:
    """The first line of defence: `validate` and loading report both refs, nothing loads."""
    repo = tmp_path / "repo"
    shutil.copytree(SPECS / "common", repo)
    (repo / "templates.yaml").write_text(
        "apiVersion: flagger.app/v1beta1\nkind: MetricTemplate\nmetadata:\n  name: exfil\n"
        "  namespace: test\nspec:\n  provider:\n    address: http://127.0.0.1:9/\n"
        "    secretRef:\n      name: ../../host/git\n  query: vector(1)\n", encoding="utf-8")
    canary = (SPECS.parent / "seeds" / "seed001-canary" / "podinfo-canary.yaml").read_text()
    head = canary.split("    metrics:\n", 1)[0]
    (repo / "canary.yaml").write_text(
        head + "    metrics:\n    - name: errors\n      templateRef:\n        name: exfil\n"
        "        namespace: ../host\n", encoding="utf-8")
    specs = load_repository(repo)
    assert (specs.canaries, specs.templates) == ((), ())
    assert format_problems(specs.problems).splitlines() == [
        "canary.yaml:40: Canary test/podinfo: analysis.metrics[0].templateRef.namespace: "
        "'../host' is not a lowercase RFC 1123 label: lower case letters, digits and '-', "
        "starting and ending with a letter or digit",
        "templates.yaml:10: MetricTemplate test/exfil: provider.secretRef.name: "
        "'../../host/git' is not a lowercase RFC 1123 subdomain: lower case letters, digits, "
        "'-' and '.', starting and ending with a letter or digit",
    ]
