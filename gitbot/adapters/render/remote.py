"""Remote bases: kustomization entries that kustomize would fetch over the network.

kustomize clones (with `git`) an entry of `resources`, `bases`, `components`, `generators`,
`transformers` or `validators` that parses as a git URL (`https://host/org/repo//dir?ref=v1`,
`github.com/org/repo`, `git@host:org/repo`, `ssh://`, `file://`, `git::...`), and fetches with
an HTTP GET any file it loads (a patch's `path`, a generator's file, `openapi.path`, ...) given
as an http(s) URL; a `helmCharts` entry's `repo` names a chart repository. Flux's
kustomize-controller fetches them unless started with `--no-remote-bases`; gitbot renders on
its own host at every pass, so by default (config `security.remoteBases: false`) it fetches
nothing: `check` walks the kustomization files one Flux Kustomization's build reads and, before
the render cache and kubectl, refuses the Kustomization with one message naming FILE:LINE of
the first remote entry, the Kustomization and the key that allows it. With the key true only
https URLs to a DNS name are fetched: other schemes, credentials in the URL, `localhost` and IP
literals that are not globally routable are refused the same way. Host names are not resolved
(a public name pointing at a private address is the operator's trust decision), and what a
fetched base refers to in turn is kustomize's business (`kustomize.build` gives git only https).
`is_remote` also tells `inputs` which builds are never cached. Called by `flux.render_one`.
"""

from __future__ import annotations

import hashlib
import ipaddress
import posixpath
import re
import socket
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ruamel.yaml.error import YAMLError

from gitbot.adapters.redact import redact
from gitbot.adapters.render.confine import references
from gitbot.adapters.render.kustomize import (
    RenderError,
    generated_resources,
    kustomization_file,
)
from gitbot.adapters.render.model import FluxKustomization
from gitbot.adapters.render.yamldocs import item_line, key_line
from gitbot.adapters.yamlbudget import rt_yaml

KEY = "security.remoteBases"
# entries kustomize builds as kustomizations (a local directory, or a clone)
DIRECTORY_FIELDS = ("resources", "bases", "components", "generators", "transformers",
                    "validators")
CONFIG_FIELDS = ("generators", "transformers", "validators")  # ... or a config file/inline
_PREFIXES = ("git::", "gh:", "git@", "github.com/", "github.com:", "gitlab.com/",
             "bitbucket.org/")
_SCP = re.compile(r"[A-Za-z0-9._~+-]+@[^/:\s]+:")  # user@host:path (ssh)
_LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
# keys whose values generator/transformer configs load (files, patches, chart repositories)
LOADED_KEYS = ("path", "paths", "files", "envs", "env", "repo", "chartRepoUrl")
Entry = tuple[str, str, "int | None"]  # field, value, line
_PARSED: dict[tuple[str, bytes], tuple[Entry, ...]] = {}
_MAX_PARSED = 50_000


@dataclass(frozen=True)
class Found:
    """One remote entry: the kustomization file, its line, the field and the value."""

    file: str
    line: int | None
    field: str
    value: str


def is_remote(value: str) -> bool:
    """Whether kustomize may fetch `value` (an entry of a kustomization) over the network."""
    text = value.strip()
    if not text or "\n" in text:
        return False  # inline YAML (a patch), not a reference
    return ("://" in text or text.lower().startswith(_PREFIXES)
            or _SCP.match(text) is not None)


def entries(doc: Mapping[str, Any]) -> Iterator[Entry]:
    """(field, value, line) of every entry of kustomization `doc` kustomize may load."""
    yield from references(doc)
    for field, key in (("helmCharts", "repo"), ("helmChartInflationGenerator", "chartRepoUrl")):
        items = doc.get(field)
        for index, item in enumerate(items if isinstance(items, list) else []):
            if isinstance(item, Mapping) and isinstance(item.get(key), str):
                yield f"{field}[{index}].{key}", item[key], item_line(items, index)


def not_fetched(value: str) -> str | None:
    """Why remote entry `value` is not fetched even with remote bases allowed, or None."""
    text = value.strip()
    text = text[5:] if text.lower().startswith("git::") else text
    if text.lower().startswith("github.com/"):
        return None  # kustomize fetches it from https://github.com/
    scheme, sep, _ = text.partition("://")
    if not sep:
        return "it is not an https URL (scp-like git@host:path is ssh)"
    if scheme.lower() != "https":
        return f"it uses {scheme.lower()}://, not https://"
    try:
        parts = urlsplit(text)
        host = parts.hostname or ""
    except ValueError:
        return "it is not a valid URL"
    if "@" in parts.netloc:
        return "it carries credentials"
    return _host_refusal(host.rstrip("."))


def _host_refusal(host: str) -> str | None:
    if not host:
        return "it names no host"
    address = _ip_literal(host)
    if address is not None:
        if address.is_global and not (address.is_multicast or address.is_reserved):
            return None
        return f"its host {host} is a loopback, private, link-local or reserved address"
    if host in _LOCAL_NAMES or host.endswith(".localhost"):
        return f"its host {host} is the local host"
    if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in host.split(".")):
        return f"its host {host!r} is not a DNS name"
    return None


