"""The config reference in README.md is generated from the settings model and up to date; the
shipped config.yaml works as its header says; a relative `git.url` is resolved against the config
file's directory on clone and on fetch alike (real bare remotes, the real CLI)."""

from __future__ import annotations

import re
import shutil
import subprocess
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from ruamel.yaml import YAML

from gitbot.cli import cli
from gitbot.config import Settings, load_settings
from gitbot.config_git import resolve_git_url
from gitbot.configref import BEGIN, END, main, render, rows
from gitbot.sim.gitops import CanaryOptions, create_gitops_repo

ROOT = Path(__file__).parent.parent


def test_readme_config_reference_is_up_to_date() -> None:
    assert main(["--check", str(ROOT / "README.md")]) == 0, (
        "README.md is out of date: run `python -m gitbot.configref`"
    )


def test_check_fails_on_a_stale_reference_and_the_script_rewrites_it(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{BEGIN}\n| `git.url` | old |\n{END}\n\nafter\n", encoding="utf-8")
    assert main(["--check", str(readme)]) == 1
    assert main([str(readme)]) == 0
    assert readme.read_text(encoding="utf-8") == f"# x\n\n{render()}\n\nafter\n"
    assert main(["--check", str(readme)]) == 0


def test_missing_markers_exit_2(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# no markers\n", encoding="utf-8")
    assert main(["--check", str(readme)]) == 2


def test_every_key_has_a_meaning() -> None:
    undocumented = [key for key, _kind, _default, meaning in rows() if not meaning.strip()]
    assert undocumented == []


def _keys(node: object, prefix: str = "") -> set[str]:
    if not isinstance(node, dict):
        return set()
    keys = set()
    for key, value in node.items():
        keys.add(prefix + str(key))
        keys |= _keys(value, f"{prefix}{key}.")
    return keys


@pytest.mark.parametrize("path", ["config.yaml", "manifests/config.yaml"])
def test_every_key_of_the_shipped_configs_is_in_the_reference(path: str) -> None:
    documented = {key for key, *_ in rows()}
    used = _keys(YAML(typ="safe").load((ROOT / path).read_text(encoding="utf-8")))
    assert used and used <= documented, used - documented
    assert "`git.stateBranch` | string | `gitbot/state`" in render()


def _cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.stdout + result.stderr


def test_shipped_config_validates_a_gitops_git_beside_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_gitops_repo(tmp_path, options=CanaryOptions())
    shutil.copy(ROOT / "config.yaml", tmp_path / "config.yaml")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    code, out = _cli("--config", str(tmp_path / "config.yaml"), "validate",
                     env={"XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert code == 0, out
    assert out.startswith("valid: 1 Canary"), out


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param("gitops.git", "/etc/gitbot/gitops.git", id="bare-name"),
        pytest.param("./gitops.git", "/etc/gitbot/gitops.git", id="dot-slash"),
        pytest.param("../srv/gitops.git", "/etc/srv/gitops.git", id="parent"),
        pytest.param("/srv/gitops.git", "/srv/gitops.git", id="absolute"),
        pytest.param("file:///srv/gitops.git", "file:///srv/gitops.git", id="file-url"),
        pytest.param("git@github.com:acme/gitops.git", "git@github.com:acme/gitops.git",
                     id="scp-like-ssh"),
        pytest.param("ssh://git@github.com/acme/gitops.git",
                     "ssh://git@github.com/acme/gitops.git", id="ssh-url"),
        pytest.param("https://github.com/acme/gitops.git",
                     "https://github.com/acme/gitops.git", id="https"),
    ],
)
def test_resolve_git_url(url: str, expected: str) -> None:
    assert resolve_git_url(url, Path("/etc/gitbot")) == expected


def test_relative_remote_is_resolved_against_the_config_directory_on_clone_and_fetch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "remotes").mkdir()
    dev = create_gitops_repo(tmp_path / "remotes", options=CanaryOptions())
    conf = tmp_path / "conf"
    conf.mkdir()
    config = conf / "config.yaml"
    config.write_text(
        "git:\n  url: ../remotes/gitops.git\n  workdir: work\n"
        "prometheus:\n  url: http://127.0.0.1:9\n  timeout: 1\n", encoding="utf-8")
    assert load_settings(config).git.url == str(dev.remote.resolve())
    for cwd in ("first", "second/nested"):  # clone from one directory, fetch from another
        (tmp_path / cwd).mkdir(parents=True)
        monkeypatch.chdir(tmp_path / cwd)
        code, out = _cli("--config", "../" * cwd.count("/") + "../conf/config.yaml",
                         "reconcile", "--once")
        assert code == 0, out
    origin = subprocess.run(["git", "-C", str(conf / "work"), "config", "remote.origin.url"],
                            capture_output=True, text=True, check=True).stdout.strip()
    assert origin == str(dev.remote.resolve())
    assert any("initialize" in subject for subject in dev.log_subjects())


@pytest.mark.parametrize(
    ("key", "kind", "default"),
    [
        pytest.param("pullRequests.review", "list of strings", "`[promote]`", id="list"),
        pytest.param("flux.clusterLabels", "map of string to string", "`{}`", id="map"),
        pytest.param("lease.enabled", "boolean", "`true`", id="true"),
        pytest.param("security.noCrossNamespaceRefs", "boolean", "`false`", id="false"),
        pytest.param("prometheus.timeout", "number", "`5`", id="whole-number"),
        pytest.param("git.mode", "`push` \\| `pull-request`", "`push`", id="choice"),
        pytest.param("git.url", "string", "**required**", id="required"),
        pytest.param("forge.github.repository", "string", "**required** in `forge.github`",
                     id="required-in-an-optional-section"),
    ],
)
def test_types_and_defaults_read_as_yaml(key: str, kind: str, default: str) -> None:
    """A person copies defaults into config.yaml: `false`, `[promote]`, never Python's repr."""
    assert {k: (t, d) for k, t, d, _ in rows()}[key] == (kind, default)


def test_a_key_without_a_description_is_caught() -> None:
    """What test_every_key_has_a_meaning relies on: a new field with no description yields an
    empty meaning, also inside a section."""
    from pydantic import BaseModel, Field

    class Section(BaseModel):
        told: int = Field(default=1, description="Said.")
        untold: int = 2

    class Model(BaseModel):
        section: Section = Field(default=Section(), description="A section.")

    assert [key for key, *_, meaning in rows(Model) if not meaning] == ["section.untold"]


# The README's table read back and checked against the settings model on its own terms (not
# through gitbot.configref's rendering): every key, and each default as a person copies it into
# config.yaml, equal to what the code uses when the key is left out.

def _readme_reference(text: str) -> dict[str, tuple[str, str]]:
    """key -> (type, default) of the README's configuration reference table."""
    section = text.split(BEGIN, 1)[1].split(END, 1)[0]
    table = {}
    for line in section.splitlines():
        if line.startswith("| `"):
            cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]]
            table[cells[0].strip("`")] = (cells[1], cells[2])
    return table


