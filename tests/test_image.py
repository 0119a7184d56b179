"""The Dockerfile: its shape (pinned slim base, non-root, git + openssh-client, wheel-only install,
no build tools, ENTRYPOINT ["gitbot"]) and its install steps, run for real.

No image builder can pull a base image on this machine (buildah is installed but the registry is
unreachable), so the build is replayed: the build context is filtered by .dockerignore, the build
stage's COPY and `pip wheel` run (offline: `--no-deps --no-build-isolation`, the dependencies
coming from the dev environment instead of the index), the runtime stage's `pip install` and
`pip uninstall` lines run verbatim in a fresh virtualenv, and the image's entrypoint runs from
there: `gitbot --help`, and `gitbot validate` against a real bare repository.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from gitbot.sim.gitops import CanaryOptions, create_gitops_repo

ROOT = Path(__file__).parent.parent
Instruction = tuple[str, str]


def parse_dockerfile(text: str) -> list[list[Instruction]]:
    """The stages of a Dockerfile, each a list of (INSTRUCTION, arguments)."""
    logical, current = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    stages: list[list[Instruction]] = []
    for line in logical:
        word, _, args = line.partition(" ")
        if word.upper() == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((word.upper(), args.strip()))
    return stages


STAGES = parse_dockerfile((ROOT / "Dockerfile").read_text(encoding="utf-8"))
BUILD, RUNTIME = STAGES[0], STAGES[-1]


def _args(stage: list[Instruction], word: str) -> list[str]:
    return [args for w, args in stage if w == word]


def _run_lines(stage: list[Instruction]) -> list[str]:
    """RUN commands without their `--mount=...` style flags, split at `&&`."""
    commands = []
    for args in _args(stage, "RUN"):
        words = shlex.split(args)
        while words and words[0].startswith("--"):
            words.pop(0)
        commands += [c.strip() for c in " ".join(words).split("&&")]
    return commands


def test_base_is_a_pinned_python_slim_image() -> None:
    arg = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    match = re.search(r"^ARG PYTHON=(\S+)$", arg, re.MULTILINE)
    assert match, "the base image is one ARG, shared by both stages"
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", match[1])
    assert _args(BUILD, "FROM") == ["${PYTHON} AS build"]
    assert _args(RUNTIME, "FROM") == ["${PYTHON}"]


def test_runtime_stage_is_non_root_with_git_and_ssh_and_no_build_tools() -> None:
    assert _args(RUNTIME, "USER") == ["65532:65532"]
    assert json.loads(_args(RUNTIME, "ENTRYPOINT")[0]) == ["gitbot"]
    apt = next(c for c in _run_lines(RUNTIME) if c.startswith("apt-get install"))
    assert shlex.split(apt)[2:] == ["-y", "--no-install-recommends", "git", "openssh-client"]
    assert "rm -rf /var/lib/apt/lists/*" in _run_lines(RUNTIME)
    text = " ".join(args for _w, args in RUNTIME)
    for tool in ("gcc", "build-essential", "python3-dev", "make"):
        assert tool not in text.split(), tool
    assert not _args(RUNTIME, "COPY"), "the runtime stage gets the wheels only, never the source"
    assert "from=build,source=/wheels" in _args(RUNTIME, "RUN")[1]


def test_the_user_and_its_group_have_the_ids_the_image_runs_as() -> None:
    """USER uid:gid names a user and a group the image creates with exactly those ids (seen in a
    real buildah build: `useradd --user-group` gave the group id 1000, so the process ran with a
    group that has no name and the home directory belonged to another group)."""
    [user] = _args(RUNTIME, "USER")
    uid, gid = user.split(":")
    commands = [shlex.split(c) for c in _run_lines(RUNTIME)]
    [groupadd] = [c for c in commands if c[0] == "groupadd"]
    [useradd] = [c for c in commands if c[0] == "useradd"]
    assert groupadd[groupadd.index("--gid") + 1] == gid
    assert useradd[useradd.index("--uid") + 1] == uid
    assert useradd[useradd.index("--gid") + 1] == gid
    assert "--user-group" not in useradd and groupadd[-1] == useradd[-1] == "gitbot"


def _ignored(rel: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins; a pattern also matches a parent dir."""
    parts = rel.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        body = pattern.lstrip("!").rstrip("/")
        if body.startswith("**/"):
            hit = any(fnmatch.fnmatchcase(part, body[3:]) for part in parts)
        else:
            hit = any(fnmatch.fnmatchcase(prefix, body) for prefix in prefixes)
        if hit:
            ignored = not pattern.startswith("!")
    return ignored