def _ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address `host` stands for when it is an IP literal (127.1 and 0x7f000001 too)."""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        if not all(c in "0123456789abcdefx." for c in host):
            return None
        try:  # the forms the C resolver accepts: 127.1, 2130706433, 0x7f.1
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def check(artifact: Path, kustomization: FluxKustomization, allowed: bool) -> bool:
    """Raise RenderError when building `kustomization` would fetch something gitbot does not
    (any remote entry; with `allowed`, one that is not https to a public host name); True when
    the build fetches (allowed remote entries: never cached)."""
    spec = {"components": kustomization.spec.get("components")}
    remotes = [Found("", None, f"spec: {field}", value)
               for field, value, _ in references(spec) if is_remote(value)]
    remotes += walk(artifact, kustomization.path)
    for found in remotes:
        why = not_fetched(found.value) if allowed else None
        if allowed and why is None:
            continue
        place = (f"{kustomization.where()}: {found.field}" if not found.file else
                 f"{found.file}:{found.line or 1}: {found.field}")
        raise RenderError(f"{place}: {redact(found.value)!r} is remote: "
                          + _refusal(kustomization, why))
    return bool(remotes)


def _refusal(kustomization: FluxKustomization, why: str | None) -> str:
    declared = f"{kustomization.file}:{kustomization.line}" if kustomization.file else \
        "flux bootstrap"
    lost = (f"Kustomization {kustomization.key} ({declared}) is not rendered and its objects "
            "are missing")
    if why is None:
        return (f"gitbot does not fetch remote bases ({KEY}: false, as Flux's "
                f"kustomize-controller --no-remote-bases), so {lost}; set {KEY}: true in "
                "gitbot's config to fetch them over https")
    return (f"{why}; with {KEY}: true gitbot fetches remote bases only over https from a "
            f"public host name, so {lost}")


def walk(artifact: Path, path: str) -> Iterator[Found]:
    """The remote entries of the kustomization files building `path` reads (and of their
    generator/transformer configs), in build order."""
    start = artifact / path
    if not start.is_dir():
        return  # kustomize.prepared says so
    if kustomization_file(start) is not None:
        pending = [path]
    else:  # Flux generates a kustomization listing the directories that have one
        pending = [posixpath.normpath(posixpath.join(path, rel))
                   for rel in generated_resources(start) if (start / rel).is_dir()]
    seen: set[str] = set()
    while pending:
        directory = pending.pop(0)
        file = kustomization_file(artifact / directory)
        if directory in seen or file is None:
            continue
        seen.add(directory)
        rel = file.relative_to(artifact).as_posix()
        for field, value, line in _parsed(file, rel, _entries):
            if is_remote(value):
                yield Found(rel, line, f"kustomization: {field}", value)
            elif field.partition("[")[0] in DIRECTORY_FIELDS:
                yield from _entry(artifact, directory, Found(rel, line, field, value), pending)


def _entry(artifact: Path, directory: str, entry: Found, pending: list[str]) -> Iterator[Found]:
    """A local entry that kustomize builds: a directory (queued) or a generator/transformer
    config, inline or in a file (its remote `path`/`files`/`repo`... values)."""
    config = entry.field.partition("[")[0] in CONFIG_FIELDS
    if "\n" in entry.value:
        for where, value, _ in _config_remotes(entry.value.encode()):
            yield Found(entry.file, entry.line, f"kustomization: {entry.field}: {where}", value)
        return  # (inline configs are written only in generators, transformers, validators)
    target = posixpath.normpath(posixpath.join(directory, entry.value.strip()))
    if target == ".." or target.startswith(("../", "/")):
        return  # confine refuses it
    if (artifact / target).is_file():  # a resource (not loaded from), or a config
        if not config:
            return
        for where, value, line in _parsed(artifact / target, target, _config_remotes):
            yield Found(target, line, where, value)
    else:
        pending.append(target)


def _parsed(file: Path, rel: str,
            parse: Callable[[bytes], tuple[Entry, ...]]) -> tuple[Entry, ...]:
    """`parse` of file `rel`'s content, once per content."""
    try:
        data = file.read_bytes()
    except OSError:
        return ()
    key = (f"{parse.__name__}:{rel}", hashlib.sha256(data).digest())
    if key not in _PARSED:
        if len(_PARSED) >= _MAX_PARSED:
            _PARSED.clear()
        _PARSED[key] = parse(data)
    return _PARSED[key]


def _documents(data: bytes) -> list[Any]:
    try:
        return list(rt_yaml().load_all(data.decode("utf-8", errors="replace")))
    except YAMLError:
        return []  # kustomize reports it in its own words


def _entries(data: bytes) -> tuple[Entry, ...]:
    """The entries of a kustomization file (its first document, as kustomize reads it)."""
    docs = _documents(data)
    return tuple(entries(docs[0])) if docs and isinstance(docs[0], Mapping) else ()


def _config_remotes(data: bytes) -> tuple[Entry, ...]:
    """(`Kind: key`, value, line) of every remote value of a key kustomize loads in generator
    or transformer configs (a PatchTransformer's `path`, a ConfigMapGenerator's `files`, ...)."""
    found: list[Entry] = []
    for doc in _documents(data):
        if isinstance(doc, Mapping):
            leaves: list[Entry] = []
            _remote_leaves(doc, "", None, False, leaves)
            kind = str(doc.get("kind") or "config")
            found += [(f"{kind}: {where}", value, line) for where, value, line in leaves]
    return tuple(found)


def _remote_leaves(node: Any, where: str, line: int | None, loaded: bool,
                   found: list[Entry]) -> None:
    if isinstance(node, Mapping):
        for key, value in node.items():
            _remote_leaves(value, f"{where}.{key}" if where else str(key),
                           key_line(node, key) or line, loaded or key in LOADED_KEYS, found)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            _remote_leaves(item, f"{where}[{index}]", item_line(node, index) or line, loaded, found)
    elif loaded and isinstance(node, str) and is_remote(node):
        found.append((where, node, line))