def _section_model(annotation: Any) -> type[BaseModel] | None:
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _model_keys(model: type[BaseModel], prefix: str = "", optional: bool = False
                ) -> Iterator[tuple[str, FieldInfo, bool]]:
    """(YAML key, field, inside an optional section) of every key the model accepts."""
    for name, info in model.model_fields.items():
        if info.exclude:
            continue
        key = prefix + (info.alias or name)
        yield key, info, optional
        section = _section_model(info.annotation)
        if section is not None:
            yield from _model_keys(section, key + ".",
                                   optional or (not info.is_required() and info.default is None))


def _as_yaml(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_as_yaml(v) for v in value]
    return value


def _reference_problems(text: str) -> list[str]:
    """Keys missing from (or unknown to) the README's table, and defaults that differ."""
    table = _readme_reference(text)
    keys = list(_model_keys(Settings))
    problems = [f"{key}: not in the README" for key, _, _ in keys if key not in table]
    problems += [f"{key}: in the README, not in the code" for key in
                 sorted(set(table) - {key for key, _, _ in keys})]
    for key, info, _optional in keys:
        if key not in table:
            continue
        written = table[key][1]
        if info.is_required():
            if not written.startswith("**required**"):
                problems.append(f"{key}: required, the README says {written!r}")
            continue
        default = info.get_default(call_default_factory=True)
        if default is None or isinstance(default, BaseModel):
            if written:
                problems.append(f"{key}: no default value, the README says {written!r}")
            continue
        if not (written.startswith("`") and written.endswith("`")):
            problems.append(f"{key}: default {default!r}, the README says {written!r}")
            continue
        if YAML(typ="safe").load(written[1:-1]) != _as_yaml(default):
            problems.append(f"{key}: default {default!r}, the README says {written!r}")
    return problems


