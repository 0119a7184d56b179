"""Drift check before every tick: read what the branch declares for the values gitbot manages,
compare with gitbot's state and its own last commit, and name the person's commit.

Called by the reconciler's `tick` after a pending change is finished and before observe/decide.
`check_drift` returns a `Decision` to record and act on instead of deciding (halt, manual
rollback, rollback, or the one-time "resuming" notice), or None to tick normally. The policy and
the texts are pure (`gitbot.core.drift*`); this module only reads the working copy and `git log`.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from gitbot.adapters.flux_editor import editor_for
from gitbot.adapters.flux_specs import FluxSpecs
from gitbot.adapters.git import CommitInfo, GitWorkspace
from gitbot.adapters.git_changes import Change
from gitbot.adapters.manifest_merge import plain
from gitbot.adapters.manifests import ManifestEditor
from gitbot.adapters.yamlio import YamlFile
from gitbot.core.drift import Declared, Drift, Expected, Field, PersonCommit, assess
from gitbot.core.drift_decide import drift_decision, resumed_decision
from gitbot.core.helm_scale import scaled_replicas
from gitbot.core.spec import Canary
from gitbot.core.state import ACTIVE_PHASES, Decision, RolloutState, Traffic
from gitbot.history import CLUSTER_TRAILER, find_step, last_gitbot_commit, trailer

log = logging.getLogger("gitbot.drift")

#: Which managed object's file names the culprit of a finding.
_FILE_OF = {Field.ROUTES: "vs", Field.WEIGHTS: "vs", Field.REPLICAS: "target",
            Field.TEMPLATE: "primary"}


def check_drift(
    workspace: GitWorkspace, canary: Canary, state: RolloutState, history: list[CommitInfo],
    now: datetime, flux: FluxSpecs | None = None,
    editor: Callable[[], ManifestEditor] | None = None,
) -> Decision | None:
    """The drift decision for this tick, or None (see the module docstring). In a Flux
    repository the canary's replicas are read from the rendered target (a patch of the Flux
    Kustomization may hold them), the rest from the files gitbot writes. `editor` gives the
    reconciler's shared picture of the working copy (a fresh read when not given)."""
    return DriftWatch(workspace, flux, editor).check(canary, state, history, now)


