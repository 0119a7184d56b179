"""Every read and write of repository files: regular files inside the working copy only.

Used by `gitbot.adapters.spec_documents` `manifest_index` and `yamlio` (the manifest
editor) and `bootstrap`/`configs` (generated files). Whoever can push to the repository decides
its symlinks, FIFOs and sizes, so:

- `repo_files` walks the tree without entering symlinked directories (nor `.git`), and without
  recursion (`walk`: a tree nested thousands of directories deep is still walked);
- `read_text` reads a file only when its resolved path is inside the resolved root (a symlink
  inside -> inside is followed; inside -> outside and dangling ones are refused) and it is a
  regular file (stat before open: a FIFO or device is never opened), of at most `MAX_BYTES`
  (counted while reading too). The final open walks the resolved path one directory at a
  time with O_NOFOLLOW|O_NONBLOCK and checks the result with fstat, so a path swapped between
  the checks and the open cannot escape either;
- `write_text` writes only regular files inside the root: never through a symlink (file or
  directory), never to a path outside the root or in `.git`, and atomically (a temporary file
  in the same directory, then os.replace), so a killed process never leaves half a file.
  There is no fsync: every file written is in the working copy, whose durable record is
  the commit (and, once pushed, the remote); a fresh process never trusts the working copy
  (its first `sync` resets it to the remote), so a file lost with the machine's power costs
  nothing but the unpushed step, which the next pass decides again (issue 13: an fsync per
  file was most of a 1,000-canary pass' wall time on a busy disk).

A refusal is a `FileRefusedError` naming the repository-relative path and the reason.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from gitbot.errors import InvalidInputError

MAX_BYTES = 4 * 1024 * 1024
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class FileRefusedError(InvalidInputError):
    """A repository file gitbot will not read or write; `rel` and `reason` say which and why."""

    def __init__(self, rel: str, reason: str) -> None:
        super().__init__(f"{rel}: {reason}")
        self.rel = rel
        self.reason = reason


def walk(root: Path | str) -> Iterator[tuple[str, list[str], list[str]]]:
    """`os.walk(root)` (top-down, symlinked directories listed but not entered) without
    recursion: Python 3.11's os.walk recurses, so a repository nesting directories 1,000 deep
    would raise RecursionError. The caller may prune `dirnames` in place, as with os.walk."""
    stack = [os.fspath(root)]
    while stack:
        top = stack.pop()
        try:
            with os.scandir(top) as scan:
                entries = list(scan)
        except OSError:
            continue
        dirs: list[str] = []
        files: list[str] = []
        for entry in entries:
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            (dirs if is_dir else files).append(entry.name)
        yield top, dirs, files
        stack += [os.path.join(top, d) for d in reversed(dirs)
                  if not os.path.islink(os.path.join(top, d))]


def make_dirs(root: Path, rel: str) -> Path:
    """Create directory `rel` under `root` one component at a time (no recursion)."""
    path = root
    for name in PurePosixPath(rel).parts:
        path = path / name
        if not path.is_dir():
            path.mkdir()
    return path


def repo_files(root: Path, suffixes: tuple[str, ...], skip_hidden: bool = False) -> list[str]:
    """Repository-relative POSIX paths of the files ending in `suffixes`, in walk order
    (a folder's files by name, then its subfolders by name).

    Symlinked directories are not entered. A file symlink whose target is another listed file
    is left out (the target is read under its own name); other symlinks stay listed, so that
    reading them reports why they are refused.
    """
    found: list[str] = []
    for folder, dirs, names in walk(root):
        dirs[:] = sorted(d for d in dirs if d != ".git" and not (skip_hidden and d[0] == "."))
        base = Path(folder).relative_to(root)
        found += [(base / n).as_posix() for n in sorted(names)
                  if n.endswith(suffixes) and not (skip_hidden and n[0] == ".")]
    listed = set(found)
    return [rel for rel in found if _link_target(root, rel) not in listed]


def _link_target(root: Path, rel: str) -> str | None:
    """The repository-relative target of a symlink that stays inside the root, else None."""
    path = root / rel
    if not path.is_symlink():
        return None
    try:
        return _inside(root, rel)
    except FileRefusedError:
        return None


def _parts(rel: str) -> list[str]:
    """The components of a relative path that must stay inside the root (and out of .git)."""
    pure = PurePosixPath(rel)
    parts = list(pure.parts)
    if not parts or pure.is_absolute() or ".." in parts:
        raise FileRefusedError(rel, "path leaves the repository")
    if ".git" in parts:
        raise FileRefusedError(rel, "path is inside .git")
    return parts


def _inside(root: Path, rel: str) -> str:
    """The resolved path of `rel`, relative to the resolved root; refused when outside."""
    _parts(rel)
    path = root / rel
    try:
        real = os.path.realpath(path, strict=True)
    except FileNotFoundError:
        if path.is_symlink():
            raise FileRefusedError(rel, f"dangling symlink (to {os.readlink(path)})") from None
        raise FileRefusedError(rel, "no such file") from None
    except OSError as err:
        raise FileRefusedError(rel, f"cannot resolve: {err.strerror}") from None
    base = os.path.realpath(root)
    if os.path.commonpath([base, real]) != base:
        if path.is_symlink():
            raise FileRefusedError(rel, f"symlink to {os.readlink(path)}, outside the repository")
        raise FileRefusedError(rel, "resolves outside the repository (a symlinked directory)")
    inside = Path(os.path.relpath(real, base)).as_posix()
    if ".git" in inside.split("/"):
        raise FileRefusedError(rel, "path is inside .git")
    return inside


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symlink")):
        if test(mode):
            return name
    return "not a regular file"


@contextlib.contextmanager
def _directory(root: Path, rel: str, dirs: list[str], create: bool = False) -> Iterator[int]:
    """A descriptor of directory `dirs` under root, opened one component at a time."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for name in dirs:
            try:
                if create and not _exists(name, fd):
                    os.mkdir(name, dir_fd=fd)
                nxt = os.open(name, _DIR_FLAGS, dir_fd=fd)
            except OSError:
                raise FileRefusedError(rel, f"directory {name} is a symlink or not a "
                                       "directory") from None
            os.close(fd)
            fd = nxt
        yield fd
    finally:
        os.close(fd)


def _exists(name: str, dir_fd: int) -> bool:
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def _human(size: int) -> str:
    mib = 1024 * 1024
    return f"{size // mib} MiB" if size and size % mib == 0 else f"{size} bytes"


def read_text(root: Path, rel: str, limit: int = MAX_BYTES) -> str:
    """The UTF-8 text of repository file `rel` (see the module docstring for what is refused)."""
    try:
        data = _read_bytes(root, rel, limit)
    except OSError as err:
        raise FileRefusedError(rel, f"cannot read: {err.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise FileRefusedError(rel, "not valid UTF-8 text") from None


def _read_bytes(root: Path, rel: str, limit: int) -> bytes:
    real = _parts(_inside(root, rel))
    with _directory(Path(os.path.realpath(root)), rel, real[:-1]) as dir_fd:
        st = os.stat(real[-1], dir_fd=dir_fd, follow_symlinks=False)
        if not stat.S_ISREG(st.st_mode):
            raise FileRefusedError(rel, f"is {_kind(st.st_mode)}, not a regular file")
        if st.st_size > limit:
            raise FileRefusedError(rel, f"is {st.st_size} bytes, over gitbot's limit of "
                                   f"{_human(limit)} per file")
        fd = os.open(real[-1], _READ_FLAGS, dir_fd=dir_fd)
    with os.fdopen(fd, "rb") as file:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise FileRefusedError(rel, "is not a regular file")
        data = file.read(limit + 1)
    if len(data) > limit:
        raise FileRefusedError(rel, f"grew over gitbot's limit of {_human(limit)} while read")
    return data


def new_file(root: Path, folder: str, name: str, why: str) -> str:
    """The repository-relative path of a file gitbot generates in `folder`, named `name`.

    Refused when `name` is not one plain file name (a target named `../../x` would otherwise
    put `../../x-primary.yaml` above the working copy) or `check_writable` refuses the path.
    """
    rel = f"{folder}/{name}" if folder else name
    if not name or "/" in name or "\\" in name or "\0" in name or name in (".", ".."):
        raise FileRefusedError(rel, f"not a plain file name; refusing to create it for {why}")
    check_writable(root, rel)
    return rel


def check_writable(root: Path, rel: str) -> None:
    """Raise FileRefusedError unless `write_text(root, rel, ...)` may write there."""
    parts = _parts(rel)
    path = root
    for name in parts[:-1]:
        path = path / name
        if path.is_symlink() or (path.exists() and not path.is_dir()):
            raise FileRefusedError(rel, f"directory {name} is a symlink or not a directory")
    _check_target(rel, path / parts[-1])


def _check_target(rel: str, path: Path) -> None:
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if stat.S_ISLNK(mode):
        raise FileRefusedError(rel, f"is a symlink (to {os.readlink(path)}); gitbot does not "
                               "write through symlinks")
    if not stat.S_ISREG(mode):
        raise FileRefusedError(rel, f"is {_kind(mode)}, not a regular file")


def write_text(root: Path, rel: str, text: str) -> None:
    """Replace (or create) regular file `rel` under root with `text`, atomically."""
    parts = _parts(rel)
    with _directory(root, rel, parts[:-1], create=True) as dir_fd:
        name = parts[-1]
        mode = None
        if _exists(name, dir_fd):
            _check_target(rel, Path(root, rel))
            mode = stat.S_IMODE(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
        temp = f".{name}.{secrets.token_hex(4)}.gitbot-tmp"
        fd = os.open(temp, _WRITE_FLAGS, 0o666, dir_fd=dir_fd)
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(text.encode("utf-8"))
                if mode is not None:
                    os.fchmod(file.fileno(), mode)
            os.replace(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp, dir_fd=dir_fd)
            raise
