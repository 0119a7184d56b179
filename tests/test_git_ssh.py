"""ssh remotes: GitWorkspace against a real OpenSSH server on 127.0.0.1 with a deploy key and a
known_hosts file (what Flux keeps in its `identity` / `known_hosts` Secret), plus the config
keys that name them."""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
from gitfixtures import Clone, make_remote, remote_file, remote_head
from sshfixtures import SshServer, keygen

from gitbot.adapters.git import GitAuthError, GitInputError, GitWorkspace
from gitbot.adapters.git_credentials import SshIdentity, is_ssh_url, workspace_env
from gitbot.config import load_settings
from gitbot.errors import InvalidInputError, NeedsHumanError

VS = "apps/podinfo/vs.yaml"


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    server = SshServer(tmp_path_factory.mktemp("sshd")).start()
    yield server
    server.stop()


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    return make_remote(tmp_path)


def workspace(tmp_path: Path, sshd: SshServer, remote: Path, **identity: str) -> GitWorkspace:
    ssh = SshIdentity(key_file=identity.get("key", str(sshd.client_key)),
                      known_hosts_file=identity.get("known", str(sshd.known_hosts)))
    return GitWorkspace(sshd.url(remote), "main", tmp_path / "work", ssh=ssh,
                        author_name="gitbot", author_email="gitbot@example.com")


def test_clone_commit_and_push_over_ssh(tmp_path: Path, sshd: SshServer, remote: Path) -> None:
    with workspace(tmp_path, sshd, remote) as ws:
        assert ws.sync() == remote_head(remote)
        (ws.root / VS).write_text("route:\n  primary: 90\n  canary: 10\n")
        sha = ws.commit("podinfo.test: advance canary weight 10")
        assert ws.push() == sha == remote_head(remote)
    assert remote_file(remote, VS).endswith("canary: 10\n")


def test_push_race_over_ssh_rebases(tmp_path: Path, sshd: SshServer, remote: Path) -> None:
    other = Clone(remote, tmp_path / "other")
    with workspace(tmp_path, sshd, remote) as ws:
        ws.sync()
        (ws.root / VS).write_text("route:\n  primary: 80\n  canary: 20\n")
        ours = ws.commit("advance")
        theirs = other.change("README.md", "changed by a person\n")
        pushed = ws.push()
        assert pushed not in (ours, theirs) and pushed == remote_head(remote)
    assert remote_file(remote, "README.md") == "changed by a person\n"


def test_unknown_host_key_is_refused_with_a_clear_error(
    tmp_path: Path, sshd: SshServer, remote: Path
) -> None:
    stranger = tmp_path / "stranger"
    keygen(stranger)
    known = tmp_path / "known_hosts"
    pub = stranger.with_suffix(".pub").read_text().split()
    known.write_text(f"[127.0.0.1]:{sshd.port} {pub[0]} {pub[1]}\n")
    with workspace(tmp_path, sshd, remote, known=str(known)) as ws, \
            pytest.raises(GitAuthError) as caught:
        ws.sync()
    assert isinstance(caught.value, NeedsHumanError)
    assert "host key" in str(caught.value) and "knownHostsFile" in str(caught.value)


def test_key_the_server_does_not_know_is_an_auth_error(
    tmp_path: Path, sshd: SshServer, remote: Path
) -> None:
    wrong = tmp_path / "wrong"
    keygen(wrong)
    with workspace(tmp_path, sshd, remote, key=str(wrong)) as ws, \
            pytest.raises(GitAuthError, match="Permission denied"):
        ws.sync()


def test_missing_key_file_fails_before_any_git_command(tmp_path: Path, sshd: SshServer,
                                                       remote: Path) -> None:
    with pytest.raises(GitInputError, match=r"keyFile .*/absent does not exist"):
        workspace(tmp_path, sshd, remote, key=str(tmp_path / "absent"))
    assert not (tmp_path / "work").exists()


def test_ssh_key_with_a_non_ssh_url_is_refused(tmp_path: Path, sshd: SshServer) -> None:
    with pytest.raises(GitInputError, match="not an ssh URL"):
        GitWorkspace("https://github.com/acme/gitops.git", "main", tmp_path / "w",
                     ssh=SshIdentity(str(sshd.client_key)))


def test_ssh_command_is_strict_and_quoted(tmp_path: Path) -> None:
    key = tmp_path / "dir with space" / "identity"
    env = workspace_env("git@github.com:acme/gitops.git", "gitbot", "g@x", None,
                        SshIdentity(str(key), "/etc/flux/known_hosts"))
    args = shlex.split(env["GIT_SSH_COMMAND"])
    assert args[:3] == ["ssh", "-i", str(key)]
    assert "StrictHostKeyChecking=yes" in args and "BatchMode=yes" in args
    assert "UserKnownHostsFile=/etc/flux/known_hosts" in args


@pytest.mark.parametrize(("url", "want"), [
    pytest.param("ssh://git@github.com/acme/gitops.git", True, id="ssh-scheme"),
    pytest.param("git+ssh://git@github.com/acme/gitops.git", True, id="git+ssh-scheme"),
    pytest.param("git@github.com:acme/gitops.git", True, id="scp-like"),
    pytest.param("git@[::1]:gitops.git", True, id="scp-like-ipv6"),
    pytest.param("https://github.com/acme/gitops.git", False, id="https"),
    pytest.param("file:///srv/gitops.git", False, id="file-url"),
    pytest.param("/srv/gitops.git", False, id="absolute-path"),
    pytest.param("./gitops.git", False, id="relative-path"),
    pytest.param("repos/a:b.git", False, id="path-with-colon-after-slash"),
])
def test_is_ssh_url(url: str, want: bool) -> None:
    assert is_ssh_url(url) is want


def test_config_ssh_keys_and_their_errors(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("git:\n  url: git@github.com:acme/gitops.git\n  ssh:\n"
                    "    keyFile: /etc/gitbot/ssh/identity\n"
                    "    knownHostsFile: /etc/gitbot/ssh/known_hosts\n")
    ssh = load_settings(path).git.ssh
    assert ssh is not None and ssh.key_file == "/etc/gitbot/ssh/identity"
    path.write_text("git:\n  url: https://github.com/acme/gitops.git\n  ssh:\n"
                    "    keyFile: /etc/gitbot/ssh/identity\n")
    needs_ssh = r"config.yaml:3: git.ssh: a deploy key needs an ssh git.url"
    with pytest.raises(InvalidInputError, match=needs_ssh):
        load_settings(path)
    path.write_text("git:\n  url: git@github.com:acme/gitops.git\n  ssh:\n    key: /x\n")
    with pytest.raises(InvalidInputError) as caught:
        load_settings(path)
    assert "config.yaml:4: git.ssh.key: unknown key" in str(caught.value)
    assert "git.ssh.keyFile: Field required" in str(caught.value)
