"""A real OpenSSH server on 127.0.0.1 for the ssh remote tests (Debian `openssh-server`).

`SshServer` generates a host key and a client key in a temporary directory, writes an
`sshd_config` that accepts only that client key for the current user, runs `sshd -D` on a free
loopback port and stops it afterwards. `scripts/setup` installs the package.
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

SSHD = "/usr/sbin/sshd"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", path.name, "-f",
                    str(path)], check=True)


class SshServer:
    """sshd on 127.0.0.1:port accepting `client_key` for the current user."""

    def __init__(self, root: Path) -> None:
        if not os.access(SSHD, os.X_OK) or shutil.which("ssh-keygen") is None:
            raise RuntimeError(
                f"{SSHD} not found: run scripts/setup (apt-get install openssh-server)")
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.user = getpass.getuser()
        self.port = free_port()
        self.host_key = root / "host_ed25519"
        self.client_key = root / "client_ed25519"
        keygen(self.host_key)
        keygen(self.client_key)
        authorized = root / "authorized_keys"
        authorized.write_text(self.client_key.with_suffix(".pub").read_text())
        host_pub = self.host_key.with_suffix(".pub").read_text().split()
        self.known_hosts = root / "known_hosts"
        self.known_hosts.write_text(f"[127.0.0.1]:{self.port} {host_pub[0]} {host_pub[1]}\n")
        self.config = root / "sshd_config"
        self.config.write_text("\n".join([
            "ListenAddress 127.0.0.1",
            f"Port {self.port}",
            f"HostKey {self.host_key}",
            f"AuthorizedKeysFile {authorized}",
            f"PidFile {root / 'sshd.pid'}",
            f"AllowUsers {self.user}",
            "PermitRootLogin prohibit-password",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "StrictModes no",
            "PrintMotd no",
            "LogLevel ERROR",
            "",
        ]))
        self.log = root / "sshd.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> SshServer:
        # sshd insists on its privilege-separation directory, made by the init script we skip.
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        with self.log.open("wb") as log:  # the child keeps its own copy of the descriptor
            self.process = subprocess.Popen(
                [SSHD, "-D", "-e", "-f", str(self.config)],
                stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"sshd exited: {self.log.read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"sshd did not listen on 127.0.0.1:{self.port}: {self.log.read_text()}")

    def url(self, path: Path) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
