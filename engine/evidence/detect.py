"""A file's media type judged by its content, never by the name or the Content-Type the client sent.

A small table of magic numbers (the first bytes each format begins with) decides most formats. Two need a
look inside: an Office Open XML document (docx/xlsx/pptx) is a zip whose main part names the kind, and a
legacy Office document (doc/xls/ppt) is an OLE compound file whose streams do (read with ``olefile``).
Whatever is not recognised is named as well as it can be (an executable, plain text, a plain zip), so that
a refusal can say what was sent.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import olefile

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"
# (offset, bytes at that offset, media type), checked in order.
MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (0, b"%PDF-", "application/pdf"),
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (8, b"WEBP", "image/webp"),  # after "RIFF" and the length, checked below
    (0, b"MZ", "application/x-msdownload"),
    (0, b"\x7fELF", "application/x-executable"),
    (0, b"\xcf\xfa\xed\xfe", "application/x-mach-binary"),
    (0, b"#!", "text/x-shellscript"),
)
# The main part of each Office Open XML kind (ECMA-376 Part 2: the package's start part).
OOXML_PARTS = (
    ("word/document.xml", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    ("xl/workbook.xml", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ("ppt/presentation.xml", "application/vnd.openxmlformats-officedocument.presentationml.presentation"),
)
# The stream each legacy Office kind keeps its content in ([MS-DOC], [MS-XLS] (Workbook, or Book before
# Excel 97), [MS-PPT]).
OLE_STREAMS = (
    ("WordDocument", "application/msword"),
    ("Workbook", "application/vnd.ms-excel"),
    ("Book", "application/vnd.ms-excel"),
    ("PowerPoint Document", "application/vnd.ms-powerpoint"),
)
HEAD = 64


def media_type_of(path: Path) -> str:
    """The media type of the file at ``path``, from its content."""
    with open(path, "rb") as stream:
        head = stream.read(HEAD)
    if head.startswith(ZIP_MAGIC):
        return _zip_kind(path)
    if head.startswith(OLE_MAGIC):
        return _ole_kind(path)
    for offset, magic, media_type in MAGIC:
        if head[offset:offset + len(magic)] == magic and (media_type != "image/webp" or head.startswith(b"RIFF")):
            return media_type
    if not head:
        return "application/x-empty"
    return "text/plain" if _is_text(path) else "application/octet-stream"


def _zip_kind(path: Path) -> str:
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return "application/zip"
    if "[Content_Types].xml" in names:
        for part, media_type in OOXML_PARTS:
            if part in names:
                return media_type
    return "application/zip"


def _ole_kind(path: Path) -> str:
    try:
        with olefile.OleFileIO(str(path)) as ole:
            for stream, media_type in OLE_STREAMS:
                if ole.exists(stream):
                    return media_type
    except Exception:  # noqa: BLE001 - a malformed compound file is just an unknown one; olefile raises many kinds
        pass
    return "application/x-ole-storage"


def _is_text(path: Path) -> bool:
    with open(path, "rb") as stream:
        sample = stream.read(8192)
    if b"\x00" in sample:
        return False
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start > len(sample) - 4  # a character cut at the end of the sample
    return True
