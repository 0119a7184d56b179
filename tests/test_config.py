"""config.yaml: the shipped examples load; bad values name file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitbot.config import load_settings
from gitbot.errors import InvalidInputError

ROOT = Path(__file__).parent.parent


@pytest.mark.parametrize("path", ["config.yaml", "manifests/config.yaml"])
def test_shipped_configs_are_valid(path: str) -> None:
    settings = load_settings(ROOT / path)
    assert settings.git.branch == "main"
    assert settings.git.mode == "push"


def test_defaults_and_aliases(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "git:\n  url: /srv/gitops.git\n  stateBranch: bot/state\n"
        "  credentials:\n    tokenEnv: TOKEN\n", encoding="utf-8"
    )
    settings = load_settings(path)
    assert settings.git.state_branch == "bot/state"
    assert settings.git.credentials is not None
    assert settings.git.credentials.token_env == "TOKEN"
    assert settings.prometheus.url == "http://127.0.0.1:9090"
    assert settings.forge.type == "local"
    assert settings.flux.cluster == ""


def test_flux_cluster(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("git:\n  url: x\nflux:\n  cluster: clusters/production\n", encoding="utf-8")
    assert load_settings(path).flux.cluster == "clusters/production"


def test_flux_cluster_labels(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("git:\n  url: x\nflux:\n  cluster: clusters/eu\n  clusterLabels:\n"
                    "    cluster: prod-eu\n    region: eu-west-1\n", encoding="utf-8")
    assert load_settings(path).flux.cluster_labels == {"cluster": "prod-eu",
                                                       "region": "eu-west-1"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("git:\n  url: x\n  mode: yolo\n",
                     ":3: git.mode: Input should be 'push' or 'pull-request'", id="bad-mode"),
        pytest.param("git:\n  branch: main\n", ":1: git.url: Field required", id="missing-url"),
        pytest.param("git:\n  url: x\nprometheus:\n  timeout: 0\n",
                     ":4: prometheus.timeout: Input should be greater than 0", id="zero-timeout"),
        pytest.param("git:\n  url: x\n  bogus: 1\n", ":3: git.bogus: unknown key",
                     id="unknown-key"),
        pytest.param("git:\n  url: x\nflux:\n  clusters: a\n", ":4: flux.clusters: unknown key",
                     id="flux-unknown-key"),
        pytest.param("git:\n  url: x\nflux:\n  clusterLabels:\n    k8s-cluster: a\n",
                     ":4: flux.clusterLabels: 'k8s-cluster' is not a Prometheus "
                     "label name", id="flux-bad-label-name"),
        pytest.param("git:\n  url: x\nprometheus:\n  url: localhost:9090\n",
                     ":4: prometheus.url: 'localhost:9090' is not an http:// or https:// URL "
                     "with a host (e.g. http://prometheus.monitoring:9090)",
                     id="prometheus-url-without-scheme"),
        pytest.param("git:\n  url: x\nprometheus:\n  url: ftp://prom:9090\n",
                     ":4: prometheus.url: 'ftp://prom:9090' is not an http:// or https:// URL",
                     id="prometheus-url-other-scheme"),
        pytest.param("git: [\n", ":2: invalid YAML", id="bad-yaml"),
        pytest.param("- a\n", ":1: the config must be a mapping", id="not-a-mapping"),
    ],
)
def test_bad_config_names_line_and_key(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidInputError) as caught:
        load_settings(path)
    assert f"{path}{expected}" in str(caught.value)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="cannot read config"):
        load_settings(tmp_path / "absent.yaml")
