"""README.md's tables of what gitbot adds to CONTRACT.md, held to the code: the exit statuses
(each code the program uses is in the table; the cases the table names exit with that code
through the real CLI), the daemon's HTTP endpoints and gitbot's own metrics (a real `Daemon`
served on 127.0.0.1), every `gitbot.io/` annotation, and the kube-state-metrics labels that
Flux's applied revision is read from (`origin_revision`, through the real Prometheus adapter
against a recording server)."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from httpfixtures import RecordingServer, Reply
from ruamel.yaml import YAML

from gitbot.adapters.prometheus import PrometheusMetrics
from gitbot.cli import cli
from gitbot.config import load_settings
from gitbot.core.helm import parse_options
from gitbot.reports import EXIT_INVALID, EXIT_OK, EXIT_REFUSED
from gitbot.sim.gitops import CanaryOptions, create_gitops_repo

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _table(name: str) -> list[list[str]]:
    """The body rows of the README table between `<!-- NAME:begin -->` and `<!-- NAME:end -->`."""
    block = README.split(f"<!-- {name}:begin -->", 1)[1].split(f"<!-- {name}:end -->", 1)[0]
    lines = [line for line in block.strip().splitlines() if line.startswith("|")][2:]
    return [[cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]] for line in lines]


def _exit_rows() -> dict[int, str]:
    return {int(code): meaning for code, meaning in _table("exit-statuses")}


def _source(*paths: str) -> str:
    return "".join((ROOT / "gitbot" / p).read_text(encoding="utf-8") for p in paths)


def test_every_exit_status_the_program_uses_is_in_the_readme() -> None:
    cli_codes = {int(c) for c in re.findall(
        r"(?:sys\.exit\(|_fail\(err, |os\._exit\(|else |return )(\d+)\)?\s*(?:#.*)?$",
        _source("cli.py", "daemon.py", "demo.py"), re.MULTILINE)}
    used = cli_codes | {1, EXIT_OK, EXIT_INVALID, EXIT_REFUSED}  # 1: `_fail`'s default
    assert {0, 1, 2, 3, 4, 130} <= used, used  # the scan above still finds them
    assert set(_exit_rows()) == used


def test_readme_commands_table_agrees_with_the_exit_table() -> None:
    rows = _exit_rows()
    assert "another gitbot instance holds the lease" in rows[4]
    assert "the remote refused a push" in rows[3]
    assert "4 when another gitbot instance holds the lease" in README
    assert "3 when the remote refused a push" in README


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A config beside a real bare remote holding podinfo's Canary test/podinfo."""
    base = tmp_path_factory.mktemp("exit")
    create_gitops_repo(base, options=CanaryOptions())
    path = base / "config.yaml"
    path.write_text("git:\n  url: gitops.git\n  workdir: work\n"
                    "prometheus:\n  url: http://127.0.0.1:9\n  timeout: 1\n", encoding="utf-8")
    return path


def _run(config: Path, *args: str) -> tuple[int, str, str]:
    args = tuple(a.replace("CONFIG", str(config)).replace("DIR", str(config.parent))
                 for a in args)
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    ("args", "code", "phrase", "says"),
    [
        pytest.param(("--config", "CONFIG", "validate"), 0, "the config and documents are valid",
                     "valid: 1 Canary", id="valid"),
        pytest.param(("--config", "CONFIG", "status", "nosuch"), 1,
                     "`status NAME` of a canary the repository does not declare",
                     "(NotFound)", id="status-unknown-canary"),
        pytest.param(("--config", "DIR/remote-elsewhere.yaml", "validate"), 1,
                     "the remote unreachable", "git clone failed", id="remote-unreachable"),
        pytest.param(("--config", "DIR/missing.yaml", "validate"), 2,
                     "a config that does not load", "cannot read config", id="config-missing"),
        pytest.param(("--config", "CONFIG", "status", "--output", "yaml"), 2,
                     "a bad command line", "Invalid value", id="bad-command-line"),
        pytest.param(("--config", "CONFIG", "approve", "test/podinfo"), 2,
                     "`approve`/`reject` when nothing waits", "nothing waits for approval",
                     id="approve-nothing-waits"),
        pytest.param(("--config", "CONFIG", "reject", "test/nosuch"), 2,
                     "of an undeclared canary", "(NotFound)", id="reject-unknown-canary"),
        pytest.param(("--config", "CONFIG", "approve", "podinfo"), 2, "without `NAMESPACE/`",
                     "approve takes NAMESPACE/NAME", id="approve-without-namespace"),
    ],
)
def test_the_cases_the_exit_table_names_exit_with_its_code(
        config: Path, args: tuple[str, ...], code: int, phrase: str, says: str) -> None:
    (config.parent / "remote-elsewhere.yaml").write_text(
        "git:\n  url: no-such-remote.git\n  workdir: elsewhere\n", encoding="utf-8")
    assert phrase in _exit_rows()[code]
    got, out, err = _run(config, *args)
    assert got == code, out + err
    assert says in out + err, out + err
    assert "Traceback" not in err


