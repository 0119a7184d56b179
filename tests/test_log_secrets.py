"""No secret in any output at any verbosity: the real CLI (`-vv reconcile --once`) posts to a real
chat server on 127.0.0.1 whose secret address comes from an AlertProvider's secretRef or from the
global chat's addressEnv, and neither the secret path nor the token appears in stdout/stderr —
not even in urllib3's DEBUG request lines. Plus the redaction rules themselves."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from httpfixtures import RecordingServer, Reply

from gitbot.adapters.redact import (
    RedactingFilter,
    forget_secrets,
    install_log_redaction,
    redact,
    register_secret,
    register_url,
)
from gitbot.sim.gitops import CanaryOptions, create_gitops_repo

SECRET_PATH = "/services/T0SECRET1/B0SECRET2/XXXXSECRETXXXX"
TOKEN = "xoxb-0123456789-tokenSECRET"
SECRETS = ("T0SECRET1", "B0SECRET2", "XXXXSECRETXXXX", "tokenSECRET")

PROVIDER_WITH_SECRET = """\
---
apiVersion: flagger.app/v1beta1
kind: AlertProvider
metadata:
  name: on-call
  namespace: test
spec:
  type: slack
  channel: on-call
  secretRef:
    name: slack-url
"""


@pytest.fixture(autouse=True)
def clean_registry() -> Iterator[None]:
    forget_secrets()
    yield
    forget_secrets()


@pytest.fixture
def prometheus() -> Iterator[RecordingServer]:
    empty = {"status": "success", "data": {"resultType": "vector", "result": []}}
    with RecordingServer(Reply(200, empty)) as server:
        yield server


def _reconcile(tmp_path: Path, extra: str, env: dict[str, str], prom_url: str) -> str:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"git:\n  url: {tmp_path / 'gitops.git'}\n  workdir: {tmp_path / 'work'}\n"
        f"prometheus:\n  url: {prom_url}\n  timeout: 2\n{extra}",
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, "-m", "gitbot", "--config", str(config), "-vv", "reconcile", "--once"],
        capture_output=True, text=True, timeout=120, env={**os.environ, **env},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


def _assert_clean(output: str, chat: RecordingServer) -> None:
    assert [r.path for r in chat.requests] == [SECRET_PATH]  # the message did go out
    # urllib3's request lines were logged (they carry the request path: the Slack secret)
    assert "debug: Starting new HTTP connection" in output and '"POST ' in output
    leaked = [s for s in SECRETS if s in output]
    assert leaked == [], output


def test_alert_provider_secret_address_and_token_never_logged(
    tmp_path: Path, prometheus: RecordingServer
) -> None:
    with RecordingServer() as chat:
        options = CanaryOptions(alert_url="http://127.0.0.1:9/placeholder")
        dev = create_gitops_repo(tmp_path, options=options)
        canary = options.render().split("---\napiVersion: flagger.app/v1beta1\nkind: AlertProv")[0]
        dev.commit_files({"apps/podinfo/canary.yaml": canary + PROVIDER_WITH_SECRET}, "secret")
        folder = tmp_path / "secrets" / "test" / "slack-url"
        folder.mkdir(parents=True)
        (folder / "address").write_text(chat.url + SECRET_PATH, encoding="utf-8")
        (folder / "token").write_text(TOKEN, encoding="utf-8")
        output = _reconcile(tmp_path, f"secretsDir: {tmp_path / 'secrets'}\n", {}, prometheus.url)
        assert chat.requests[-1].headers["authorization"] == f"Bearer {TOKEN}"
        _assert_clean(output, chat)
    assert "***" in output


def test_global_chat_address_from_env_never_logged(
    tmp_path: Path, prometheus: RecordingServer
) -> None:
    with RecordingServer() as chat:
        create_gitops_repo(tmp_path, options=CanaryOptions())
        extra = "chat:\n  type: slack\n  addressEnv: GITBOT_TEST_CHAT\n"
        output = _reconcile(tmp_path, extra, {"GITBOT_TEST_CHAT": chat.url + SECRET_PATH},
                            prometheus.url)
        _assert_clean(output, chat)
    assert prometheus.requests, "Prometheus was asked"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("https://bot:" + "pa55word@git.example/x", "https://***@git.example/x",
                     id="userinfo"),
        pytest.param("GET /hook?access_token=abc123&x=1 HTTP/1.1",
                     "GET /hook?access_token=***&x=1 HTTP/1.1", id="access-token"),
        pytest.param("http://h/gate?sig=s3cr3t", "http://h/gate?sig=***", id="signature"),
        pytest.param("http://h/q?query=up&api_key=k3y", "http://h/q?query=up&api_key=***",
                     id="api-key"),
        pytest.param("http://h/q?query=sum(rate(x[1m]))", "http://h/q?query=sum(rate(x[1m]))",
                     id="ordinary-query-kept"),
    ],
)
def test_generic_url_rules(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_registered_url_masks_path_query_password_and_encoded_forms() -> None:
    register_url("https://user:" + "Zpw-9731@chat.example/hooks/AbCdEf0123?k=Vq7731")
    register_secret("tok/en with space")
    text = ("POST /hooks/AbCdEf0123?k=Vq7731 ; Zpw-9731 ; /hooks/AbCdEf0123/slack ; "
            "tok%2Fen%20with%20space")
    assert redact(text) == "POST *** ; *** ; ***/slack ; ***"


def test_filter_cleans_messages_arguments_and_tracebacks() -> None:
    register_url("http://127.0.0.1:1/services/Tfilter/Bfilter/Xfilter")
    stream = io.StringIO()
    logger = logging.getLogger("test.redact")
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    logger.propagate = False
    install_log_redaction(logger)
    install_log_redaction(logger)  # once only
    try:
        logger.warning("posting to %s", "/services/Tfilter/Bfilter/Xfilter")
        try:
            raise ValueError("bad url /services/Tfilter/Bfilter/Xfilter")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    assert sum(isinstance(f, RedactingFilter) for f in handler.filters) == 1
    out = stream.getvalue()
    assert "Tfilter" not in out, out
    assert "posting to ***\n" in out and "ValueError: bad url ***\n" in out


def test_a_registered_fragment_never_leaves_half_a_credential() -> None:
    register_url("http://127.0.0.1:1/gate?token=abc", path_is_secret=False)
    assert redact("GET /x?access_token=abc123 HTTP/1.1") == "GET /x?access_token=*** HTTP/1.1"
