"""Evidence types are judged by content: each accepted format recognised, the rest named as what they are."""
from __future__ import annotations

import pytest

from engine.evidence.detect import media_type_of
from tests.evidence_samples import ACCEPTED, REFUSED


@pytest.mark.parametrize("media_type", sorted({**ACCEPTED, **REFUSED}))
def test_each_sample_is_named_by_its_content(tmp_path, media_type):
    path = tmp_path / "upload.pdf"  # the name says PDF whatever the content: it must not matter
    path.write_bytes({**ACCEPTED, **REFUSED}[media_type])
    assert media_type_of(path) == media_type


def test_cut_off_and_empty_files_are_not_taken_for_what_they_start_like(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(ACCEPTED["application/msword"][:700])  # an OLE header with no readable directory
    assert media_type_of(path) == "application/x-ole-storage"
    path.write_bytes(b"")
    assert media_type_of(path) == "application/x-empty"
    path.write_bytes(b"PK\x03\x04 a zip that is cut off")
    assert media_type_of(path) == "application/zip"
    path.write_bytes(bytes(range(256)) * 4)
    assert media_type_of(path) == "application/octet-stream"