class DriftWatch:
    """Reads the declared values and the people's commits for one workspace."""

    def __init__(self, workspace: GitWorkspace, flux: FluxSpecs | None = None,
                 editor: Callable[[], ManifestEditor] | None = None) -> None:
        self.ws = workspace
        self.flux = flux
        self.editor = editor or (lambda: editor_for(workspace.root, flux))

    def _canary_replicas(self, editor: ManifestEditor, canary: Canary) -> int | None:
        if self.flux is None:
            return editor.get_replicas(canary.namespace, canary.target.name)
        helm = self.flux.helm_target(canary)
        if helm is not None:  # gitbot's scaling entry on the rendered HelmRelease
            return scaled_replicas(helm.release.release, helm.resolution.options.replicas_path)
        target = self.flux.target(canary)
        replicas = (target.obj.get("spec") or {}).get("replicas") if target is not None else None
        return replicas if isinstance(replicas, int) else None

    def check(
        self, canary: Canary, state: RolloutState, history: list[CommitInfo], now: datetime
    ) -> Decision | None:
        if canary.suspend or state.pending is not None:
            return None
        if state.phase not in ACTIVE_PHASES:
            return resumed_decision(canary, state, now)
        found = self.find(canary, state, history)
        if found is None:
            return resumed_decision(canary, state, now)
        drift, declared = found
        return drift_decision(canary, state, drift, declared, now)

    def find(
        self, canary: Canary, state: RolloutState, history: list[CommitInfo]
    ) -> tuple[Drift, Traffic | None] | None:
        """The drift between `state` and what the branch declares (with the person's commit
        that caused it, and the declared traffic), or None. Pull-request mode calls it with
        the state as merged (`gitbot.core.pr_supersede.merged_view`) while a step PR waits."""
        editor = self.editor()  # this cluster's files only (the shared picture)
        files = _managed_files(editor, canary)
        since, people = self._people(canary, history, list(files.values()))
        declared = Declared(
            traffic=editor.get_traffic(canary),
            canary_replicas=self._canary_replicas(editor, canary),
            primary_template=_digest(_primary_template(editor, canary)),
        )
        expected = Expected(
            traffic=state.traffic,
            primary_template=self._template_at(since, files.get("primary"), people, canary,
                                               declared.primary_template),
            own_commit_on_branch=find_step(history, canary.key, state.step) is not None,
            step=state.step,
        )
        found = assess(state.phase, expected, declared)
        if found is None:
            if not expected.own_commit_on_branch:
                log.info("%s: gitbot's step %d commit is not on the branch, but the branch "
                         "declares what it expects", canary.key, state.step)
            return None
        culprit = self._culprit(found, files, people)
        return Drift(found.action, found.findings, culprit), declared.traffic

    def person_commit(self, canary: Canary, history: list[CommitInfo]) -> PersonCommit | None:
        """The newest commit by a person since gitbot's last one: one touching a file gitbot
        manages for `canary` when there is such, else any (None when there is none)."""
        files = list(_managed_files(self.editor(), canary).values())
        for paths in (files, []):
            _since, people = self._people(canary, history, paths)
            if people:
                return PersonCommit(people[0].sha, people[0].author, people[0].subject)
        return None

    def _people(self, canary: Canary, history: list[CommitInfo], paths: list[str]
                ) -> tuple[str, list[Change]]:
        last = last_gitbot_commit(history, canary.key)
        since = last.sha if last is not None else ""
        ours = {c.sha for c in history  # gitbot's, for this cluster or another one
                if trailer(c, "Gitbot-Canary") or trailer(c, CLUSTER_TRAILER)}
        if last is not None and _only_gitbot_since(history, last, ours):
            return since, []  # a busy pass: every newer commit is gitbot's, git is not asked
        return since, [c for c in self.ws.changes(since, paths) if c.sha not in ours]

    def _template_at(self, since: str, path: str | None, people: list[Change], canary: Canary,
                     current: str) -> str:
        """The primary template's digest at gitbot's last commit; read only when a person's
        commit touched its file since (otherwise it is the current one)."""
        if not since or path is None or not any(path in c.files for c in people):
            return current
        content = self.ws.file_at(since, path)
        if content is None:
            return ""
        return _digest(_template_in(content, path, canary.primary_name))

    def _culprit(self, drift: Drift, files: dict[str, str], people: list[Change]
                 ) -> PersonCommit | None:
        """The newest person's commit that touched the file of the first finding that has one,
        else of any managed file, else the branch head."""
        for finding in drift.findings:
            path = files.get(_FILE_OF.get(finding.field, ""), "")
            hit = next((c for c in people if path and path in c.files), None)
            if hit is not None:
                return PersonCommit(hit.sha, hit.author, hit.subject)
        if people:
            return PersonCommit(people[0].sha, people[0].author, people[0].subject)
        head = self.ws.changes("", [], max_count=1)
        return PersonCommit(head[0].sha, head[0].author, head[0].subject) if head else None


def _only_gitbot_since(history: list[CommitInfo], last: CommitInfo, ours: set[str]) -> bool:
    """True when `last` is in `history` and every commit newer than it is gitbot's."""
    at = next((i for i, c in enumerate(history) if c.sha == last.sha), None)
    return at is not None and all(c.sha in ours for c in history[:at])


def _managed_files(editor: ManifestEditor, canary: Canary) -> dict[str, str]:
    """Repository paths of the VirtualService, the target and the primary (those found)."""
    wanted = {
        "vs": ("VirtualService", canary.service_name),
        "target": ("Deployment", canary.target.name),
        "primary": ("Deployment", canary.primary_name),
    }
    files = {}
    for role, (kind, name) in wanted.items():
        ref = editor.find(kind, canary.namespace, name)
        if ref is not None:
            files[role] = ref.path
    return files


def _primary_template(editor: ManifestEditor, canary: Canary) -> Any:
    primary = editor.get("Deployment", canary.namespace, canary.primary_name) or {}
    return (primary.get("spec") or {}).get("template")


def _template_in(content: str, path: str, name: str) -> Any:
    """The pod template of Deployment `name` in a file's content (None when absent)."""
    for doc in YamlFile(Path(path), path, content).documents:
        data = plain(doc.data)
        if (isinstance(data, dict) and data.get("kind") == "Deployment"
                and (data.get("metadata") or {}).get("name") == name):
            return (data.get("spec") or {}).get("template")
    return None


def _digest(template: Any) -> str:
    if template is None:
        return ""
    blob = json.dumps(template, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
