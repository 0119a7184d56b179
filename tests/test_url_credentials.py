"""A credential in a URL's query string is refused like one in its user part, and never shown.

`git.url` and `prometheus.url` are checked when the config is loaded (the real CLI, exit 2),
`GitWorkspace` checks its remote again, and git's own error texts (a real `git` process) have
query-string credentials masked before they reach a message.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from gitbot.adapters.git import GitWorkspace
from gitbot.adapters.git_credentials import query_credentials
from gitbot.adapters.git_errors import GitInputError, classify, scrub_url
from gitbot.cli import cli
from gitbot.config import load_settings
from gitbot.errors import InvalidInputError

TOKEN = "glpat-" + "Qk7sEcReT0123456789"  # built here so no credentialed URL sits in the source
HOST = "https://git.example.com/acme/gitops.git"

QUERIES = [
    pytest.param(f"access_token={TOKEN}", "access_token", id="access_token"),
    pytest.param(f"token={TOKEN}", "token", id="token"),
    pytest.param(f"private_token={TOKEN}", "private_token", id="private_token"),
    pytest.param(f"ref=main&oauth_token={TOKEN}", "oauth_token", id="second-parameter"),
    pytest.param(f"ref=main;Private-Token={TOKEN}", "Private-Token", id="semicolon-upper-case"),
    pytest.param(f"access%5Ftoken={TOKEN}", "access_token", id="percent-encoded-name"),
    pytest.param(f"key={TOKEN}", "key", id="key"),
    pytest.param(f"api_key={TOKEN}", "api_key", id="api_key"),
    pytest.param(f"password={TOKEN}", "password", id="password"),
    pytest.param(f"secret={TOKEN}", "secret", id="secret"),
    pytest.param(f"sig={TOKEN}", "sig", id="sig"),
    pytest.param(f"X-Amz-Signature={TOKEN}", "X-Amz-Signature", id="signature"),
    pytest.param(f"auth={TOKEN}", "auth", id="auth"),
]


def _config(tmp_path: Path, git_url: str, prometheus_url: str = "http://127.0.0.1:9090") -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(f"git:\n  url: '{git_url}'\n  workdir: {tmp_path / 'work'}\n"
                    f"prometheus:\n  url: '{prometheus_url}'\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(("query", "name"), QUERIES)
def test_git_url_with_a_query_credential_is_refused_at_config_load(
    tmp_path: Path, query: str, name: str
) -> None:
    config = _config(tmp_path, f"{HOST}?{query}")
    with pytest.raises(InvalidInputError) as caught:
        load_settings(config)
    assert str(caught.value) == (
        f"{config}:2: git.url: must not carry credentials in its query string ({name}); put "
        "the token in an environment variable or a file and name it under git.credentials "
        "(tokenEnv or tokenFile)")
    assert TOKEN not in str(caught.value)


def test_prometheus_url_with_a_query_credential_is_refused_at_config_load(tmp_path: Path) -> None:
    config = _config(tmp_path, HOST, f"http://127.0.0.1:9090/?access_token={TOKEN}")
    with pytest.raises(InvalidInputError) as caught:
        load_settings(config)
    assert str(caught.value).startswith(
        f"{config}:5: prometheus.url: must not carry credentials in its query string "
        "(access_token); ")
    assert TOKEN not in str(caught.value)


@pytest.mark.parametrize(
    "url",
    [pytest.param(f"{HOST}?ref=main", id="plain-query"),
     pytest.param(HOST, id="no-query"),
     pytest.param("/srv/gitops.git?token=x", id="a-path-is-no-url")],
)
def test_urls_without_query_credentials_pass(tmp_path: Path, url: str) -> None:
    assert load_settings(_config(tmp_path, url)).git.url == url


@pytest.mark.parametrize("command", [["status"], ["validate"], ["reconcile", "--once"]])
def test_the_cli_exits_2_and_prints_no_token(tmp_path: Path, command: list[str]) -> None:
    config = _config(tmp_path, f"{HOST}?access_token={TOKEN}")
    result = CliRunner().invoke(cli, ["--config", str(config), *command])
    assert result.exit_code == 2
    assert "git.url: must not carry credentials in its query string (access_token)" in (
        result.stderr)
    assert TOKEN not in result.stdout + result.stderr
    assert not (tmp_path / "work").exists()


@pytest.mark.parametrize(("query", "name"), QUERIES)
def test_the_workspace_refuses_it_too(tmp_path: Path, query: str, name: str) -> None:
    with pytest.raises(GitInputError) as caught:
        GitWorkspace(f"{HOST}?{query}", "main", tmp_path / "w")
    assert f"carries credentials in its query string ({name})" in str(caught.value)
    assert TOKEN not in str(caught.value)
    assert not (tmp_path / "w").exists()


def test_parameter_names_that_could_be_a_token_are_not_shown() -> None:
    assert query_credentials(f"{HOST}?{TOKEN}-token=1") == ["a parameter"]


@pytest.mark.parametrize(("query", "name"), QUERIES)
def test_scrub_masks_query_credentials(query: str, name: str) -> None:
    text = f"fatal: unable to access '{HOST}?{query}/': 403 and again {HOST}?{query}"
    assert TOKEN not in scrub_url(text)
    assert scrub_url(f"{HOST}?ref=main&x=1") == f"{HOST}?ref=main&x=1"


def test_git_error_text_from_a_real_git_never_carries_the_token(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:1/acme/gitops.git?ref=main&access_token={TOKEN}"
    done = subprocess.run(["git", "ls-remote", url], cwd=tmp_path, capture_output=True,
                          text=True, check=False, env={"GIT_TERMINAL_PROMPT": "0", "PATH":
                                                       "/usr/bin:/bin"})
    assert done.returncode != 0 and TOKEN in done.stderr, "git echoes the URL it failed on"
    error = classify("ls-remote", done.returncode, done.stderr)
    assert TOKEN not in str(error)
    assert "access_token=***" in str(error)
