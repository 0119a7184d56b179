"""The Git workspace: one persistent clone of the GitOps repository that gitbot commits to.

The reconciler and the CLI create one `GitWorkspace` per repository and call `sync` at the start of
each pass, then `commit` + `push` (or `revert` + `push` to roll back), `log` to read its own
trailers back, and `read_branch_file` / `write_branch_file` for its state on a side branch.

Threading: GitPython is not thread-safe. One workspace belongs to one thread; serialise all calls
(the daemon runs all git work for a repository on one worker). The working directory belongs to the
workspace alone: `sync` throws away anything in it that is not on the remote branch.

Writes go through the `git` CLI (GitPython's `Git.execute`) with `kill_after_timeout`; nothing uses
GitPython's object database, so no persistent `git cat-file` processes are started. Pushes are
never forced: a rejected push is rebased onto the remote branch and retried a bounded number of
times; a real conflict raises `GitConflictError`.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from git import Repo
from git.cmd import Git
from git.exc import InvalidGitRepositoryError, NoSuchPathError
from git.refs.symbolic import SymbolicReference

from gitbot.adapters import git_branches, git_changes, git_fast, git_objects, git_ops
from gitbot.adapters.git_credentials import (
    Credentials,
    SshIdentity,
    check_url,
    read_token,
    require_token,
    workspace_env,
)
from gitbot.adapters.git_errors import (
    GitAuthError,
    GitConflictError,
    GitError,
    GitFailure,
    GitInputError,
    GitRejectedError,
    is_unreachable,
)
from gitbot.adapters.git_log import LOG_FORMAT, CommitInfo, Trailers, build_message, parse_log
from gitbot.adapters.git_runner import Runner

__all__ = [
    "CommitInfo",
    "Credentials",
    "GitAuthError",
    "GitConflictError",
    "GitError",
    "GitFailure",
    "GitInputError",
    "GitRejectedError",
    "GitWorkspace",
]

log = logging.getLogger("gitbot.git")

#: fetches between two `git gc --auto` (the first fetch runs it too): fetch runs without its
#: own, which would be one more git process on every pass
MAINTAIN_EVERY = 100


class GitWorkspace:
    """A persistent clone of `url` that follows `branch`; see the module docstring."""

    def __init__(
        self,
        url: str,
        branch: str,
        workdir: Path,
        *,
        author_name: str = "gitbot",
        author_email: str = "gitbot@localhost",
        credentials: Credentials | None = None,
        ssh: SshIdentity | None = None,
        push_retries: int = 5,
        timeout: float = 60,
    ) -> None:
        check_url(url)
        if ssh is not None:
            ssh.check()
        git_branches.check_branch(branch)
        self._url = url
        self._branch = branch
        self._workdir = Path(workdir).absolute()
        self._credentials = credentials
        self._push_retries = max(0, push_retries)
        self._timeout = timeout
        self._env = workspace_env(url, author_name, author_email, credentials, ssh)
        self._repo: Repo | None = None
        self._runner: Runner | None = None
        self._parsed = git_objects.Parsed()  # trees read by the in-process commits, kept
        self._fast = git_fast.FastCommits(self._git_dir, branch, self._env, self._parsed)
        self._fetches = 0

    @property
    def root(self) -> Path:
        """The working tree."""
        return self._workdir

    @property
    def branch(self) -> str:
        """The branch this workspace follows and pushes to."""
        return self._branch

    @property
    def _git_dir(self) -> Path:
        return self._workdir / ".git"

    def __enter__(self) -> GitWorkspace:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Bring the index in step with gitbot's own commits (`git_fast`: it may lag them
        between passes), then release GitPython's resources (its cat-file processes)."""
        if self._fast.owing and self._runner is not None and self._git_dir.is_dir():
            try:
                self._fast.settle(self._runner)
            except GitFailure as err:  # the next start's sync rewrites the index anyway
                log.warning("cannot update the index of %s: %s", self._workdir, err)
        self._fast.forget()
        if self._repo is not None:
            self._repo.close()
        self._repo = None
        self._runner = None
        self._fast.close()

    # --- syncing -------------------------------------------------------------------------

    def sync(self, clean: bool = False) -> str:
        """Clone if missing, fetch, and reset the working tree to origin/<branch>; return HEAD.

        Repairs a dirty, half-rebased, half-merged, detached or corrupt working copy; when the
        local repository is too damaged to reset, it is cloned again. `clean`: the caller
        knows the working copy is clean at its last synced or pushed head (the reconciler after
        a pass without errors); when the remote has not moved, nothing is reset.
        """
        if clean and self._runner is not None and self._git_dir.is_dir():
            head = self._fetched_head(self._runner)
            if head is not None:
                return head
        try:
            return self._sync_once()
        except _LocalDamageError as damage:
            log.warning("working copy %s is damaged (%s); cloning again", self._workdir, damage)
            self._reclone()
            return self._sync_once()

    def _sync_once(self) -> str:
        run = self._open()
        git_ops.clear_operation_state(self._git_dir)
        self._fetch(run)
        origin = self._origin_ref()
        if not run.run("rev-parse", "--verify", "--quiet", origin, check=False).ok:
            raise GitError(f"branch {self._branch} does not exist on the remote")
        self._fast.forget()  # the index is rewritten from the tree: nothing is owed
        try:
            run.run("checkout", "-q", "-f", "-B", self._branch, origin)
            run.run("reset", "-q", "--hard", origin)
            run.run("clean", "-q", "-ffdx")
            head = run.text("rev-parse", "HEAD")
        except GitFailure as exc:
            raise _LocalDamageError(str(exc)) from exc
        log.debug("synced %s to %s", self._branch, head)
        return head

    def _fetched_head(self, run: Runner) -> str | None:
        """Fetch; HEAD when it is where the remote's branch is, else None (reset needed)."""
        try:
            self._fetch(run)
        except _LocalDamageError:
            return None
        head, origin = self.head(), self.ref(self._origin_ref())
        return head if head and head == origin else None

    def ref(self, name: str) -> str | None:
        """The sha a ref points to (read from the ref files when it can), None when absent."""
        if self._repo is not None:
            try:
                sha = SymbolicReference.dereference_recursive(self._repo, name)
                if len(sha) == 40:
                    return sha
            except (ValueError, OSError):
                pass
        result = self._run().run("rev-parse", "--verify", "--quiet", f"{name}^{{commit}}",
                                 check=False)
        return result.out.strip() if result.ok else None

    def _open(self) -> Runner:
        if self._runner is not None and (self._workdir / ".git").is_dir():
            return self._runner
        self.close()
        if not (self._workdir / ".git").is_dir():
            self._clone()
        try:
            self._repo = Repo(str(self._workdir))
            self._runner = self._make_runner(self._repo.git)
            self._runner.text("rev-parse", "--git-dir")
            self._ensure_remote(self._runner)
        except (InvalidGitRepositoryError, NoSuchPathError, GitFailure) as exc:
            log.warning("cannot open %s (%s); cloning again", self._workdir, type(exc).__name__)
            self._reclone()
            self._repo = Repo(str(self._workdir))
            self._runner = self._make_runner(self._repo.git)
        return self._runner

    def _make_runner(self, git: Git) -> Runner:
        runner = Runner(git, self._env, self._timeout, self._secrets)
        runner.before = lambda args, env: self._fast.before(runner, args, env)
        return runner

    def _secrets(self) -> list[str]:
        token = read_token(self._credentials)
        return [token] if token else []

    def _clone(self) -> None:
        require_token(self._credentials)
        tmp = self._workdir.with_name(self._workdir.name + ".gitbot-clone")
        shutil.rmtree(tmp, ignore_errors=True)
        self._workdir.parent.mkdir(parents=True, exist_ok=True)
        runner = self._make_runner(Git(str(self._workdir.parent)))
        result = runner.run("clone", "-q", "--no-checkout", "--", self._url, str(tmp), check=False)
        if not result.ok:
            shutil.rmtree(tmp, ignore_errors=True)
            raise runner.failure(("clone",), result)
        shutil.rmtree(self._workdir, ignore_errors=True)
        tmp.rename(self._workdir)
        log.info("cloned %s into %s", runner.clean_text(self._url), self._workdir)

    def _reclone(self) -> None:
        self.close()
        shutil.rmtree(self._workdir, ignore_errors=True)
        self._clone()

    def _ensure_remote(self, run: Runner) -> None:
        current = run.run("config", "--get", "remote.origin.url", check=False).out.strip()
        if current != self._url:
            run.run("remote", "remove", "origin", check=False)
            run.run("remote", "add", "origin", self._url)

    def _fetch(self, run: Runner) -> None:
        require_token(self._credentials)
        # `--no-auto-gc` (the older name of --no-auto-maintenance, known to git since 2.23):
        # the housekeeping runs every MAINTAIN_EVERY fetches instead, as scheduled
        # maintenance would (gitbot's own commits are written without `git commit`, which
        # runs it after each commit)
        result = run.run("fetch", "-q", "--prune", "--no-auto-gc", "origin",
                         "+refs/heads/*:refs/remotes/origin/*", check=False)
        if result.ok:
            if self._fetches % MAINTAIN_EVERY == 0:
                self._maintain(run)
            self._fetches += 1
            return
        error = run.failure(("fetch",), result)
        if isinstance(error, GitAuthError) or is_unreachable(result.err):
            raise error
        raise _LocalDamageError(str(error))

    def _maintain(self, run: Runner) -> None:
        """`git gc --auto` (packs loose objects and packs once git's thresholds are reached;
        in the foreground: `gc.autoDetach=false`): a failure only warns."""
        result = run.run("gc", "--auto", "--quiet", check=False)
        if not result.ok:
            log.warning("git gc failed in %s: %s", self._workdir,
                        run.clean_text(result.err.strip() or result.out.strip()))

    def _origin_ref(self) -> str:
        return f"refs/remotes/origin/{self._branch}"

    def _run(self) -> Runner:
        """The runner, opening the existing clone as it is (no reset); clone + sync if none."""
        if self._runner is not None and self._git_dir.is_dir():
            return self._runner
        if self._git_dir.is_dir():
            return self._open()
        self.sync()
        assert self._runner is not None
        return self._runner

    # --- reading ---------------------------------------------------------------------------

    def head(self) -> str:
        """The sha of HEAD (read from the ref files, without a git process, when it can)."""
        run = self._run()
        if self._repo is not None:
            try:
                sha = SymbolicReference.dereference_recursive(self._repo, "HEAD")
            except (ValueError, OSError):
                sha = ""
            if len(sha) == 40:
                return sha
        return run.text("rev-parse", "HEAD")

    def is_dirty(self) -> bool:
        """True when the working tree or index differ from HEAD (untracked files count)."""
        return bool(self._run().text("status", "--porcelain", "--untracked-files=all"))

    def has_commit(self, sha: str) -> bool:
        """True when `sha` names a commit present in the local repository."""
        if not sha or sha.startswith("-"):
            return False
        return self._run().run("cat-file", "-e", f"{sha}^{{commit}}", check=False).ok

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        """True when `ancestor` is reachable from `descendant` (a commit is its own ancestor)."""
        if not (self.has_commit(ancestor) and self.has_commit(descendant)):
            return False
        run = self._run()
        return run.run("merge-base", "--is-ancestor", ancestor, descendant, check=False).ok

    def log(self, max_count: int = 200, since_sha: str | None = None,
            known: bool = False) -> list[CommitInfo]:
        """Commits on the branch, newest first, with parsed trailers.

        With `since_sha`, only commits after it (exclusive); an unknown `since_sha` is ignored
        (`known`: the caller knows it is a local commit, it is not checked).
        """
        run = self._run()
        made = self._made_since(since_sha, max_count) if since_sha and known else None
        if made is not None:
            return made
        target = f"refs/heads/{self._branch}"
        if since_sha and (known or self.has_commit(since_sha)):
            target = f"{since_sha}..{target}"
        out = run.run(
            "log", f"--max-count={max(0, max_count)}", f"--format={LOG_FORMAT}", target, "--"
        ).out
        return parse_log(out)

    def _made_since(self, since_sha: str, max_count: int) -> list[CommitInfo] | None:
        """The commits after `since_sha` when this workspace wrote every one of them itself
        (`_commit_paths` keeps what `git log` would say of them); None otherwise."""
        found: list[CommitInfo] = []
        sha = self.head()
        while sha != since_sha:
            info = self._fast.made.get(sha)
            if info is None or len(info.parents) != 1:
                return None
            found.append(info)
            sha = info.parents[0]
        return found[:max(0, max_count)]

    def ancestors(self, sha: str) -> frozenset[str]:
        """Every commit reachable from `sha`, itself included (empty when it is unknown):
        one process however long the history, for many `is_ancestor` questions at once."""
        if not sha or sha.startswith("-"):
            return frozenset()
        result = self._run().run("rev-list", sha, "--", check=False)
        return frozenset(result.out.split()) if result.ok else frozenset()

    def changed_paths(self, old: str, new: str) -> list[str] | None:
        """Paths that differ between commits `old` and `new` (renames as delete + add);
        None when either commit is unknown (the caller re-reads everything)."""
        if not old or not new or old.startswith("-") or new.startswith("-"):
            return None
        result = self._run().run("diff", "--name-only", "--no-renames", "-z", old, new, "--",
                                 check=False, strip=False)
        return [p for p in result.out.split("\0") if p] if result.ok else None

    def changes(
        self, since_sha: str, paths: Sequence[str], max_count: int = 50
    ) -> list[git_changes.Change]:
        """Commits on the branch after `since_sha` (all when "" or unknown) touching `paths`
        (any file when empty), newest first, with author and touched files (used to name who
        changed what)."""
        since = since_sha if since_sha and self.has_commit(since_sha) else ""
        return git_changes.changes(
            self._run(), f"refs/heads/{self._branch}", since, paths, max_count
        )

    def file_at(self, sha: str, path: str) -> str | None:
        """The content of `path` in commit `sha`; None when the commit or file is absent."""
        if not self.has_commit(sha):
            return None
        return git_changes.file_at(self._run(), sha, path)

    # --- writing ---------------------------------------------------------------------------

    def commit(self, subject: str, body: str = "", trailers: Trailers = (),
               paths: Sequence[str] | None = None) -> str | None:
        """Stage every change (new and deleted files too) and commit; None when nothing changed.
        `paths`: only these files changed (git then need not look for untracked files)."""
        message = build_message(subject, body, trailers)
        run = self._run()
        if paths:
            fast = self._commit_paths(run, paths, message)
            if fast is not False:
                return fast if isinstance(fast, str) else None
        run.run("add", "-A", "--", *(paths if paths is not None else ["."]))
        result = run.run("commit", "-q", "--cleanup=whitespace", "-m", message, check=False)
        if not result.ok:
            if run.run("diff", "--cached", "--quiet", check=False).ok:
                return None  # nothing staged: `git commit` refused an empty commit
            raise run.failure(("commit",), result)
        return self._committed(run, message)

    def _commit_paths(self, run: Runner, paths: Sequence[str], message: str) -> str | bool | None:
        """`commit` of the named files without `git add`/`git commit` (`git_fast`): the
        commit's sha, None when nothing changed, False when the fast path does not apply."""
        if self._repo is None:
            return False
        sha = self._fast.commit(run, self.head(), paths, message)
        return self._committed(run, message) if isinstance(sha, str) else sha

    @contextmanager
    def deferred_index(self) -> Iterator[None]:
        """Commits of named files within the block update the index once, before the next git
        command that needs it (or when the workspace closes): see `gitbot.adapters.git_fast`."""
        self._run()
        with self._fast.deferred():
            yield

    def _commit_staged(self, run: Runner, message: str) -> str:
        run.run("commit", "-q", "--cleanup=whitespace", "-m", message)
        return self._committed(run, message)

    def _committed(self, run: Runner, message: str) -> str:
        sha = self.head()
        log.info("committed %s on %s: %s", sha[:12], self._branch, message.splitlines()[0])
        return sha

    def push(self) -> str:
        """Push HEAD to the branch; rebase and retry when someone pushed first; return the sha."""
        run = self._run()
        require_token(self._credentials)
        for attempt in range(self._push_retries + 1):
            result = run.run(
                "push", "--porcelain", "origin", f"HEAD:refs/heads/{self._branch}", check=False
            )
            if result.ok:
                sha = self.head()
                log.info("pushed %s to %s (attempt %d)", sha[:12], self._branch, attempt + 1)
                return sha
            git_branches.raise_unless_stale(run, result)
            log.info("push to %s rejected, someone pushed first; rebasing", self._branch)
            self._fetch(run)
            git_ops.rebase(run, self._git_dir, self._branch, self._origin_ref())
        raise GitError(
            f"push to {self._branch} still rejected after {self._push_retries + 1} attempts"
        )

    def push_with_branch(
        self, branch: str, files: dict[str, str], subject: str,
        guard: git_branches.Guard | None = None,
    ) -> str:
        """Push HEAD to the branch and `files` as one commit on the side `branch` in ONE atomic
        push: both land or neither does. A lost race rebases HEAD and rebuilds the side commit
        on the new remote heads, then retries; returns HEAD's sha. Raises
        `AtomicPushUnsupportedError` when the remote cannot push atomically."""
        self._check_side_branch(branch)
        run = self._run()
        require_token(self._credentials)
        writer = git_branches.BranchWriter(run, self._git_dir, branch, self._parsed)
        message = build_message(subject)
        head = self.head()
        for attempt in range(self._push_retries + 1):
            known = self.ref(f"refs/remotes/origin/{branch}") if not attempt else None
            _parent, side = writer.prepare(files, message, guard, fetch=attempt > 0,
                                           known=known)
            refs = [f"HEAD:refs/heads/{self._branch}"]
            refs += [f"{side}:refs/heads/{branch}"] if side else []
            result = run.run("push", "--porcelain", "--atomic", "origin", *refs, check=False)
            if result.ok:  # git updated both remote-tracking refs
                if side:
                    writer.log_written(files, side)
                sha = run.text("rev-parse", "HEAD") if attempt else head
                log.info("pushed %s to %s (attempt %d)", sha[:12], self._branch, attempt + 1)
                return sha
            if "atomic" in result.err and "support" in result.err:
                raise AtomicPushUnsupportedError(run.clean_text(result.err.strip()))
            git_branches.raise_unless_stale(run, result)
            log.info("atomic push to %s and %s rejected, someone pushed first; rebasing",
                     self._branch, branch)
            self._fetch(run)
            git_ops.rebase(run, self._git_dir, self._branch, self._origin_ref())
        raise GitError(
            f"push to {self._branch} still rejected after {self._push_retries + 1} attempts"
        )

    def revert(
        self, shas: Sequence[str], subject: str, body: str = "", trailers: Trailers = ()
    ) -> str | None:
        """One commit undoing all `shas` (newest first; merges against their first parent).

        A conflict aborts the revert, leaves HEAD clean and raises `GitConflictError`; returns
        None when the reverts together change nothing.
        """
        message = build_message(subject, body, trailers)
        run = self._run()
        git_ops.revert_into_index(run, self._git_dir, self._branch, shas)
        if run.run("diff", "--cached", "--quiet", check=False).ok:
            git_ops.reset_to(run, self._git_dir, self._branch, "HEAD")
            return None
        return self._commit_staged(run, message)

    # --- the side branch -------------------------------------------------------------------

    def read_branch_file(self, branch: str, path: str) -> str | None:
        """The file on origin/<branch> after a fetch; None when the branch or file is absent."""
        self._check_side_branch(branch)
        require_token(self._credentials)
        return git_branches.read_file(self._run(), branch, path)

    def write_branch_file(self, branch: str, path: str, content: str, subject: str) -> str:
        """Commit `content` at `path` on the side `branch` without touching the working tree.

        Creates an orphan branch on first use; no commit when the content is unchanged; a
        rejected push is re-applied on the new remote head (bounded by `push_retries`).
        """
        self._check_side_branch(branch)
        require_token(self._credentials)
        message = build_message(subject)
        writer = git_branches.BranchWriter(self._run(), self._git_dir, branch, self._parsed)
        return writer.write(path, content, message, self._push_retries)

    def read_branch_files(self, branch: str, fetch: bool = True) -> tuple[str | None,
                                                                           dict[str, str]]:
        """(head, every file) of origin/<branch> (path -> text), after a fetch unless the
        caller just fetched every branch (`sync`); (None, {}) when the branch is absent."""
        self._check_side_branch(branch)
        require_token(self._credentials)
        run = self._run()
        head = git_branches.fetch_branch(run, branch) if fetch else \
            self.ref(f"refs/remotes/origin/{branch}")
        return head, git_branches.read_all(run, self._git_dir, head) if head else {}

    def write_branch_files(
        self, branch: str, files: dict[str, str], subject: str,
        guard: git_branches.Guard | None = None,
    ) -> str:
        """`write_branch_file(_guarded)` for several files at once: one commit, one push."""
        self._check_side_branch(branch)
        require_token(self._credentials)
        writer = git_branches.BranchWriter(self._run(), self._git_dir, branch, self._parsed)
        return writer.write_files(files, build_message(subject), self._push_retries, guard)

    def discard_changes(self, to: str = "HEAD") -> None:
        """Drop uncommitted changes and the local commits after `to` (earlier ones stay)."""
        git_ops.reset_to(self._run(), self._git_dir, self._branch, to)

    def read_branch_file_versioned(
        self, branch: str, path: str
    ) -> tuple[str | None, str | None]:
        """(head sha of the side `branch`, content of `path` there); None for what is absent."""
        self._check_side_branch(branch)
        require_token(self._credentials)
        return git_branches.read_versioned(self._run(), branch, path)

    def swap_branch_file(
        self, branch: str, path: str, content: str, subject: str, expected: str | None
    ) -> str | None:
        """Compare-and-swap on a side branch: commit onto `expected` and push once; the new
        head, or None when the remote branch moved (nothing is retried or re-applied)."""
        self._check_side_branch(branch)
        require_token(self._credentials)
        writer = git_branches.BranchWriter(self._run(), self._git_dir, branch, self._parsed)
        return writer.swap(path, content, build_message(subject), expected)

    def write_branch_file_guarded(
        self, branch: str, path: str, content: str, subject: str, guard: git_branches.Guard
    ) -> str:
        """`write_branch_file`, refused by `guard` (which raises) on the commit it builds on."""
        self._check_side_branch(branch)
        require_token(self._credentials)
        writer = git_branches.BranchWriter(self._run(), self._git_dir, branch, self._parsed)
        return writer.write(path, content, build_message(subject), self._push_retries, guard)

    def _check_side_branch(self, branch: str) -> None:
        git_branches.check_branch(branch)
        if branch == self._branch:
            raise GitInputError(f"{branch} is the working branch, not a side branch")


class AtomicPushUnsupportedError(GitError):
    """The remote does not support `git push --atomic`."""


class _LocalDamageError(Exception):
    """The local repository cannot be reset; sync clones it again."""
