"""The safe reader of one submission: good layouts read, hostile zips and folders refused."""

from __future__ import annotations

import gzip
import io
import os
import stat
import struct
import zipfile

import pytest

from mnist_mlp.course.submissions import Limits, SubmissionRefused, read_submission
from mnist_mlp.errors import DataError

GOOD = {
    "Report.pdf": b"%PDF-1.4 report",
    "summary.txt": b"#####\n# Filled Code\n#####\n",
    "codes/layers.py": b"import numpy as np\n",
    "codes/README.md": b"notes\n",
}


def _zip(path, members, *, mode=None, compression=zipfile.ZIP_DEFLATED):
    """A zip of ``members`` (name -> bytes); ``mode`` sets a Unix st_mode on every member."""
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in members.items():
            info = zipfile.ZipInfo(name)
            info.compress_type = compression
            if mode is not None:
                info.external_attr = mode << 16
                info.create_system = 3
            archive.writestr(info, data)
    return path


def _refused(path, match, limits=None):
    with pytest.raises(SubmissionRefused, match=match) as info:
        read_submission(path, limits or Limits())
    assert info.value.source == str(path)
    return info.value


# --------------------------------------------------------------------------- good input


def test_zip_in_the_seeds_layout_reads_every_file_and_no_problem(tmp_path):
    sub = read_submission(_zip(tmp_path / "2018011234.zip", GOOD))
    assert sub.name == "2018011234"
    assert sub.files == dict(sorted(GOOD.items()))
    assert sub.problems == []
    assert sub.codes == {"layers.py": GOOD["codes/layers.py"], "README.md": b"notes\n"}


def test_zip_of_the_folder_itself_reads_the_lone_top_folder_as_root(tmp_path):
    members = {f"2018011234/{k}": v for k, v in GOOD.items()}
    members["__MACOSX/2018011234/._layers.py"] = b"\0\5\26\7"
    sub = read_submission(_zip(tmp_path / "s.zip", members))
    assert sub.files == dict(sorted(GOOD.items()))
    assert sub.problems == ["ignored 1 macOS metadata file(s) under __MACOSX/"]


def test_folder_reads_like_the_same_zip(tmp_path):
    root = tmp_path / "2018011234"
    for rel, data in GOOD.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    folder = read_submission(root)
    zipped = read_submission(_zip(tmp_path / "2018011234.zip", GOOD))
    assert (folder.name, folder.files, folder.problems) == (zipped.name, zipped.files, [])


def test_missing_layout_parts_are_problems_not_refusals(tmp_path):
    sub = read_submission(_zip(tmp_path / "s.zip", {"layers.py": b"x = 1\n"}))
    assert sub.problems == [
        "no report (Report.pdf, .md, .doc or .docx) at the top level",
        "no summary.txt at the top level",
        "no codes/*.py",
    ]


def test_docx_report_and_npz_are_zip_containers_kept_as_plain_files(tmp_path):
    inner = io.BytesIO()
    _zip(inner, {"word/document.xml": b"<w/>"})
    members = dict(GOOD, **{"Report.docx": inner.getvalue(), "codes/w.npz": inner.getvalue()})
    del members["Report.pdf"]
    sub = read_submission(_zip(tmp_path / "s.zip", members))
    assert sub.files["Report.docx"] == inner.getvalue()
    assert sub.problems == []


def test_python_sources_decode_utf8_with_bom_and_name_the_file_that_is_not(tmp_path):
    members = {
        "codes/ok.py": "s = 'é'\n".encode(),
        "codes/bom.py": b"\xef\xbb\xbfx = 1\n",
        "codes/latin.py": b"x = 1\ns = '\xe9'\n",
        "notes.py": b"y = 2\n",
    }
    sub = read_submission(_zip(tmp_path / "s.zip", members))
    texts, failures = sub.python_sources("codes/")
    assert texts == {"codes/bom.py": "x = 1\n", "codes/ok.py": "s = 'é'\n"}
    assert len(failures) == 1 and "s/codes/latin.py is not valid UTF-8 (line 2" in failures[0]
    with pytest.raises(DataError, match="latin.py"):
        sub.text("codes/latin.py")


# --------------------------------------------------------------------------- hostile zips


@pytest.mark.parametrize(
    "name, why",
    [
        ("../evil.py", "escapes"),
        ("codes/../../evil.py", "escapes"),
        ("..\\evil.py", "escapes"),
        ("/etc/evil.py", "absolute"),
        ("C:\\Windows\\evil.py", "drive letter"),
        ("C:evil.py", "drive letter"),
        ("codes/evil.py:stream", "colon"),  # an NTFS alternate data stream
    ],
)
def test_zip_slip_paths_are_refused(tmp_path, name, why):
    path = tmp_path / "s.zip"
    _zip(path, dict(GOOD, **{name: b"x = 1\n"}))
    assert "evil" in _refused(path, why).reason


