"""Golden tests of the manifest editor: `original/` -> operation -> `expected/`, byte for byte.

Each case directory under tests/data/manifests holds an `original/` tree; the operation of the
case (table below) runs on a copy, the result is compared with `expected/` including the files
that must stay untouched. `GITBOT_UPDATE_GOLDEN=1 pytest tests/test_manifests.py` rewrites the
expected trees (review the diff before committing).
"""

from __future__ import annotations

import difflib
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from gitbot.adapters.manifest_types import FieldChange, ManifestNotFoundError
from gitbot.adapters.manifests import ManifestEditor
from gitbot.core.spec import (
    Analysis,
    AutoscalerRef,
    Canary,
    ObjectRef,
    ServiceSpec,
    SessionAffinity,
    freeze,
)
from gitbot.core.state import Traffic

DATA = Path(__file__).parent / "data" / "manifests"
UPDATE = os.environ.get("GITBOT_UPDATE_GOLDEN") == "1"

Operation = Callable[[ManifestEditor], list[FieldChange]]


def canary(analysis: Analysis | None = None, **service: object) -> Canary:
    return Canary(
        name="podinfo",
        namespace="test",
        target=ObjectRef("podinfo", "Deployment", "apps/v1"),
        service=ServiceSpec(port=9898, **service),  # type: ignore[arg-type]
        analysis=analysis or Analysis(),
    )


RICH = canary(
    target_port="http",
    gateways=("public-gateway.istio-system.svc.cluster.local",),
    hosts=("app.example.com",),
    retries=freeze({"attempts": 3, "perTryTimeout": "1s",
                    "retryOn": "gateway-error,connect-failure,refused-stream"}),
    timeout="30s",
    traffic_policy=freeze({"tls": {"mode": "ISTIO_MUTUAL"}}),
)
PLAIN = canary()
WITH_HPA = Canary(name="podinfo", namespace="test", target=PLAIN.target, service=PLAIN.service,
                  autoscaler=AutoscalerRef("podinfo", primary_min_replicas=1))
MIRROR = canary(Analysis(mirror=True, mirror_weight=50, iterations=10))
AB_MATCH = freeze([{"headers": {"x-canary": {"exact": "insider"}}}])
AB = canary(Analysis(iterations=10, match=AB_MATCH))
STICKY = canary(Analysis(step_weight=10, session_affinity=SessionAffinity(
    cookie_name="flagger-cookie", max_age=3600, path="/", secure=True)))


DISCOVERY = canary(target_port="http", port_discovery=True, headless=True,
                   traffic_distribution="PreferClose",
                   gateways=("istio-system/public-gateway",), hosts=("app.example.com",))

COOKIE = "flagger-cookie=abc"


def adopt_then_shift(editor: ManifestEditor) -> list[FieldChange]:
    return editor.bootstrap(PLAIN) + editor.set_traffic(PLAIN, Traffic(80, 20))


CASES = [
    pytest.param("comments-and-quoted-strings",
                 lambda e: e.set_traffic(RICH, Traffic(90, 10)), id="comments-and-quoted-strings"),
    pytest.param("multi-document",
                 lambda e: e.set_replicas("test", "podinfo", 3), id="multi-document-tilde-and-end"),
    pytest.param("kustomize-bootstrap",
                 lambda e: e.bootstrap(WITH_HPA), id="kustomize-bootstrap-adds-resources"),
    pytest.param("adopted-virtualservice", adopt_then_shift, id="adopted-virtualservice"),
    pytest.param("adopted-virtualservice-ab", lambda e: e.bootstrap(PLAIN) + e.set_traffic(
        AB, Traffic(0, 100)), id="adopted-virtualservice-ab-catch-all-keeps-team-policy"),
    pytest.param("adopted-virtualservice-port", adopt_then_shift,
                 id="adopted-virtualservice-keeps-destination-port"),
    pytest.param("port-discovery-bootstrap", lambda e: e.bootstrap(DISCOVERY),
                 id="port-discovery-headless-traffic-distribution"),
    pytest.param("flow-style-promote", lambda e: e.promote(PLAIN), id="flow-style-promote"),
    pytest.param("long-line-untouched",
                 lambda e: e.set_replicas("test", "podinfo", 0), id="long-line-untouched"),
    pytest.param("promote-image-bump", lambda e: e.promote(RICH), id="promote-image-bump"),
    pytest.param("mirror-on",
                 lambda e: e.set_traffic(MIRROR, Traffic(100, 0, mirror=True)), id="mirror-on"),
    pytest.param("mirror-off", lambda e: e.set_traffic(MIRROR, Traffic(0, 100)), id="mirror-off"),
    pytest.param("ab-routes", lambda e: e.set_traffic(AB, Traffic(0, 100)), id="ab-routes"),
    pytest.param("session-affinity",
                 lambda e: e.set_traffic(STICKY, Traffic(90, 10, session_cookie=COOKIE)),
                 id="session-affinity"),
    pytest.param("config-tracking-bootstrap", lambda e: e.bootstrap(PLAIN),
                 id="config-tracking-bootstrap-copies-tracked-configs"),
    pytest.param("config-tracking-promote-config-change", lambda e: e.promote(PLAIN),
                 id="config-tracking-promote-config-change"),
    pytest.param("config-tracking-promote-image", lambda e: e.promote(PLAIN),
                 id="config-tracking-promote-image"),
]


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def show_diff(name: str, want: bytes, got: bytes) -> str:
    return "".join(difflib.unified_diff(want.decode().splitlines(True),
                                        got.decode().splitlines(True), f"expected/{name}",
                                        f"got/{name}"))


