"""Tests for gitbot.adapters.git_credentials and the token handling of GitWorkspace: URLs with
credentials are refused, the credential helper reads the token at run time, and the token never
lands in .git/config, error text or logs. Includes a real smart-HTTP server (`git http-backend`
behind Basic auth on 127.0.0.1) for an end-to-end clone and push."""

from __future__ import annotations

import base64
import logging
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from gitfixtures import child_processes, make_remote, remote_head

from gitbot.adapters.git import GitAuthError, GitError, GitInputError, GitWorkspace
from gitbot.adapters.git_credentials import (
    Credentials,
    config_env,
    credential_config,
    credential_env,
)
from gitbot.errors import InvalidInputError, NeedsHumanError

SECRET = "ghs_s3cretTOKENvalue0123456789"


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("https://" + f"x-access-token:{SECRET}" + "@github.com/o/r.git",
                     id="user-and-token"),
        pytest.param(f"https://{SECRET}@github.com/o/r.git", id="token-as-user"),
        pytest.param(f"http://bot:{SECRET}@127.0.0.1:8080/r.git", id="plain-http"),
        pytest.param(f"ssh://git:{SECRET}@github.com/o/r.git", id="ssh-with-password"),
    ],
)
def test_url_with_credentials_rejected(tmp_path: Path, url: str) -> None:
    with pytest.raises(GitInputError) as caught:
        GitWorkspace(url, "main", tmp_path / "w")
    message = str(caught.value)
    assert isinstance(caught.value, InvalidInputError)
    assert SECRET not in message
    assert "token_env" in message
    assert "github.com" in message or "127.0.0.1" in message


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("ssh://git@github.com/o/r.git", id="ssh-user-only"),
        pytest.param("git@github.com:o/r.git", id="scp-like"),
        pytest.param("https://github.com/o/r.git", id="https-no-userinfo"),
        pytest.param("/srv/gitops.git", id="path"),
    ],
)
def test_url_without_credentials_accepted(tmp_path: Path, url: str) -> None:
    GitWorkspace(url, "main", tmp_path / "w").close()


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({}, id="no-reference"),
        pytest.param({"token_env": "A", "token_file": "/f"}, id="both-references"),
        pytest.param({"token_env": SECRET + "-not-a-name"}, id="token-in-env-field"),
        pytest.param({"token_env": "A", "username": ""}, id="empty-username"),
    ],
)
def test_bad_credentials_rejected(kwargs: dict[str, str]) -> None:
    with pytest.raises(GitInputError) as caught:
        Credentials(**kwargs)
    assert SECRET not in str(caught.value)


def _credential_fill(creds: Credentials, extra_env: dict[str, str]) -> str:
    url = "https://git.example.com/o/r.git"
    env = {**os.environ, **extra_env, **credential_env(creds, url),
           **config_env(credential_config(creds, url)), "GIT_TERMINAL_PROMPT": "0"}
    done = subprocess.run(
        ["git", "credential", "fill"],
        input="protocol=https\nhost=git.example.com\n\n",
        env=env, capture_output=True, text=True, check=True, timeout=30,
    )
    return done.stdout


def test_helper_reads_token_from_env() -> None:
    creds = Credentials(token_env="GITBOT_TEST_TOKEN")
    out = _credential_fill(creds, {"GITBOT_TEST_TOKEN": SECRET})
    assert "username=x-access-token\n" in out and f"password={SECRET}\n" in out
    assert SECRET not in str(credential_env(creds, "https://h/r")) + str(
        credential_config(creds, "https://h/r"))


def test_helper_reads_token_from_file_at_run_time(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("first-token-value\n")
    creds = Credentials(username="bot", token_file=str(token_file))
    assert "password=first-token-value\n" in _credential_fill(creds, {})
    token_file.write_text(SECRET + "\n")  # rotated: read again on the next use
    out = _credential_fill(creds, {})
    assert "username=bot\n" in out and f"password={SECRET}\n" in out


def test_no_helper_for_non_http_remotes() -> None:
    creds = Credentials(token_env="X")
    assert credential_env(creds, "/srv/r.git") == {} and credential_config(creds, "ssh://h/r") == []


def _grep_tree(root: Path, needle: str) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle.encode() in p.read_bytes()]


def test_path_remote_with_credentials_leaks_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    remote = make_remote(tmp_path)
    monkeypatch.setenv("GITBOT_TEST_TOKEN", SECRET)
    creds = Credentials(token_env="GITBOT_TEST_TOKEN")
    with GitWorkspace(str(remote), "main", tmp_path / "w", credentials=creds) as ws:
        assert ws.sync() == remote_head(remote)
        (ws.root / "README.md").write_text("x\n")
        ws.commit("x")
        ws.push()
        remote.rename(tmp_path / "gone.git")
        with pytest.raises(GitError) as caught:
            ws.sync()
    assert SECRET not in str(caught.value)
    assert _grep_tree(tmp_path / "w", SECRET) == []
    assert SECRET not in caplog.text