def test_status_of_an_unknown_canary_says_what_the_readme_shows(config: Path) -> None:
    code, _out, err = _run(config, "--config", str(config), "status", "nosuch")
    assert code == 1
    assert err.strip() == 'Error from server (NotFound): canaries.flagger.app "nosuch" not found'
    assert ('an unknown NAME exits 1 with `Error from server (NotFound): canaries.flagger.app '
            '"NAME" not found`') in README


# --- the daemon's endpoints and metrics --------------------------------------------------------

@pytest.fixture(scope="module")
def daemon_url(config: Path) -> Iterator[str]:
    """A real Daemon (not started: no pass has run) serving its endpoints on a free port."""
    from gitbot.daemon import Daemon
    from gitbot.daemon_http import serve
    from gitbot.wiring import build_app

    daemon = Daemon(build_app(load_settings(config)))
    server = serve(daemon, "127.0.0.1:0")
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        daemon.app.close(drain=0)


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as err:
        with err:
            return err.code, err.read().decode()


def test_readme_endpoints_are_the_ones_served() -> None:
    served = set(re.findall(r'self\.path == "(/[a-z]+)"', _source("daemon_http.py")))
    assert {path.strip("`") for path, _ in _table("endpoints")} == served


def test_endpoints_answer_as_the_readme_says_before_the_first_pass(daemon_url: str) -> None:
    rows = {path.strip("`"): text for path, text in _table("endpoints")}
    code, body = _get(daemon_url + "/healthz")
    assert (code, body) == (503, "unhealthy: repository not synced yet\n")
    assert "`503 unhealthy: <reason>`" in rows["/healthz"]
    assert "also before the first sync" in rows["/healthz"]
    code, body = _get(daemon_url + "/readyz")
    assert (code, body) == (503, "first pass not completed\nleader: none\n")
    assert "`503 first pass not completed` before" in rows["/readyz"]
    assert "`leader: HOLDER`" in rows["/readyz"] and "`none`" in rows["/readyz"]
    code, body = _get(daemon_url + "/leader")
    keys = re.search(r"JSON `\{(.*?)\}`", rows["/leader"])
    assert code == 200 and keys is not None
    assert set(json.loads(body)) == set(re.findall(r'"(\w+)"', keys[1]))
    assert _get(daemon_url + "/nowhere")[0] == 404 and "Any other path answers 404" in README
    assert _get(daemon_url + "/metrics")[0] == 200


def test_every_series_on_metrics_is_in_the_readme(daemon_url: str) -> None:
    _code, text = _get(daemon_url + "/metrics")
    exposed = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.MULTILINE))
    created = {name for name in exposed if name.endswith("_created")}
    assert created and "`*_created`" in README  # prometheus_client's start-time companions
    exposed = {name: kind for name, kind in exposed.items() if name not in created}
    ours = {name.strip("`"): kind for name, kind, _labels, _meaning in _table("gitbot-metrics")}
    assert {n: k for n, k in exposed.items() if n.startswith("gitbot_")} == ours
    flagger = [name for name in exposed if name.startswith("flagger_")]
    assert len(flagger) == 8
    assert [name for name in flagger if f"`{name}`" not in README] == []


def test_gitbot_metrics_labels_are_the_ones_registered() -> None:
    """Each series of the README's table carries exactly the labels it lists."""
    from gitbot.daemon import DaemonMetrics
    from gitbot.metrics import FlaggerRecorder

    metrics = DaemonMetrics()
    FlaggerRecorder(metrics.registry)
    registered = metrics.registry._collector_to_names  # no public listing
    declared = {c._name: set(c._labelnames) for c in registered}  # type: ignore[attr-defined]
    checked = 0
    for name, _kind, labels, _meaning in _table("gitbot-metrics"):
        base = name.strip("`").removesuffix("_total")
        if base in declared:
            assert declared[base] == set(re.findall(r"`(\w+)`", labels)), name
            checked += 1
    assert checked == len(_table("gitbot-metrics")) - 1  # all but gitbot_lease_leader (lease)


# --- annotations ---------------------------------------------------------------------------

def test_every_gitbot_annotation_in_the_code_is_in_the_readme_table() -> None:
    code = set()
    for path in (ROOT / "gitbot").rglob("*.py"):
        code |= set(re.findall(r"(?<![\w.])gitbot\.io/[a-z-]+", path.read_text(encoding="utf-8")))
    documented = set()
    for names, *_ in _table("annotations"):
        documented |= set(re.findall(r"`(gitbot\.io/[a-z-]+)`", names))
    assert documented == code


