"""Fetch the model files a manifest lists: download (resuming a partial `.part` file) or copy
from a folder the user already has, check size and checksums, then rename into place.

The manifest (models/manifest.json) gives each file's name, url, size, md5 and sha256; a value
that is null is not known and not checked (the sha256 computed is reported so it can be added).
A file already in place is verified, never fetched again.
"""
import hashlib
import json
import os
import pathlib
import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass
from http.client import HTTPException

from tqdm import tqdm

from reproduce.errors import ReproduceError
from reproduce.files import atomic_path

MODELS = pathlib.Path(__file__).resolve().parents[1] / "models"
MANIFEST = MODELS / "manifest.json"
TIMEOUT = 15   # seconds to connect, and to wait for each block
CHUNK = 1 << 20
CHECKED = ("size", "md5", "sha256")


class FetchError(ReproduceError):
    """A file that cannot be fetched, or that is not the file the manifest describes."""


@dataclass(frozen=True)
class Entry:
    name: str
    url: str
    size: int | None = None
    md5: str | None = None
    sha256: str | None = None
    about: str = ""


def read_manifest(path=MANIFEST):
    """The manifest's entries, in order."""
    try:
        files = json.loads(pathlib.Path(path).read_text(encoding="utf-8"))["files"]
        return [Entry(**item) for item in files]
    except FileNotFoundError:
        raise FetchError(f"{path}: no such manifest") from None
    except (ValueError, KeyError, TypeError) as e:
        raise FetchError(f"{path}: not a model manifest ({type(e).__name__}: {e})") from None


def select(entries, names):
    """The entries named (all when names is empty), or a FetchError naming the unknown ones."""
    known = {entry.name: entry for entry in entries}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise FetchError(f"not in the manifest: {', '.join(unknown)} (it lists {', '.join(known)})")
    return [known[name] for name in names] if names else list(entries)


def digests(path):
    """{"size", "md5", "sha256"} of a file, in one read."""
    md5, sha256 = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            md5.update(block)
            sha256.update(block)
    return dict(size=os.path.getsize(path), md5=md5.hexdigest(), sha256=sha256.hexdigest())


def check(entry, path, advice):
    """The file's digests if they match what the manifest knows; else a FetchError naming each
    expected and computed value, followed by `advice`."""
    got = digests(path)
    wrong = [f"{key} expected {getattr(entry, key)}, got {got[key]}" for key in CHECKED
             if getattr(entry, key) is not None and getattr(entry, key) != got[key]]
    if wrong:
        raise FetchError(f"{path}: not the manifest's {entry.name} ({'; '.join(wrong)}); {advice}")
    return got


def fetch(entry, dest, source=None, timeout=TIMEOUT):
    """Put a verified `entry` at dest/NAME: keep it if already there, else copy it from the
    folder `source`, else download it. Returns (path, what was done, its digests)."""
    final = pathlib.Path(dest) / entry.name
    if final.exists():
        return final, "present", check(entry, final, "move it away to fetch it again")
    if source is not None:
        return final, f"copied from {source}", _copy(entry, pathlib.Path(source), final)
    return final, f"downloaded from {entry.url}", _download(entry, final, timeout)


def _copy(entry, source, final):
    origin = source / entry.name
    if not origin.is_file():
        raise FetchError(f"{origin}: no such file to copy (get {entry.name} from {entry.url})")
    with atomic_path(final) as tmp:
        shutil.copyfile(origin, tmp)
        return check(entry, tmp, f"{origin} is not the expected file; nothing was copied")


def _download(entry, final, timeout):
    part = final.with_name(final.name + ".part")
    final.parent.mkdir(parents=True, exist_ok=True)
    offset = part.stat().st_size if part.exists() else 0
    if entry.size is not None and offset > entry.size:
        offset = 0  # longer than the whole file: not a prefix of it
    if entry.size is None or offset < entry.size:
        _transfer(entry, part, offset, timeout)
    try:
        got = check(entry, part, "the download was deleted; run again to download it afresh")
    except FetchError:
        part.unlink()
        raise
    os.replace(part, final)
    return got


def _unavailable(entry, final, reason):
    return (f"cannot download {entry.name} from {entry.url} ({reason}). Download it by other "
            f"means (from that address on a machine with network) and put it at {final}, or in "
            "any folder DIR and run scripts/fetch_models.py --from DIR")


def _open(entry, offset, timeout, final):
    """The HTTP response for the file from byte `offset` on; None if the server says that the
    partial file is already whole (416 to a range at its end)."""
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    try:
        return urllib.request.urlopen(urllib.request.Request(entry.url, headers=headers),
                                      timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and offset and e.headers.get("Content-Range") == f"bytes */{offset}":
            return None
        raise FetchError(_unavailable(entry, final, f"HTTP {e.code} {e.reason}")) from None
    except (urllib.error.URLError, OSError, HTTPException) as e:  # DNS, refused, timeout
        raise FetchError(_unavailable(entry, final, getattr(e, "reason", e))) from None


def _transfer(entry, part, offset, timeout):
    """Append the rest of the file to `part` (or rewrite it if the server ignores the range)."""
    final = part.with_name(entry.name)
    response = _open(entry, offset, timeout, final)
    if response is None:
        return
    with response:
        if offset and response.status != 206:
            offset = 0  # the server sends the whole file
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length else entry.size
        try:
            with open(part, "ab" if offset else "wb") as f, \
                    tqdm(total=total, initial=offset, unit="B", unit_scale=True,
                         unit_divisor=1024, desc=entry.name, disable=None) as bar:
                while block := response.read(CHUNK):
                    f.write(block)
                    bar.update(len(block))
        except (OSError, HTTPException) as e:
            raise FetchError(_interrupted(entry, part, f"{type(e).__name__}: {e}")) from None
    if total is not None and part.stat().st_size != total:
        raise FetchError(_interrupted(entry, part, "the connection closed early"))


def _interrupted(entry, part, reason):
    return (f"the download of {entry.name} stopped after {part.stat().st_size} bytes ({reason}); "
            f"run again to resume from {part}")
