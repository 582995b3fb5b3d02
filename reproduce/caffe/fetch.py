"""Fetch the model files a manifest lists: download (resuming a partial `.part` file, trying each
of the entry's addresses in turn) or copy from a folder the user already has, verify, then rename
into place.

The manifest (models/manifest.json) gives each file's name, its addresses (mirrors, https first),
size, md5 and sha256, and for a caffemodel the layers it must hold. A value that is null is not
known and not checked (the sha256 computed is reported so it can be added); an entry that has no
checksum is accepted only if it is what it claims to be: a caffemodel that parses whole and holds
the weights of every layer named. A file already in place is verified, never fetched again.
"""
import hashlib
import json
import os
import pathlib
import shutil
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from http.client import HTTPException, HTTPResponse
from typing import Any, BinaryIO

from tqdm import tqdm

from reproduce.caffe.read import CaffeError, read_caffemodel
from reproduce.errors import ReproduceError
from reproduce.files import ROOT, PathLike, atomic_path, check_writable_folder

MODELS = ROOT / "models"
MANIFEST = MODELS / "manifest.json"
TIMEOUT = 15   # seconds to connect, and to wait for each block
CHUNK = 1 << 20
CHECKED = ("size", "md5", "sha256")
PART = ".part"  # suffix of a download in progress


class FetchError(ReproduceError):
    """A file that cannot be fetched, or that is not the file the manifest describes."""


def plain_name(name: object) -> bool:
    """A file name that stays in its folder: no separator, not hidden, not . or .."""
    return isinstance(name, str) and bool(name) and not name.startswith(".") and \
        os.path.basename(name) == name and "\\" not in name and "\0" not in name


@dataclass(frozen=True)
class Entry:
    name: str
    urls: tuple          # addresses tried in order (mirrors); https first where it exists
    size: int | None = None
    md5: str | None = None
    sha256: str | None = None
    layers: tuple = ()   # for a caffemodel: the layers whose weights it must hold
    about: str = ""

    def __post_init__(self) -> None:
        if not plain_name(self.name):
            raise FetchError(f"manifest entry {self.name!r}: not a plain file name (it may not "
                             "name a folder, start with a dot or hold a path separator)")
        object.__setattr__(self, "urls", tuple(self.urls))
        object.__setattr__(self, "layers", tuple(self.layers))
        if not self.urls:
            raise FetchError(f"manifest entry {self.name}: no address to fetch it from")
        if self.md5 is None and self.sha256 is None and not self.layers:
            raise FetchError(f"manifest entry {self.name}: nothing to verify it by "
                             "(give its md5, sha256 or, for a caffemodel, its layers)")


def read_manifest(path: PathLike = MANIFEST) -> list[Entry]:
    """The manifest's entries, in order."""
    try:
        files = json.loads(pathlib.Path(path).read_text(encoding="utf-8"))["files"]
        return [Entry(**item) for item in files]
    except FileNotFoundError:
        raise FetchError(f"{path}: no such manifest") from None
    except (ValueError, KeyError, TypeError) as e:
        if isinstance(e, FetchError):
            raise FetchError(f"{path}: {e}") from None
        raise FetchError(f"{path}: not a model manifest ({type(e).__name__}: {e})") from None


def select(entries: Sequence[Entry], names: Sequence[str]) -> list[Entry]:
    """The entries named (all when names is empty), or a FetchError naming the unknown ones."""
    known = {entry.name: entry for entry in entries}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise FetchError(f"not in the manifest: {', '.join(unknown)} (it lists {', '.join(known)})")
    return [known[name] for name in names] if names else list(entries)


def digests(path: PathLike) -> dict[str, Any]:
    """{"size", "md5", "sha256"} of a file, in one read."""
    md5, sha256 = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            md5.update(block)
            sha256.update(block)
    return dict(size=os.path.getsize(path), md5=md5.hexdigest(), sha256=sha256.hexdigest())


