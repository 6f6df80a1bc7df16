from pathlib import Path

import pytest

from latentlink.durable import write_atomically


def test_write_replaces_whole_file_and_leaves_no_temporaries(tmp_path: Path):
    target = tmp_path / "blob"
    write_atomically(target, b"first")
    write_atomically(target, b"second, longer")
    assert target.read_bytes() == b"second, longer"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blob"]


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path):
    target = tmp_path / "blob"
    write_atomically(target, b"kept")
    with pytest.raises(TypeError):
        write_atomically(target, "not bytes")  # type: ignore[arg-type]
    assert target.read_bytes() == b"kept"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blob"]


def test_temporary_folder_can_be_elsewhere_on_the_same_file_system(tmp_path: Path):
    (tmp_path / "tmp").mkdir()
    (tmp_path / "out").mkdir()
    write_atomically(tmp_path / "out" / "x", b"data", tmp_path / "tmp", durable=False)
    assert (tmp_path / "out" / "x").read_bytes() == b"data"
    assert not any((tmp_path / "tmp").iterdir())
