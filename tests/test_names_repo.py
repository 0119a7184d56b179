"""Bad names in a real repository: `validate` and `reconcile --once` report them with FILE:LINE and
nothing is written outside the working copy; `security.noCrossNamespaceRefs` as Flagger's flag.

Real files, real bare Git remotes and the real CLI (click's runner); Prometheus is a closed port
(an invalid canary must never need it).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from cliconfig import write_config

from gitbot.adapters.specs import format_problems, load_repository
from gitbot.cli import cli
from gitbot.config import load_settings
from gitbot.sim.gitops import create_gitops_repo

SPECS = Path(__file__).parent / "data" / "specs"
TRAVERSAL = "../../../escape"
TARGET_LINE = 10  # the line of `name: podinfo` under targetRef in the generated canary.yaml
SUBDOMAIN_HINT = ("is not a lowercase RFC 1123 subdomain: lower case letters, digits, '-' and "
                  "'.', starting and ending with a letter or digit")


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.stdout, result.stderr


def _tree(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


def _escapes(tmp_path: Path) -> list[Path]:
    """Files named after the traversal target anywhere a `../` could have put them."""
    places = [tmp_path.parent, tmp_path.parent.parent]
    return [*tmp_path.rglob("escape*"), *(p for d in places for p in d.glob("escape*"))]


@pytest.fixture
def traversal_remote(tmp_path: Path) -> Path:
    """A bare remote whose Deployment and Canary target are named `../../../escape`."""
    dev = create_gitops_repo(tmp_path)
    canary = (dev.clone / "apps/podinfo/canary.yaml").read_text(encoding="utf-8")
    deployment = (dev.clone / "apps/podinfo/deployment.yaml").read_text(encoding="utf-8")
    target = "kind: Deployment\n    name: podinfo\n"
    assert target in canary and canary.splitlines()[TARGET_LINE - 1] == "    name: podinfo"
    dev.commit_files({
        "apps/podinfo/canary.yaml": canary.replace(target, f"kind: Deployment\n    name: "
                                                   f"'{TRAVERSAL}'\n"),
        "apps/podinfo/deployment.yaml": deployment.replace("metadata:\n  name: podinfo\n",
                                                           f"metadata:\n  name: '{TRAVERSAL}'\n"),
    }, "Rename podinfo")
    return dev.remote


EXPECTED = (f"apps/podinfo/canary.yaml:{TARGET_LINE}: Canary test/podinfo: targetRef.name: "
            f"'{TRAVERSAL}' {SUBDOMAIN_HINT}")


def test_validate_with_a_local_path_exits_2_with_file_and_line(
    tmp_path: Path, traversal_remote: Path
) -> None:
    clone = tmp_path / "developer"
    before = _tree(tmp_path)
    code, out, _ = _run("validate", "--path", str(clone))
    assert (code, out.strip()) == (2, EXPECTED)
    assert _tree(tmp_path) == before
    assert _escapes(tmp_path) == []


def test_validate_of_the_configured_remote_exits_2_and_writes_only_its_working_copy(
    tmp_path: Path, traversal_remote: Path
) -> None:
    config = write_config(tmp_path, str(traversal_remote))
    before = _tree(tmp_path)
    code, out, _ = _run("--config", str(config), "validate")
    assert (code, out.strip()) == (2, EXPECTED)
    assert {p for p in _tree(tmp_path) - before if not p.startswith("work/")} == {"work"}
    assert _escapes(tmp_path) == []


def test_reconcile_never_acts_on_a_canary_with_a_bad_name(
    tmp_path: Path, traversal_remote: Path
) -> None:
    config = write_config(tmp_path, str(traversal_remote))
    head = _git(traversal_remote, "rev-parse", "main")
    before = _tree(tmp_path)
    result = CliRunner().invoke(cli, ["--config", str(config), "reconcile", "--once"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "test/podinfo: Initialized" not in result.stdout
    assert _git(traversal_remote, "rev-parse", "main") == head, "nothing was committed"
    remote = f"{traversal_remote.relative_to(tmp_path)}/"  # the lease on the state branch
    new = {p for p in _tree(tmp_path) - before if not p.startswith(("work/", remote))}
    assert new == {"work"}
    assert _escapes(tmp_path) == []


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True,
                          check=True).stdout.strip()


# security.noCrossNamespaceRefs


CROSS_REFS = """\
apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata:
  name: error-rate
  namespace: istio-system
spec:
  query: vector(1)
---
apiVersion: flagger.app/v1beta1
kind: AlertProvider
metadata:
  name: on-call
  namespace: istio-system
spec:
  type: slack
  address: http://127.0.0.1:1/hook
"""
CANARY_REFS = """\
    metrics:
    - name: errors
      templateRef:
        name: error-rate
        namespace: istio-system
      thresholdRange:
        max: 1
    alerts:
    - name: on-call
      providerRef:
        name: on-call
        namespace: istio-system
"""


def _cross_namespace_repo(root: Path) -> Path:
    shutil.copytree(SPECS / "common", root / "apps")
    (root / "apps" / "templates.yaml").unlink()
    (root / "shared.yaml").write_text(CROSS_REFS, encoding="utf-8")
    seed = (SPECS.parent / "seeds" / "seed001-canary" / "podinfo-canary.yaml").read_text()
    head, _ = seed.split("    metrics:\n", 1)
    (root / "canary.yaml").write_text(head + CANARY_REFS, encoding="utf-8")
    return root


def test_cross_namespace_references_are_allowed_by_default(tmp_path: Path) -> None:
    specs = load_repository(_cross_namespace_repo(tmp_path))
    assert specs.problems == ()
    assert [c.key for c in specs.canaries] == ["test/podinfo"]


def test_no_cross_namespace_refs_makes_them_problems_with_file_and_line(tmp_path: Path) -> None:
    specs = load_repository(_cross_namespace_repo(tmp_path), no_cross_namespace_refs=True)
    why = "is in another namespace than the canary, and security.noCrossNamespaceRefs forbids " \
          "cross-namespace references"
    assert format_problems(specs.problems) == "\n".join([
        "canary.yaml:40: Canary test/podinfo: analysis.metrics[0].templateRef.namespace: "
        f"MetricTemplate istio-system/error-rate {why}",
        "canary.yaml:47: Canary test/podinfo: analysis.alerts[0].providerRef.namespace: "
        f"AlertProvider istio-system/on-call {why}",
    ])
    assert specs.canaries == ()


def test_the_config_switch_reaches_validate(tmp_path: Path) -> None:
    dev = create_gitops_repo(tmp_path)
    canary = (dev.clone / "apps/podinfo/canary.yaml").read_text(encoding="utf-8")
    dev.commit_files({
        "shared.yaml": CROSS_REFS,
        "apps/podinfo/canary.yaml": canary.split("    metrics:\n", 1)[0] + CANARY_REFS,
    }, "Use the shared template and provider")
    config = write_config(tmp_path, str(dev.remote),
                          extra="security:\n  noCrossNamespaceRefs: true\n")
    assert load_settings(config).security.no_cross_namespace_refs is True
    code, out, _ = _run("--config", str(config), "validate")
    assert code == 2
    assert [line.split(": ", 3)[2] for line in out.strip().splitlines()] == [
        "analysis.metrics[0].templateRef.namespace", "analysis.alerts[0].providerRef.namespace"]

    config.write_text(config.read_text().replace("true", "false"), encoding="utf-8")
    code, out, _ = _run("--config", str(config), "validate")
    assert (code, out.strip()) == (0, "valid: 1 Canary, 1 MetricTemplate, 1 AlertProvider")