def test_symlink_member_is_refused(tmp_path):
    path = _zip(tmp_path / "s.zip", {"codes/layers.py": b"/etc/passwd"}, mode=stat.S_IFLNK | 0o777)
    _refused(path, "'codes/layers.py' is a symlink")


def test_device_member_is_refused(tmp_path):
    path = _zip(tmp_path / "s.zip", {"codes/dev": b""}, mode=stat.S_IFCHR | 0o666)
    _refused(path, "not a regular file")


def test_zip_bomb_is_refused_on_its_declared_size(tmp_path):
    limits = Limits(max_total_bytes=1_000_000)
    path = _zip(tmp_path / "bomb.zip", {"codes/zeros.py": bytes(2_000_000)})
    assert path.stat().st_size < 10_000  # it is small on disk: a bomb, not a big file
    _refused(path, "expands to 2000000 bytes, more than 1000000", limits)


def test_zip_bomb_with_lying_headers_is_refused_while_reading(tmp_path):
    """Declared sizes patched down to 100 bytes: the reader never takes more than declared.

    zipfile stops at the declared size and then fails the CRC check; the reader's
    own byte count is a second guard should that ever change.
    """
    path = _zip(tmp_path / "liar.zip", {"codes/zeros.py": bytes(2_000_000)})
    raw = bytearray(path.read_bytes())
    # Uncompressed size: offset 22 in the local header, 24 in the central directory entry.
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = raw.index(signature) + offset
        raw[at : at + 4] = struct.pack("<I", 100)
    path.write_bytes(bytes(raw))
    _refused(path, "zip bomb|not a readable zip", Limits(max_total_bytes=1_000_000))


def test_too_many_files_are_refused_before_reading(tmp_path):
    path = _zip(tmp_path / "s.zip", {f"codes/m{i}.py": b"" for i in range(11)})
    _refused(path, "11 entries, more than 10", Limits(max_files=10))


@pytest.mark.parametrize(
    "name, data",
    [
        ("codes/inner.zip", b"PK\x05\x06" + bytes(18)),
        ("codes/data.tar.gz", b"whatever"),
        ("codes/hidden.py", gzip.compress(b"x = 1\n")),  # an archive by its contents
    ],
)
def test_nested_archives_are_refused(tmp_path, name, data):
    _refused(_zip(tmp_path / "s.zip", dict(GOOD, **{name: data})), f"{name!r} is a nested archive")


def test_encrypted_member_is_refused(tmp_path):
    path = _zip(tmp_path / "s.zip", {"codes/layers.py": b"x = 1\n"})
    raw = bytearray(path.read_bytes())
    # General-purpose flag bit 0 (encrypted): offset 6 locally, 8 in the central directory.
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        raw[raw.index(signature) + offset] |= 0x1
    path.write_bytes(bytes(raw))
    _refused(path, "encrypted")


def test_duplicate_member_names_are_refused(tmp_path):
    path = tmp_path / "s.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("codes/layers.py", b"good = 1\n")
        with pytest.warns(UserWarning, match="Duplicate name"):
            archive.writestr("codes/layers.py", b"evil = 1\n")
    _refused(path, "appears twice")


def test_corrupt_zip_and_missing_path_are_refused(tmp_path):
    (tmp_path / "junk.zip").write_bytes(os.urandom(200))
    _refused(tmp_path / "junk.zip", "not a readable zip")
    _refused(tmp_path / "nowhere", "no such folder or file")


def test_zip_larger_than_the_limit_on_disk_is_refused(tmp_path):
    path = _zip(
        tmp_path / "s.zip", {"codes/r.py": os.urandom(5000)}, compression=zipfile.ZIP_STORED
    )
    _refused(path, "the zip is larger than 4000 bytes", Limits(max_total_bytes=4000))


# --------------------------------------------------------------------------- hostile folders


def _folder(tmp_path):
    root = tmp_path / "sub"
    (root / "codes").mkdir(parents=True)
    (root / "codes" / "layers.py").write_bytes(b"x = 1\n")
    return root


def test_folder_symlinks_to_files_and_folders_are_refused_not_followed(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("the test labels")
    root = _folder(tmp_path)
    (root / "codes" / "labels.py").symlink_to(secret)
    _refused(root, "'codes/labels.py' is a symlink")
    (root / "codes" / "labels.py").unlink()
    (root / "up").symlink_to(tmp_path, target_is_directory=True)
    _refused(root, "'up' is a symlink")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX FIFOs")
def test_folder_fifo_is_refused_without_blocking(tmp_path):
    root = _folder(tmp_path)
    os.mkfifo(root / "codes" / "pipe.py")
    _refused(root, "'codes/pipe.py' is not a regular file")


def test_folder_limits_and_nested_archives(tmp_path):
    root = _folder(tmp_path)
    for i in range(5):
        (root / f"f{i}.txt").write_bytes(bytes(300))
    _refused(root, "more than 4 entries", Limits(max_files=4))
    _refused(root, "exceed the size limit", Limits(max_total_bytes=1000))
    (root / "old.py").write_bytes(gzip.compress(b"x"))
    _refused(root, "'old.py' is a nested archive")
