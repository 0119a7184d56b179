"""Config keys of pull-request mode: forge.type, forge.github.*, pullRequests.* — defaults,
validation with file, line and key, and the token read by reference only."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitbot.config import load_settings
from gitbot.errors import InvalidInputError

HEAD = "git:\n  url: /srv/gitops.git\n"


def _load(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "config.yaml"
    path.write_text(HEAD + text, encoding="utf-8")
    return load_settings(path)


def test_defaults(tmp_path: Path) -> None:
    settings = _load(tmp_path, "")
    assert settings.forge.type == "local" and settings.forge.github is None
    assert settings.pull_requests.review == ("promote",)
    assert settings.pull_requests.approvals == 1
    assert settings.pull_requests.merge_method == "merge"


def test_pull_request_mode_is_available(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("git:\n  url: /srv/gitops.git\n  mode: pull-request\n", encoding="utf-8")
    assert load_settings(path).git.mode == "pull-request"


def test_the_contract_example(tmp_path: Path) -> None:
    settings = _load(tmp_path, (
        "forge:\n  type: github\n  github:\n    apiUrl: https://ghe.example.com/api/v3/\n"
        "    repository: acme/gitops\n    tokenEnv: GITHUB_TOKEN\n"
        "pullRequests:\n  review: [promote, advance]\n  approvals: 2\n  mergeMethod: squash\n"))
    github = settings.forge.github
    assert github is not None
    assert (github.api_url, github.repository, github.token_env) == (
        "https://ghe.example.com/api/v3", "acme/gitops", "GITHUB_TOKEN")
    assert settings.pull_requests.review == ("promote", "advance")
    assert (settings.pull_requests.approvals, settings.pull_requests.merge_method) == (2, "squash")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("forge:\n  type: github\n",
                     "config.yaml:3: forge: type github needs a `github:` section",
                     id="github-without-section"),
        pytest.param("forge:\n  github:\n    repository: acme/gitops\n",
                     "config.yaml:4: forge.github: set exactly one of tokenEnv and "
                     "tokenFile", id="no-token"),
        pytest.param("forge:\n  github:\n    repository: acme/gitops\n    tokenEnv: A\n"
                     "    tokenFile: /t\n", "forge.github: set exactly one",
                     id="both-tokens"),
        pytest.param("forge:\n  github:\n    repository: gitops\n    tokenEnv: T\n",
                     "config.yaml:5: forge.github.repository: must be owner/name",
                     id="repository-not-owner-name"),
        pytest.param("forge:\n  github:\n    repository: a/b\n"
                     "    tokenEnv: " + "ghp" + "_123 456\n",
                     "forge.github.tokenEnv: must name an environment variable",
                     id="token-itself-in-tokenEnv"),
        pytest.param("forge:\n  github:\n    repository: a/b\n    tokenEnv: T\n"
                     "    apiUrl: https://me:" + "tok@ghe/api/v3\n",
                     "forge.github.apiUrl: must not carry credentials", id="credentials-in-url"),
        pytest.param("pullRequests:\n  mergeMethod: fast-forward\n",
                     "config.yaml:4: pullRequests.mergeMethod: Input should be 'merge', 'squash'"
                     " or 'rebase'", id="merge-method"),
        pytest.param("pullRequests:\n  review: [promote, rollback]\n",
                     "pullRequests.review: rollback cannot wait for review",
                     id="rollback-reviewed"),
        pytest.param("pullRequests:\n  review: [promte]\n",
                     "pullRequests.review: unknown action 'promte'", id="typo"),
        pytest.param("pullRequests:\n  approvals: 0\n",
                     "pullRequests.approvals: Input should be greater than or equal to 1",
                     id="zero-approvals"),
    ],
)
def test_invalid_settings_name_file_line_and_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        _load(tmp_path, text)
    assert message in str(raised.value)


def test_the_token_is_read_by_reference(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "token").write_text("ghp" + "_file\n")
    by_file = _load(tmp_path, "forge:\n  github:\n    repository: a/b\n    tokenFile: token\n")
    assert by_file.forge.github is not None
    assert by_file.forge.github.read_token(by_file.base_dir) == "ghp" + "_file"
    by_env = _load(tmp_path, "forge:\n  github:\n    repository: a/b\n    tokenEnv: GB_TOKEN\n")
    assert by_env.forge.github is not None
    monkeypatch.delenv("GB_TOKEN", raising=False)
    with pytest.raises(InvalidInputError, match="environment variable GB_TOKEN holds no token"):
        by_env.forge.github.read_token(by_env.base_dir)
    monkeypatch.setenv("GB_TOKEN", "ghp" + "_env")
    assert by_env.forge.github.read_token(by_env.base_dir) == "ghp" + "_env"


def test_build_driver_picks_the_forge_by_type(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gitfixtures import make_remote

    from gitbot.adapters.forges.github import GitHubForge
    from gitbot.adapters.forges.local import LocalForge
    from gitbot.adapters.git import GitWorkspace
    from gitbot.pullrequests import build_driver

    bare = make_remote(tmp_path)
    head = f"git:\n  url: {bare}\n  workdir: ws\n"
    (tmp_path / "config.yaml").write_text(head + "pullRequests:\n  mergeMethod: rebase\n")
    local = load_settings(tmp_path / "config.yaml")
    monkeypatch.setenv("GB_TOKEN", "ghp" + "_t")
    (tmp_path / "gh.yaml").write_text(head + "forge:\n  type: github\n  github:\n"
                                      "    repository: acme/gitops\n    tokenEnv: GB_TOKEN\n")
    github = load_settings(tmp_path / "gh.yaml")
    with GitWorkspace(str(bare), "main", local.workdir()) as ws:
        ws.sync()
        driver = build_driver(local, ws, ws.root, {})
        assert isinstance(driver.forge, LocalForge)
        assert driver._policy.merge_method == "rebase"
        assert isinstance(build_driver(github, ws, ws.root, {}).forge, GitHubForge)
