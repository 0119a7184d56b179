"""kustomize reads only the artifact: every file a kustomization names must stay inside it.

kustomize-controller builds on a filesystem rooted at the source artifact (fluxcd/pkg
kustomize, securefs), so an entry that climbs out of it (`../../../../etc/passwd`, an absolute
`/var/run/secrets/...`, a `file://` "remote" base that kustomize clones from a local path)
fails the build. `kubectl kustomize --load-restrictor LoadRestrictionsNone`, which gitbot
runs, would read it: a `configMapGenerator` naming a host file would put its content (a token,
say) into a rendered ConfigMap, and from there into postBuild variables or the primary's config
copies. `check_artifact` therefore refuses, before any build, every path entry of every
kustomization file in the artifact copy that is absolute or leaves the artifact (FILE:LINE and
the field), and every YAML file kustomize may read whose aliases expand beyond gitbot's budgets
(kustomize itself would take gigabytes of memory); a refused file costs only the Flux
Kustomizations that read it. The copy holds no symlinks (`SourceIgnore.copy_artifact`), so
checking normalised paths is enough. Remote bases (`github.com/...`) stay relative and are not
judged here. Called by `gitbot.adapters.render.flux` (`render_repository` for the team's files,
`render_one` for the Flux Kustomization's own `components`).
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml.error import YAMLError

from gitbot.adapters.render.kustomize import KUSTOMIZATION_FILES, RenderError
from gitbot.adapters.render.yamldocs import item_line
from gitbot.adapters.safefs import MAX_BYTES, walk
from gitbot.adapters.yamlbudget import (
    YamlBudgetError,
    rt_yaml,
    safe_yaml,
    yaml_error_line,
    yaml_error_text,
)

# Fields whose items are paths (or inline YAML, skipped: it has a newline or is a mapping).
PATH_LISTS = ("resources", "components", "bases", "crds", "configurations", "generators",
              "transformers", "validators", "patchesStrategicMerge")
PATH_ITEMS = ("patches", "patchesJson6902", "replacements")  # each item's `path`
GENERATORS = ("configMapGenerator", "secretGenerator")  # files (`key=path`), envs, env


SPOILED = "# gitbot refused this file (see the problem above)\n{: [\n"
# Text that could hold a path leaving the artifact (or an escape hiding one): only kustomization
# files matching it are parsed, and each verdict is kept per (file, content) across renders.
_MAY_LEAVE = re.compile(r"\.\.|file:|\\|(?:^|[\s\-:\[{,\"'])/", re.IGNORECASE | re.MULTILINE)
_VERDICTS: dict[tuple[str, bytes], str | None] = {}
_MAX_VERDICTS = 50_000


def check_artifact(artifact: Path) -> list[str]:
    """The refusals (messages): kustomization files with a path entry that leaves `artifact`
    and files kustomize may read whose YAML aliases break gitbot's budgets.

    Each refused file is replaced in the copy by text no YAML parser accepts, so only the
    Flux Kustomizations that read it fail to build (kustomize-controller fails just those).
    """
    rels = []
    for dirpath, dirnames, filenames in walk(artifact):
        dirnames.sort()
        base = Path(dirpath).relative_to(artifact).as_posix()
        rels += [name if base == "." else f"{base}/{name}" for name in sorted(filenames)]
    return list(check_files(artifact, rels).values())


def check_files(artifact: Path, rels: Iterable[str]) -> dict[str, str]:
    """`check_artifact` for the files `rels` of the copy only (each file is judged alone: the
    persistent copy of a tracked tree checks just the files it updated): refusal per file,
    each refused file replaced by text no YAML parser accepts."""
    refused: dict[str, str] = {}
    for rel in rels:
        problem = _problem(artifact, rel, posixpath.basename(rel) in KUSTOMIZATION_FILES)
        if problem is not None:
            refused[rel] = problem
    for rel in refused:
        (artifact / rel).write_text(SPOILED, encoding="utf-8")
    return refused


def _problem(artifact: Path, rel: str, kustomization: bool) -> str | None:
    """Why file `rel` of the artifact copy (regular files only, made by gitbot) is refused."""
    path = artifact / rel
    size = path.stat().st_size
    with path.open("rb") as file:
        data = file.read(MAX_BYTES + 1)
    problem = _kustomization_refusal(data, rel) if kustomization else None
    if problem is None:
        try:
            check_aliases(data, size, rel)
        except RenderError as err:
            problem = str(err)
    return problem


def _kustomization_refusal(data: bytes, rel: str) -> str | None:
    """Why kustomization file `rel` is refused (a path entry leaving the artifact), or None."""
    text = data.decode("utf-8", errors="replace")
    if not _MAY_LEAVE.search(text):
        return None
    key = (rel, hashlib.sha256(data).digest())
    if key not in _VERDICTS:
        if len(_VERDICTS) >= _MAX_VERDICTS:
            _VERDICTS.clear()
        _VERDICTS[key] = _refusal_of(text, rel)
    return _VERDICTS[key]


def _refusal_of(text: str, rel: str) -> str | None:
    """Checked with the (faster) safe loader; a refusal is re-read round trip for its line."""
    try:
        check_document(next(iter(safe_yaml().load_all(text)), None), rel)
        return None
    except YAMLError:
        return None  # kustomize reports it in its own words
    except RenderError as err:
        first = str(err)
    try:
        check_document(next(iter(rt_yaml().load_all(text)), None), rel)
    except RenderError as err:
        return str(err)
    except YAMLError:
        pass
    return first


def check_aliases(data: bytes, size: int, rel: str) -> None:
    """Raise RenderError when file `rel` (`data`: its first bytes, `size` in all) is a YAML
    bomb (kustomize would expand it: gigabytes).

    Only files holding both an anchor (`&`) and an alias (`*`) are composed, within the
    budgets; other YAML errors (and files that are no YAML at all) are left to kustomize. A
    YAML file over the size limit with anchors and aliases is refused unread.
    """
    if b"&" not in data or b"*" not in data:
        return
    if size > MAX_BYTES:
        if rel.endswith((".yaml", ".yml", *KUSTOMIZATION_FILES)):
            raise RenderError(f"{rel}:1: is {size} bytes and uses YAML anchors; gitbot checks "
                              f"what aliases expand to only in files of at most "
                              f"{MAX_BYTES // (1024 * 1024)} MiB")
        return
    try:
        for _ in safe_yaml().compose_all(data.decode("utf-8", errors="replace")):
            pass
    except YamlBudgetError as err:
        raise RenderError(f"{rel}:{yaml_error_line(err)}: refused: "
                          f"{yaml_error_text(err)}") from err
    except YAMLError:
        return


def check_document(doc: Any, rel: str, directory: str | None = None,
                   where: str | None = None) -> None:
    """Raise RenderError when a path entry of kustomization `doc` (file `rel`, resolved from
    `directory`, default the file's own) is absolute or climbs out of the artifact; `where`
    replaces `rel:LINE` in the message (the Flux Kustomization naming the entry)."""
    if not isinstance(doc, Mapping):
        return
    base = posixpath.dirname(rel) if directory is None else directory
    for field, value, line in references(doc):
        if _outside(base, value):
            place = where or (f"{rel}:{line}: kustomization" if line else f"{rel}: kustomization")
            raise RenderError(f"{place}: {field}: {value!r} is outside the repository; Flux's "
                              "kustomize-controller refuses files outside its source, and "
                              "gitbot never reads them")


def references(doc: Mapping[str, Any]) -> Iterator[tuple[str, str, int | None]]:
    """(field, path, line) of every file path a kustomization names."""
    for field in PATH_LISTS:
        for index, item in _items(doc, field):
            if isinstance(item, str):
                yield f"{field}[{index}]", item, item_line(doc.get(field), index)
    for field in PATH_ITEMS:
        for index, item in _items(doc, field):
            if isinstance(item, Mapping) and isinstance(item.get("path"), str):
                yield f"{field}[{index}].path", item["path"], item_line(doc.get(field), index)
    for field in GENERATORS:
        for index, item in _items(doc, field):
            if isinstance(item, Mapping):
                yield from _generator(item, f"{field}[{index}]", item_line(doc.get(field), index))
    openapi = doc.get("openapi")
    if isinstance(openapi, Mapping) and isinstance(openapi.get("path"), str):
        yield "openapi.path", openapi["path"], None


def _generator(item: Mapping[str, Any], where: str,
               line: int | None) -> Iterator[tuple[str, str, int | None]]:
    for key in ("files", "envs"):
        entries = item.get(key)
        for index, entry in enumerate(entries if isinstance(entries, list) else []):
            if isinstance(entry, str):
                path = entry.split("=", 1)[1] if key == "files" and "=" in entry else entry
                yield f"{where}.{key}[{index}]", path, item_line(entries, index) or line
    if isinstance(item.get("env"), str):
        yield f"{where}.env", item["env"], line


def _items(doc: Mapping[str, Any], field: str) -> Iterator[tuple[int, Any]]:
    value = doc.get(field)
    return enumerate(value) if isinstance(value, list) else iter(())


def _outside(directory: str, value: str) -> bool:
    value = value.strip()
    if not value or "\n" in value:
        return False  # inline YAML (a patch, a generator's config), not a path
    if value.startswith("/") or value.lower().startswith("file:"):
        return True  # file:// is a git clone of a local path: outside as well
    joined = posixpath.normpath(posixpath.join(directory, value))
    return joined == ".." or joined.startswith("../")
