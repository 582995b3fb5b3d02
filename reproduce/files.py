"""File helpers shared by every stage: the repository's paths, output checks made before the
work starts (the one rule that keeps outputs apart from inputs), atomic writes and checksums."""
import contextlib
import errno
import hashlib
import json
import os
import pathlib
import re
import tempfile
from collections.abc import Iterator, Mapping, Sequence

from reproduce.errors import ReproduceError, WriteError

ROOT = pathlib.Path(__file__).resolve().parents[1]  # the repository: data/, models/, results/
PathLike = str | os.PathLike[str]  # a path the caller gives


def check_writable_folder(folder: PathLike, flag: str) -> None:
    """Fail now, in one line naming `flag`, unless `folder` is (or can be made as) a writable
    folder: its nearest existing ancestor must be a folder this process can write into."""
    folder = pathlib.Path(folder).resolve()
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    if not existing.is_dir():
        raise ReproduceError(f"{flag} {folder}: {existing} is a file, not a folder")
    try:  # a real write: permission bits say nothing for root, or on read-only file systems
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".write-check.")
        os.close(fd)
        os.remove(probe)
    except OSError as e:
        raise ReproduceError(f"{flag} {folder}: cannot write in {existing} "
                             f"({e.strerror or e})") from None


def check_output_file(path: PathLike, flag: str, suffixes: Sequence[str] | None = None) -> None:
    """Fail now, in one line naming `flag`, if `path` could not be written later: an existing
    folder, a suffix outside `suffixes` (when given), or a parent that is not a writable folder."""
    path = pathlib.Path(path)
    if path.is_dir():
        raise ReproduceError(f"{flag} {path}: is a folder; give a file name")
    if suffixes is not None and path.suffix.lower() not in suffixes:
        raise ReproduceError(f"{flag} {path}: the suffix must be one of {', '.join(suffixes)}")
    check_writable_folder(path.parent, flag)


def check_apart(outputs: Mapping[str, PathLike], inputs: Mapping[str, PathLike]) -> None:
    """The one rule for what a program writes: no output may be an input, or another output,
    once links are followed (the real paths are compared). One line naming both otherwise.
    `outputs` and `inputs` map what the user calls each file (a flag) to its path."""
    seen = {os.path.realpath(path): f"the input {name}" for name, path in inputs.items()}
    for name, path in outputs.items():
        real = os.path.realpath(path)
        if real in seen:
            link = "" if real == os.path.abspath(path) else f" (through a link: {real})"
            raise ReproduceError(f"{name} {path} would overwrite {seen[real]}{link}")
        seen[real] = f"the output {name}"


WRITE_CAUSES = {errno.ENOSPC: "no space left on the device", errno.EROFS: "a read-only file system",
                errno.EDQUOT: "the disk quota is exceeded", errno.EACCES: "permission denied",
                errno.EPERM: "not permitted", errno.EISDIR: "a folder is in the way",
                errno.EFBIG: "the file is too large"}


def write_error(path: PathLike, error: OSError) -> WriteError:
    """The WriteError of an OSError met writing `path`."""
    cause = WRITE_CAUSES.get(error.errno or 0) or error.strerror or str(error)
    return WriteError(f"{path}: cannot write ({cause}); nothing was written under this name")


def file_mode() -> int:
    """The mode a new file gets as open() would make it: 0o666 less this process's umask."""
    umask = os.umask(0o022)  # os.umask both sets and returns: read it, then put it back
    os.umask(umask)
    return 0o666 & ~umask


def _temporary_name(path: PathLike) -> tuple[str, str, str]:
    """(folder, prefix, suffix) of atomic_path's temporaries for `path`: .NAME.PID.XXXXXXXX.SUFFIX
    beside it, PID the writer's (mkstemp fills in the 8 characters; writers such as imageio read
    the suffix)."""
    folder, name = os.path.split(os.path.abspath(path))
    return folder, f".{name}.{os.getpid()}.", os.path.splitext(name)[1]


@contextlib.contextmanager
def writing(path: PathLike) -> Iterator[None]:
    """An OSError in the block is a WriteError naming `path`."""
    try:
        yield
    except OSError as e:
        raise write_error(path, e) from None


@contextlib.contextmanager
def atomic_paths(paths: Sequence[PathLike]) -> Iterator[list[str]]:
    """atomic_path for several files that make one set: every temporary is written before any is
    renamed into place, so a write error leaves none of them. The block writes each temporary
    within `writing(its path)`, so that an error names the file it is about."""
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(atomic_path(path)) for path in paths]
        # leaving the stack renames them, the last first: all were written by then


@contextlib.contextmanager
def atomic_path(path: PathLike) -> Iterator[str]:
    """Yield a temporary path beside `path`; rename it into place only if the block succeeds,
    so an interrupted write never leaves a half-written file under the final name. The
    temporary is created exclusively (never through a link), gets the mode the umask gives,
    and an OSError while writing or renaming is a WriteError naming `path`."""
    path = os.fspath(path)
    directory, prefix, suffix = _temporary_name(path)
    try:
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=prefix, suffix=suffix)  # O_EXCL
        os.close(fd)
    except OSError as e:
        raise write_error(path, e) from None
    try:
        yield tmp
        os.chmod(tmp, file_mode())  # mkstemp creates files readable by the owner alone
        os.replace(tmp, path)
    except OSError as e:
        raise write_error(path, e) from None
    finally:
        if os.path.lexists(tmp):
            os.remove(tmp)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale_temporaries(path: PathLike) -> None:
    """Remove the temporaries of `path` that a killed atomic_path write left behind: those of a
    process that no longer runs (a writer still at work keeps its own), and the PID-less ones of
    earlier versions. Links and folders are left alone."""
    folder, prefix, suffix = _temporary_name(path)
    name = os.path.basename(os.path.abspath(path))
    ours = re.compile(rf"\.{re.escape(name)}\.(\d+)\.[A-Za-z0-9_]{{8}}{re.escape(suffix)}")
    old = re.compile(rf"\.{re.escape(name)}\.[A-Za-z0-9_]{{8}}{re.escape(suffix)}")
    try:
        entries = os.scandir(folder)
    except OSError:
        return
    with entries:
        for entry in entries:
            match = ours.fullmatch(entry.name)
            stale = (match is not None and not _alive(int(match.group(1)))) or \
                old.fullmatch(entry.name) is not None
            if stale and entry.is_file(follow_symlinks=False):
                os.remove(entry.path)


def dump_json(path: PathLike, obj: object) -> None:
    """Write `obj` as indented, strict JSON (any reader takes it: no NaN or infinity)."""
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, allow_nan=False)
        f.write("\n")


def write_json(path: PathLike, obj: object) -> None:
    """dump_json, atomically."""
    with atomic_path(path) as tmp:
        dump_json(tmp, obj)


def file_digest(path: PathLike, algorithm: str = "sha256", chunk: int = 1 << 22) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