def missing_layers(entry: Entry, path: PathLike) -> str | None:
    """Why the file at `path` is not a whole caffemodel holding the weights of `entry.layers`,
    or None if it is."""
    try:
        model = read_caffemodel(path)
    except CaffeError as e:
        return str(e).removeprefix(f"{path}: ")
    held = {name for name, blobs in model.weights.items() if blobs}
    missing = [name for name in entry.layers if name not in held]
    if missing:
        return f"a caffemodel without weights for {', '.join(missing)} (truncated, or another net)"
    return None


def verify(entry: Entry, path: PathLike) -> tuple[dict[str, Any], list[str]]:
    """(the file's digests, what is wrong with it as the manifest's entry: [] if nothing)."""
    got = digests(path)
    wrong = [f"{key} expected {getattr(entry, key)}, got {got[key]}" for key in CHECKED
             if getattr(entry, key) is not None and getattr(entry, key) != got[key]]
    if not wrong and got["size"] == 0:
        wrong = ["an empty file"]
    if not wrong and entry.md5 is None and entry.sha256 is None:
        wrong = [why] if (why := missing_layers(entry, path)) else []
    return got, wrong


def check(entry: Entry, path: PathLike, label: PathLike, advice: str) -> dict[str, Any]:
    """The file's digests if it is the manifest's entry; else a FetchError, under `label` (the
    file's name for the user: never a temporary one), naming each expected and computed value,
    followed by `advice`."""
    got, wrong = verify(entry, path)
    if wrong:
        raise FetchError(f"{label}: not the manifest's {entry.name} ({'; '.join(wrong)}); {advice}")
    return got


def fetch(entry: Entry, dest: PathLike, source: PathLike | None = None,
          timeout: float = TIMEOUT) -> tuple[pathlib.Path, str, dict[str, Any]]:
    """Put a verified `entry` at dest/NAME: keep it if already there, else copy it from the
    folder `source`, else download it. Returns (path, what was done, its digests)."""
    final = pathlib.Path(dest) / entry.name
    if final.is_symlink():
        raise FetchError(f"{final}: a link, not the file; move it away to fetch {entry.name}")
    if final.is_file():
        return final, "present", check(entry, final, final, "move it away to fetch it again")
    if final.exists():
        raise FetchError(f"{final}: in the way, and not a file; move it away to fetch "
                         f"{entry.name}")
    part = final.with_name(final.name + PART)
    if part.is_symlink() or (part.exists() and not part.is_file()):
        raise FetchError(f"{part}: in the way (a link or a folder, not a partial download); "
                         f"remove it to fetch {entry.name}")
    check_writable_folder(dest, "dest")
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise FetchError(f"dest {dest}: cannot make the folder ({e.strerror or e})") from None
    if source is not None:
        return final, f"copied from {source}", _copy(entry, pathlib.Path(source), final)
    url, got = _download(entry, final, timeout)
    return final, f"downloaded from {url}", got


def _copy(entry: Entry, source: pathlib.Path, final: pathlib.Path) -> dict[str, Any]:
    origin = source / entry.name
    if not origin.is_file():
        raise FetchError(f"{origin}: no such file to copy (get {entry.name} from "
                         f"{entry.urls[0]})")
    with atomic_path(final) as tmp:
        try:
            shutil.copyfile(origin, tmp)
        except OSError as e:
            raise FetchError(f"cannot copy {origin} to {final.parent} ({e.strerror or e}); "
                             "nothing was copied") from None
        return check(entry, tmp, origin, "nothing was copied")