def test_readme_reference_lists_every_key_with_the_codes_default() -> None:
    assert _reference_problems((ROOT / "README.md").read_text(encoding="utf-8")) == []


def _value(settings: Any, key: str) -> Any:
    node = settings
    for part in key.split("."):
        node = getattr(node, next(name for name, info in type(node).model_fields.items()
                                  if (info.alias or name) == part))
    return node


def test_readme_defaults_are_what_a_minimal_config_gets(tmp_path: Path) -> None:
    """Leave every key out but git.url: each documented default is the loaded value."""
    config = tmp_path / "config.yaml"
    config.write_text("git:\n  url: gitops.git\n", encoding="utf-8")
    settings = load_settings(config)
    table = _readme_reference((ROOT / "README.md").read_text(encoding="utf-8"))
    checked = 0
    for key, info, optional in _model_keys(Settings):
        written = table[key][1]
        if optional or info.is_required() or not written.startswith("`"):
            continue
        assert _as_yaml(_value(settings, key)) == YAML(typ="safe").load(written[1:-1]), key
        checked += 1
    assert checked >= 30


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        pytest.param(lambda t: t.replace("| `webhooks.passWait` | number | `2` |",
                                         "| `webhooks.passWait` | number | `5` |"),
                     "webhooks.passWait: default 2.0, the README says '`5`'", id="wrong-default"),
        pytest.param(lambda t: re.sub(r"\n\| `security\.remoteBases` \|[^\n]*", "", t),
                     "security.remoteBases: not in the README", id="missing-key"),
        pytest.param(lambda t: t.replace("| `flux.clusterLabels` | map of string to string | `{}`",
                                         "| `flux.clusterLabels` | map of string to string | "),
                     "flux.clusterLabels: default {}, the README says ''", id="blank-default"),
        pytest.param(lambda t: t.replace("| `chat.type` |", "| `chat.kind` |"),
                     "chat.type: not in the README", id="renamed-key"),
    ],
)
def test_a_missing_key_or_a_wrong_default_is_caught(edit: Any, problem: str) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    edited = edit(readme)
    assert edited != readme
    assert problem in _reference_problems(edited)


def test_readme_config_snippets_are_valid_config() -> None:
    """Every ```yaml block of the README made of config.yaml sections loads (with a git.url
    when the snippet leaves it out): no snippet shows a key or value the code refuses."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    sections = {key for key, *_ in rows() if "." not in key}
    checked = 0
    for block in re.findall(r"```yaml\n(.*?)```", readme, re.DOTALL):
        data = YAML(typ="safe").load(block)
        if not isinstance(data, dict) or not set(data) <= sections:
            continue
        git = data.setdefault("git", {})
        git.setdefault("url", "gitops.git")
        Settings.model_validate(data)
        checked += 1
    assert checked >= 4