@pytest.mark.parametrize(
    ("annotation", "value", "field", "expected"),
    [
        pytest.param("gitbot.io/helm-release", "podinfo", "release", ("test", "podinfo"),
                     id="release-name"),
        pytest.param("gitbot.io/helm-release", "apps/podinfo", "release", ("apps", "podinfo"),
                     id="release-namespace-name"),
        pytest.param("gitbot.io/helm-name-path", "app.fullname", "name_path",
                     ("app", "fullname"), id="name-path"),
        pytest.param("gitbot.io/helm-selector", "app=web,release=web", "selector",
                     (("app", "web"), ("release", "web")), id="selector"),
        pytest.param("gitbot.io/helm-replicas-path", "replicaCount", "replicas_path",
                     ("replicaCount",), id="replicas-path"),
    ],
)
def test_readme_helm_annotation_examples_parse(
        annotation: str, value: str, field: str, expected: object) -> None:
    row = next(r for r in _table("annotations") if r[0] == f"`{annotation}`")
    assert row[1] == "Canary"
    if annotation != "gitbot.io/helm-release":
        assert f"`{value}`" in row[2]
    assert getattr(parse_options({annotation: value}, "test"), field) == expected
    assert parse_options({}, "test").name_path == ("fullnameOverride",)
    assert "(default `fullnameOverride`)" in next(
        r for r in _table("annotations") if r[0] == "`gitbot.io/helm-name-path`")[2]


# --- Flux's applied revision: the kube-state-metrics labels --------------------------------

def _ksm_labels() -> dict[str, list[str]]:
    block = README.split("<!-- ksm-config -->\n```yaml\n", 1)[1].split("```", 1)[0]
    values = YAML(typ="safe").load(block)["kube-state-metrics"]
    [resource] = values["customResourceState"]["config"]["spec"]["resources"]
    [metric] = resource["metrics"]
    return {**metric["each"]["info"]["labelsFromPath"], **metric["labelsFromPath"]}


def _answer(**labels: str) -> Reply:
    result = [{"metric": {"__name__": "gotk_resource_info",
                          "customresource_kind": "Kustomization", **labels}, "value": [0, "1"]}]
    return Reply(body={"status": "success", "data": {"resultType": "vector", "result": result}})


def test_readme_ksm_labels_are_the_ones_the_adapter_reads() -> None:
    """The README's config names `origin_revision` and `exported_namespace`; a series with the
    labels it produces gives the commit of an ExternalArtifact's Git origin, and without
    `origin_revision` no commit (gitbot then waits an interval, as the README says)."""
    labels = _ksm_labels()
    assert labels["origin_revision"] == ["status", "lastAppliedOriginRevision"]
    assert labels["exported_namespace"] == ["metadata", "namespace"]
    assert labels["revision"] == ["status", "lastAppliedRevision"]
    sha = "3f9c2a81b0d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8"
    with RecordingServer() as server:
        server.reply("/api/v1/query",
                     _answer(name="apps", exported_namespace="flux-system",
                             revision="latest@sha256:abc", origin_revision=f"main@sha1:{sha}"),
                     _answer(name="apps", exported_namespace="flux-system",
                             revision="latest@sha256:abc"),
                     _answer(name="apps", exported_namespace="flux-system",
                             revision=f"main@sha1:{sha}"))
        metrics = PrometheusMetrics(server.url)
        try:
            assert metrics.applied_kustomizations() == {("flux-system", "apps"): sha}
            assert metrics.applied_kustomizations() == {("flux-system", "apps"): ""}
            assert metrics.applied_kustomizations() == {("flux-system", "apps"): sha}
        finally:
            metrics.close()
    assert ("gitbot reads the commit from `origin_revision`\n"
            "  (`status.lastAppliedOriginRevision`") in README


# --- the two set-up commands -----------------------------------------------------------------

def test_readme_setup_commands_exist_and_set_up_what_the_readme_says() -> None:
    """The two commands of the README's first block are scripts that run scripts/setup; every
    Debian package scripts/setup installs is named in the paragraph after them."""
    block = README.split("```sh\n", 1)[1].split("```", 1)[0]
    commands = [line.split()[0] for line in block.splitlines() if line.strip()]
    assert commands == ["scripts/demo", "scripts/test"]
    for command in commands:
        script = ROOT / command
        assert script.stat().st_mode & 0o111, command
        assert "\nscripts/setup\n" in script.read_text(encoding="utf-8"), command
    setup = (ROOT / "scripts" / "setup").read_text(encoding="utf-8")
    packages = set(re.findall(r"missing\+=\(([\w-]+)\)", setup))
    assert packages == {"prometheus", "openssh-server", "openssh-client"}
    intro = README.split("```", 2)[2].split("\n\n", 2)[1]
    assert [p for p in sorted(packages) if f"`{p}`" not in intro] == []
    assert "-m venv .venv" in setup and "`python3-venv`" in README.split("```sh", 1)[0]
    assert 'PY=${PYTHON:-python3}' in setup and "`PYTHON=python3.11`" in README