def _download(entry: Entry, final: pathlib.Path, timeout: float) -> tuple[str, dict[str, Any]]:
    """Download into NAME.part from the first address that serves it, verify, rename into place.
    Returns (the address, the digests)."""
    part = final.with_name(final.name + PART)
    failures = []
    for url in entry.urls:
        try:
            _transfer(entry, url, part, timeout)
        except _Failed as e:
            failures.append(f"{url}: {e}")
            continue
        got, wrong = verify(entry, part)
        if wrong:   # a wrong file: never resumed, never renamed into place
            part.unlink()
            failures.append(f"{url}: not the manifest's {entry.name} ({'; '.join(wrong)}), "
                            "deleted")
            continue
        os.replace(part, final)
        return url, got
    kept = part.stat().st_size if part.is_file() else 0
    resume = f"; {kept} bytes kept in {part}, a rerun resumes there" if kept else ""
    raise FetchError(f"cannot download {entry.name} ({'; '.join(failures)}){resume}. Download it "
                     f"by other means (from one of those addresses on a machine with network) and "
                     f"put it at {final}, or in any folder DIR and run scripts/fetch_models.py "
                     "--from DIR")


class _Failed(Exception):
    """One address did not deliver the file (the reason is the message); try the next."""


def _open(url: str, offset: int, timeout: float) -> HTTPResponse | None:
    """The HTTP response for the file from byte `offset` on; None if the server says that the
    partial file is already whole (416 to a range at its end)."""
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                      timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and offset and e.headers.get("Content-Range") == f"bytes */{offset}":
            return None
        raise _Failed(f"HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError, HTTPException) as e:  # DNS, refused, timeout
        raise _Failed(str(getattr(e, "reason", e))) from None


def _start(entry: Entry, part: pathlib.Path) -> int:
    """Bytes of `part` that may be resumed: 0 when there is none, or it is longer than the file."""
    offset = part.lstat().st_size if part.is_file() and not part.is_symlink() else 0
    return 0 if entry.size is not None and offset > entry.size else offset


def _transfer(entry: Entry, url: str, part: pathlib.Path, timeout: float) -> None:
    """Append the rest of the file from `url` to `part` (or rewrite it if the server ignores the
    range). Raises _Failed, keeping every byte received, unless all Content-Length promised came."""
    offset = _start(entry, part)
    if entry.size is not None and offset == entry.size:
        return
    response = _open(url, offset, timeout)
    if response is None:
        return
    with response:
        kind = response.headers.get_content_type()
        if kind == "text/html" and not entry.name.endswith((".html", ".htm")):
            raise _Failed("the server sent a web page (text/html), not the file")
        if offset and response.status != 206:
            offset = 0  # the server sends the whole file
        elif offset and not response.headers.get("Content-Range", "").startswith(
                f"bytes {offset}-"):
            raise _Failed(f"asked for bytes {offset}- the server sent "
                          f"{response.headers.get('Content-Range')}")
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length else entry.size
        try:
            f = _open_part(part, append=bool(offset))
        except OSError as e:
            raise FetchError(f"cannot write {part} ({e.strerror or e})") from None
        with f, tqdm(total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024,
                     desc=entry.name, disable=None) as bar:
            while block := _read(response):
                try:
                    f.write(block)
                except OSError as e:
                    raise FetchError(f"cannot write {part} ({e.strerror or e})") from None
                bar.update(len(block))
    if total is not None and part.stat().st_size < total:
        raise _Failed(f"the connection closed after {part.stat().st_size} of {total} bytes")


def _open_part(part: pathlib.Path, append: bool) -> BinaryIO:
    """NAME.part opened to append or to rewrite, never through a link (O_NOFOLLOW), with the
    mode the umask gives."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
    return os.fdopen(os.open(part, flags | getattr(os, "O_NOFOLLOW", 0), 0o666), "ab" if append else "wb")


def _read(response: HTTPResponse) -> bytes:
    """The next bytes received (whatever has arrived, never waiting to fill a whole chunk, so
    that a stall loses nothing already received); b"" at the end."""
    try:
        return response.read1(CHUNK)
    except (OSError, HTTPException) as e:  # a stall past the timeout, a reset connection
        raise _Failed(f"{type(e).__name__}: {e}" if str(e) else type(e).__name__) from None
