"""Fetching never writes where it must not (issue: nothing reaches what it must not, item 1): a
link at NAME.part or NAME is refused, never written through, and a manifest entry is a plain
file name, never a path out of --dest."""
import json

import pytest

from reproduce.caffe.fetch import Entry, FetchError, fetch
from tests.caffe.test_fetch import DATA, entry, one_error_line, run_script, site  # noqa: F401 (the fixture)


def test_a_link_at_part_is_refused_and_its_target_untouched(site, tmp_path, capsys):  # noqa: F811
    dest, victim = tmp_path / "models", tmp_path / "precious.txt"
    dest.mkdir()
    victim.write_text("a user's file")
    (dest / "weights.caffemodel.part").symlink_to(victim)
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"files": [vars(entry(site, "weights.caffemodel"))]}))
    line = one_error_line(run_script(manifest, dest, capsys=capsys))
    assert "weights.caffemodel.part: in the way (a link or a folder" in line
    assert victim.read_text() == "a user's file"
    assert sorted(p.name for p in dest.iterdir()) == ["weights.caffemodel.part"]
    assert (dest / "weights.caffemodel.part").is_symlink() and site.requests == []


def test_a_link_at_the_files_name_is_refused(site, tmp_path):  # noqa: F811
    dest, other = tmp_path / "models", tmp_path / "other.bin"
    dest.mkdir()
    other.write_bytes(DATA["weights.caffemodel"])  # even the right bytes: a link is not the file
    (dest / "weights.caffemodel").symlink_to(other)
    with pytest.raises(FetchError, match="weights.caffemodel: a link, not the file"):
        fetch(entry(site, "weights.caffemodel"), dest)


@pytest.mark.parametrize("name", ["../../x", "sub/x", "..", ".", "", ".hidden", "a\\b"])
def test_a_manifest_entry_must_be_a_plain_file_name(name):
    with pytest.raises(FetchError, match="not a plain file name"):
        Entry(name, ["http://127.0.0.1:9/x"], sha256="0" * 64)


def test_a_part_file_is_written_with_the_umasks_mode(site, tmp_path, monkeypatch):  # noqa: F811
    import os
    old = os.umask(0o077)
    try:
        path, done, _ = fetch(entry(site, "weights.caffemodel"), tmp_path / "models")
    finally:
        os.umask(old)
    assert done.startswith("downloaded") and (path.stat().st_mode & 0o777) == 0o600