def test_missing_token_reference_fails_fast(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GITBOT_ABSENT_TOKEN", raising=False)
    creds = Credentials(token_env="GITBOT_ABSENT_TOKEN")
    ws = GitWorkspace(str(make_remote(tmp_path)), "main", tmp_path / "w", credentials=creds)
    with ws, pytest.raises(GitAuthError, match="GITBOT_ABSENT_TOKEN") as caught:
        ws.sync()
    assert isinstance(caught.value, NeedsHumanError)


# --- a real smart-HTTP server with Basic auth ------------------------------------------------


class _GitHttp(BaseHTTPRequestHandler):
    """`git http-backend` as CGI behind Basic auth; records every Authorization header."""

    project_root: Path
    expected: str
    seen: list[str]

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _serve(self) -> None:
        auth = self.headers.get("Authorization", "")
        self.seen.append(auth)
        if auth != self.expected:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
        status, headers, payload = self._backend(body)
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _backend(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        path, _, query = self.path.partition("?")
        env = {
            "PATH": os.environ["PATH"], "GIT_PROJECT_ROOT": str(self.project_root),
            "GIT_HTTP_EXPORT_ALL": "1", "PATH_INFO": path, "QUERY_STRING": query,
            "REQUEST_METHOD": self.command, "REMOTE_USER": "bot", "REMOTE_ADDR": "127.0.0.1",
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)), "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
        }
        done = subprocess.run(["git", "http-backend"], input=body, env=env,
                              capture_output=True, check=False, timeout=30)
        head, _, payload = done.stdout.partition(b"\r\n\r\n")
        status, headers = 200, []
        for line in head.decode().split("\r\n"):
            key, _, value = line.partition(":")
            if key.lower() == "status":
                status = int(value.split()[0])
            elif key:
                headers.append((key, value.strip()))
        return status, headers, payload


@pytest.fixture
def http_remote(tmp_path: Path) -> Iterator[tuple[str, Path, list[str]]]:
    remote = make_remote(tmp_path)
    seen: list[str] = []
    basic = base64.b64encode(f"x-access-token:{SECRET}".encode()).decode()
    handler = type("Handler", (_GitHttp,), {
        "project_root": tmp_path, "expected": f"Basic {basic}", "seen": seen,
    })
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/remote.git", remote, seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_http_clone_and_push_with_token(
    tmp_path: Path, http_remote: tuple[str, Path, list[str]], monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    url, remote, seen = http_remote
    monkeypatch.setenv("GITBOT_TEST_TOKEN", SECRET)
    creds = Credentials(token_env="GITBOT_TEST_TOKEN")
    with GitWorkspace(url, "main", tmp_path / "w", credentials=creds, timeout=30) as ws:
        assert ws.sync() == remote_head(remote)
        (ws.root / "README.md").write_text("over http\n")
        sha = ws.commit("over http", trailers={"Gitbot-Action": "advance"})
        assert ws.push() == sha == remote_head(remote)
        assert ws.write_branch_file("gitbot-state", "s.json", "{}", "state") == remote_head(
            remote, "gitbot-state")
    assert any(auth.startswith("Basic ") for auth in seen)
    assert _grep_tree(tmp_path / "w", SECRET) == []
    assert SECRET not in caplog.text


def test_http_wrong_token_is_auth_error(
    tmp_path: Path, http_remote: tuple[str, Path, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _remote, _seen = http_remote
    wrong = "wrong-token-value-987654321"
    monkeypatch.setenv("GITBOT_TEST_TOKEN", wrong)
    creds = Credentials(token_env="GITBOT_TEST_TOKEN")
    ws = GitWorkspace(url, "main", tmp_path / "w", credentials=creds, timeout=30)
    with ws, pytest.raises(GitAuthError) as caught:
        ws.sync()
    assert wrong not in str(caught.value) and SECRET not in str(caught.value)
    assert isinstance(caught.value, NeedsHumanError)
    assert not (tmp_path / "w").exists()


def test_hanging_remote_is_killed_after_timeout(tmp_path: Path) -> None:
    with socket.socket() as silent:  # accepts connections (backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/remote.git"
        started = time.monotonic()
        ws = GitWorkspace(url, "main", tmp_path / "w", timeout=1)
        with ws, pytest.raises(GitError, match="Timeout") as caught:
            ws.sync()
        assert time.monotonic() - started < 10
    assert "did not complete in 1 secs" in str(caught.value)
    deadline = time.monotonic() + 3
    while child_processes() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert child_processes() == []


def test_a_relative_token_file_is_read_beside_the_config_from_any_directory(
    tmp_path: Path, http_remote: tuple[str, Path, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`git.credentials.tokenFile: token` means conf/token, wherever gitbot is started from
    (like git.url, git.workdir and the other files the config names)."""
    from click.testing import CliRunner

    from gitbot.cli import cli

    url, _remote, seen = http_remote
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "token").write_text(SECRET + "\n", encoding="utf-8")
    (conf / "config.yaml").write_text(
        f"git:\n  url: {url}\n  workdir: work\n"
        "  credentials:\n    tokenFile: token\n", encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = CliRunner().invoke(cli, ["--config", "../conf/config.yaml", "validate"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("valid: "), result.stdout
    assert any(auth.startswith("Basic ") for auth in seen)
    assert SECRET not in result.output