@pytest.mark.parametrize(("case", "operation"), CASES)
def test_golden(tmp_path: Path, case: str, operation: Operation) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(DATA / case / "original", repo)
    editor = ManifestEditor(repo)
    changes = operation(editor)
    assert changes, "the operation must change something"
    assert editor.changed_files() == sorted({c.path for c in changes})
    assert editor.save() == sorted({c.path for c in changes})
    expected_root = DATA / case / "expected"
    if UPDATE:
        shutil.rmtree(expected_root, ignore_errors=True)
        shutil.copytree(repo, expected_root)
    got, want = tree(repo), tree(expected_root)
    assert sorted(got) == sorted(want)
    diffs = [show_diff(n, want[n], got[n]) for n in sorted(want) if want[n] != got[n]]
    assert not diffs, "\n".join(diffs)


@pytest.mark.parametrize(("case", "operation"), CASES)
def test_operation_twice_changes_nothing(tmp_path: Path, case: str, operation: Operation) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(DATA / case / "expected", repo)
    before = tree(repo)
    editor = ManifestEditor(repo)
    assert operation(editor) == []
    assert editor.save() == []
    assert tree(repo) == before


def test_untouched_file_stays_identical_after_noop(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(DATA / "multi-document" / "original", repo)
    editor = ManifestEditor(repo)
    assert editor.set_replicas("test", "podinfo", 1) == []
    assert editor.changed_files() == [] and editor.save() == []


def test_missing_target_names_the_object(tmp_path: Path) -> None:
    (tmp_path / "empty.yaml").write_text("kind: ConfigMap\nmetadata:\n  name: x\n")
    editor = ManifestEditor(tmp_path)
    with pytest.raises(ManifestNotFoundError, match="Deployment test/podinfo"):
        editor.bootstrap(PLAIN)
    assert editor.target_revision(PLAIN) == ""
    assert editor.is_bootstrapped(PLAIN) is False


def test_find_resolves_kustomize_namespace(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(DATA / "kustomize-bootstrap" / "original", repo)
    editor = ManifestEditor(repo)
    ref = editor.find("Deployment", "test", "podinfo")
    assert ref is not None and ref.path == "apps/podinfo/deployment.yaml" and ref.line == 2
    assert editor.find("Deployment", "prod", "podinfo") is None
    assert editor.find("ConfigMap", "anywhere", "unrelated") is not None  # unresolved namespace
    assert editor.get_replicas("test", "podinfo") == 2


def test_get_traffic_reads_what_set_traffic_wrote(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(DATA / "session-affinity" / "expected", repo)
    editor = ManifestEditor(repo)
    assert editor.get_traffic(STICKY) == Traffic(90, 10, session_cookie="flagger-cookie=abc")
    editor.set_traffic(STICKY, Traffic(100, 0, previous_cookie="flagger-cookie=abc"))
    assert editor.get_traffic(STICKY) == Traffic(100, 0, previous_cookie="flagger-cookie=abc")


def test_target_revision_follows_referenced_configmap(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(DATA / "multi-document" / "original", repo)
    path = repo / "apps" / "podinfo.yaml"
    text = path.read_text()
    env_from = "                envFrom: [{configMapRef: {name: podinfo-config}}]\n"
    container = "              - name: podinfod\n"
    path.write_text(text.replace(container, container + env_from))
    first = ManifestEditor(repo).target_revision(PLAIN)
    path.write_text(path.read_text().replace("anchor: &level info", "anchor: &level debug"))
    second = ManifestEditor(repo).target_revision(PLAIN)
    assert len(first) == 16 and first != second


def test_new_ambiguous_string_is_quoted(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(DATA / "long-line-untouched" / "original", repo)
    editor = ManifestEditor(repo)
    entry = editor.target(PLAIN)
    from gitbot.adapters.manifest_merge import set_path

    changes: list[tuple[str, object, object]] = []
    for key, value in {"a": "on", "b": "0644", "c": "12:30", "d": "plain"}.items():
        set_path(entry.doc.data, f"metadata.labels.{key}", value, changes)
    entry.doc.touch()
    editor.save()
    text = (repo / "apps" / "podinfo" / "deployment.yaml").read_text()
    assert 'a: "on"' in text and 'b: "0644"' in text and 'c: "12:30"' in text
    assert "d: plain" in text
