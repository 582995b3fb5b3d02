"""File helpers shared by every stage: the repository's paths, output checks made before the
work starts, atomic writes and checksums."""
import contextlib
import glob
import hashlib
import json
import os
import pathlib
import re
import tempfile
from collections.abc import Iterator, Sequence

from reproduce.errors import ReproduceError

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


def _temporary_name(path: PathLike) -> tuple[str, str, str]:
    """(folder, prefix, suffix) of atomic_path's temporaries for `path`: .NAME.XXXXXXXX.SUFFIX
    beside it (mkstemp fills in the 8 characters; writers such as imageio read the suffix)."""
    folder, name = os.path.split(os.path.abspath(path))
    return folder, f".{name}.", os.path.splitext(name)[1]


@contextlib.contextmanager
def atomic_path(path: PathLike) -> Iterator[str]:
    """Yield a temporary path beside `path`; rename it into place only if the block succeeds,
    so an interrupted write never leaves a half-written file under the final name."""
    path = os.fspath(path)
    directory, prefix, suffix = _temporary_name(path)
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=prefix, suffix=suffix)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o644)  # mkstemp creates files readable by the owner alone
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def remove_stale_temporaries(path: PathLike) -> None:
    """Remove the temporaries of `path` that a killed atomic_path write left behind."""
    folder, prefix, suffix = _temporary_name(path)
    pattern = re.compile(rf"{re.escape(prefix)}[A-Za-z0-9_]{{8}}{re.escape(suffix)}")
    for stale in glob.glob(os.path.join(glob.escape(folder), f"{glob.escape(prefix)}*")):
        if pattern.fullmatch(os.path.basename(stale)) and os.path.isfile(stale):
            os.remove(stale)


def write_json(path: PathLike, obj: object) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, allow_nan=False)  # strict JSON for any reader
        f.write("\n")


def file_digest(path: PathLike, algorithm: str = "sha256", chunk: int = 1 << 22) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
