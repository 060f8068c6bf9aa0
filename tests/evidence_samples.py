"""Small files of each accepted evidence type (and some refused ones), made here byte by byte."""
from __future__ import annotations

import io
import struct
import zipfile

FREE, END, FAT_SECTOR, NONE = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF


def _ooxml(main_part: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        archive.writestr("_rels/.rels", '<?xml version="1.0"?><Relationships/>')
        archive.writestr(main_part, '<?xml version="1.0"?><root>整改报告</root>')
    return out.getvalue()


def _dir_entry(name: str, kind: int, child: int, start: int, size: int) -> bytes:
    encoded = (name + "\0").encode("utf-16-le") if name else b""
    return (encoded.ljust(64, b"\0") + struct.pack("<HBB", len(encoded), kind, 1 if name else 0)
            + struct.pack("<III", NONE, NONE, child) + b"\0" * 16 + b"\0" * 4 + b"\0" * 16
            + struct.pack("<IQ", start, size))


def ole(stream_name: str) -> bytes:
    """A minimal OLE compound file (version 3, 512-byte sectors) holding one 4096-byte stream."""
    header = (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 16 + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6)
              + b"\0" * 6 + struct.pack("<IIII", 0, 1, 1, 0) + struct.pack("<IIIII", 4096, END, 0, END, 0)
              + struct.pack("<109I", 0, *([FREE] * 108)))
    fat = [FAT_SECTOR, END, *range(3, 10), END] + [FREE] * (128 - 10)
    directory = (_dir_entry("Root Entry", 5, 1, END, 0) + _dir_entry(stream_name, 2, NONE, 2, 4096)
                 + _dir_entry("", 0, NONE, 0, 0) * 2)
    return header + struct.pack("<128I", *fat) + directory + b"\x11" * 4096


PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
ACCEPTED = {
    "application/pdf": PDF,
    "image/png": b"\x89PNG\r\n\x1a\n" + b"\0\0\0\rIHDR" + b"\0" * 40,
    "image/jpeg": b"\xff\xd8\xff\xe0\0\x10JFIF\0" + b"\0" * 40,
    "image/gif": b"GIF89a" + b"\x01\0\x01\0" + b"\0" * 20,
    "image/webp": b"RIFF\x24\0\0\0WEBPVP8 " + b"\0" * 30,
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": _ooxml("word/document.xml"),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": _ooxml("xl/workbook.xml"),
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": _ooxml("ppt/presentation.xml"),
    "application/msword": ole("WordDocument"),
    "application/vnd.ms-excel": ole("Workbook"),
    "application/vnd.ms-powerpoint": ole("PowerPoint Document"),
}
def _plain_zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("readme.txt", "not an office document")
    return out.getvalue()


REFUSED = {
    "application/x-msdownload": b"MZ\x90\0\x03\0\0\0" + b"\0" * 60 + b"This program cannot be run in DOS mode",
    "application/x-executable": b"\x7fELF\x02\x01\x01" + b"\0" * 60,
    "text/plain": "整改情况说明：已完成。\n".encode() * 20,
    "application/zip": _plain_zip(),
    "application/x-ole-storage": ole("Something Else"),
}