def build_context(dest: Path) -> list[str]:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    patterns = [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]
    tracked = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-co", "--exclude-standard"],
                             capture_output=True, text=True, check=True).stdout.split()
    kept = [rel for rel in tracked if (ROOT / rel).is_file() and not _ignored(rel, patterns)]
    for rel in kept:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, dest / rel)
    return kept


def test_dockerignore_keeps_only_what_the_build_copies(tmp_path: Path) -> None:
    kept = build_context(tmp_path)
    assert "pyproject.toml" in kept and "gitbot/cli.py" in kept
    assert not [k for k in kept if k.startswith(("tests/", ".git", "manifests/", "scripts/"))]
    assert not [k for k in kept if "__pycache__" in k]


def _deps_only(target: Path) -> Path:
    """The dev environment's installed distributions minus gitbot and the build tools."""
    site = Path(sysconfig.get_paths()["purelib"])
    skip = ("gitbot", "__editable__", "pip", "setuptools", "wheel", "_distutils_hack",
            "pkg_resources", "distutils-precedence")
    target.mkdir()
    for entry in site.iterdir():
        if not entry.name.startswith(skip) and entry.suffix != ".pth":
            (target / entry.name).symlink_to(entry)
    return target


def _replay(command: str, python: Path, wheels: Path) -> list[str]:
    words = shlex.split(command.replace("/wheels", str(wheels)))
    if words[0] == "pip":
        words = [str(python), "-m", "pip", *words[1:]]
    elif words[:3] == ["python", "-m", "pip"]:
        words = [str(python), *words[1:]]
    return words


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv holding what the runtime stage installs; returns its bin directory."""
    base = tmp_path_factory.mktemp("image")
    context, src, wheels = base / "context", base / "src", base / "wheels"
    context.mkdir()
    src.mkdir()
    build_context(context)
    for args in _args(BUILD, "COPY"):
        *sources, dest = args.split()
        for source in sources:
            target = src / dest
            if (context / source).is_dir():
                shutil.copytree(context / source, target, dirs_exist_ok=True)
            else:
                shutil.copy2(context / source, target / source if dest.endswith("/") else target)
    [wheel_cmd] = [c for c in _run_lines(BUILD) if c.startswith("pip wheel")]
    subprocess.run([*_replay(wheel_cmd, Path(sys.executable), wheels), "--no-deps",
                    "--no-build-isolation", "-q"], cwd=src, check=True, env=_clean_env())
    env_dir = base / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; "
                              "print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    Path(purelib, "dev-deps.pth").write_text(f"{_deps_only(base / 'deps')}\n", encoding="utf-8")
    for command in _run_lines(RUNTIME):
        if "pip" in command.split()[:3]:
            subprocess.run(_replay(command, python, wheels), check=True, cwd=base,
                           env=_clean_env())
    return env_dir / "bin"


def _clean_env() -> dict[str, str]:
    """No PYTHONPATH: the source tree must not stand in for the installed wheel."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "GITBOT_CONFIG")}


def _entrypoint(bin_dir: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    entry = json.loads(_args(RUNTIME, "ENTRYPOINT")[0])
    env = _clean_env()
    env["PATH"] = f"{bin_dir}:{env['PATH']}"
    return subprocess.run([*entry, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120)


def test_the_entrypoint_runs_the_installed_wheel(image: Path, tmp_path: Path) -> None:
    reply = _entrypoint(image, "--help", cwd=tmp_path)
    assert reply.returncode == 0, reply.stderr
    assert "validate" in reply.stdout and "run" in reply.stdout
    where = subprocess.run([str(image / "python"), "-c", "import gitbot; print(gitbot.__file__)"],
                           cwd=tmp_path, capture_output=True, text=True, check=True,
                           env=_clean_env()).stdout
    assert where.startswith(str(image.parent)), where  # not the source tree


def test_no_build_tools_are_left(image: Path, tmp_path: Path) -> None:
    for module in ("pip", "setuptools", "wheel"):
        probe = subprocess.run([str(image / "python"), "-c", f"import {module}"], cwd=tmp_path,
                               capture_output=True, text=True, env=_clean_env())
        assert probe.returncode != 0, f"{module} is still installed"


def test_the_entrypoint_validates_a_repository(image: Path, tmp_path: Path) -> None:
    create_gitops_repo(tmp_path, options=CanaryOptions())
    (tmp_path / "config.yaml").write_text(
        "git:\n  url: gitops.git\n  workdir: work\n", encoding="utf-8")
    reply = _entrypoint(image, "validate", cwd=tmp_path)
    assert reply.returncode == 0, reply.stderr
    assert reply.stdout.startswith("valid: 1 Canary"), reply.stdout
