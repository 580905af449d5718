"""Bounds on what a plan file may cost before a parser sees it: size, zip bombs, XML entities.

Owns `read_bytes(path, limit)` (the one place files are read, with Vietnamese errors for
missing/unreadable/oversized files), `check_zip(path, kind)` for DOCX/XLSX, and the limits.

Facts relied on:
- DOCX and XLSX are zip archives of XML parts. Python's zipfile never inflates an entry
  past the size its header declares (it fails the CRC check instead), and python-docx
  and openpyxl read through zipfile, so checking the declared sizes and the number of
  entries bounds the memory and time they can spend.
- An XML part declaring a DTD (<!DOCTYPE …>, which is where <!ENTITY …> lives) is never
  produced by Word, Excel or LibreOffice; entities are how "billion laughs" and external
  entity attacks work, so such parts are refused rather than parsed. The DTD must come
  before the root element, so only the prolog of each part is read; every part that
  starts like XML is checked, whatever its name (the package's relationships, not the
  names, say which part is the document).
Not here: parsing (docx.py, xlsx.py), PDF limits (pdf.py).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from notifier.errors import PlanReadError

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_UNZIPPED_BYTES",
    "MAX_ZIP_ENTRIES",
    "check_zip",
    "read_bytes",
]

MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_UNZIPPED_BYTES = 200 * 1024 * 1024  # a 2,000-activity DOCX unzips to a few MB
MAX_PART_BYTES = 100 * 1024 * 1024
MAX_ZIP_ENTRIES = 5_000
_PROLOG_BYTES = 64 * 1024


def file_size(path: Path, limit: int | None = None) -> int:
    """The size of `path`, or a PlanReadError saying why it cannot be used."""
    limit = limit or MAX_FILE_BYTES
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise PlanReadError(f"Không tìm thấy tệp {path}.") from None
    except OSError as exc:
        raise PlanReadError(f"Không đọc được tệp {path}: {exc.strerror or exc}.") from None
    if path.is_dir():
        raise PlanReadError(f"{path} là thư mục, không phải tệp kế hoạch.")
    if size > limit:
        raise PlanReadError(
            f"Tệp {path.name} quá lớn ({size / 1e6:.0f} MB, giới hạn {limit // 2**20} MB) để "
            "là một kế hoạch."
        )
    return size


def read_bytes(path: Path, limit: int | None = None) -> bytes:
    """The bytes of `path`, bounded by `limit`."""
    file_size(path, limit)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise PlanReadError(f"Không đọc được tệp {path}: {exc.strerror or exc}.") from None


def check_zip(path: Path, kind: str) -> None:
    """Refuse a DOCX/XLSX (`kind` names it in messages) that is not a sane zip of XML parts."""
    file_size(path)
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError):
        raise PlanReadError(
            f"Tệp {path.name} không phải tệp {kind} hợp lệ (không mở được như tệp nén zip). "
            f"Hãy mở bằng Word/Excel và lưu lại dạng {kind}."
        ) from None
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_ZIP_ENTRIES:
            raise PlanReadError(
                f"Tệp {path.name} có {len(infos)} phần bên trong (giới hạn {MAX_ZIP_ENTRIES}); "
                "không đọc để tránh treo máy."
            )
        total = sum(info.file_size for info in infos)
        biggest = max((info.file_size for info in infos), default=0)
        if total > MAX_UNZIPPED_BYTES or biggest > MAX_PART_BYTES:
            raise PlanReadError(
                f"Tệp {path.name} giải nén ra {total / 1e6:.0f} MB (giới hạn "
                f"{MAX_UNZIPPED_BYTES // 2**20} MB): có thể là tệp “bom nén”; không đọc."
            )
        for info in infos:
            if not info.is_dir():
                _check_prolog(archive, info, path.name)


def _check_prolog(archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str) -> None:
    """Refuse an XML part that declares a DTD or entities before its root element."""
    try:
        with archive.open(info) as part:
            head = part.read(_PROLOG_BYTES)
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError) as exc:
        raise PlanReadError(
            f"Tệp {name} bị hỏng (phần {info.filename}: {exc}); hãy mở và lưu lại."
        ) from None
    if not _xml_like(head):
        return  # a picture or another binary part: never parsed as XML
    text = _prolog_text(head)
    i = 0
    while True:
        i = text.find("<", i)
        if i < 0:
            if len(head) == _PROLOG_BYTES:
                raise PlanReadError(
                    f"Tệp {name}: phần {info.filename} có phần mở đầu XML bất thường; không đọc."
                )
            return  # a short part with no element: the parser will report it
        if text.startswith("<?", i):
            end = text.find("?>", i)
        elif text.startswith("<!--", i):
            end = text.find("-->", i)
        elif text.startswith("<!", i):
            raise PlanReadError(
                f"Tệp {name}: phần {info.filename} khai báo DTD/thực thể XML (<!DOCTYPE>, "
                "<!ENTITY>), điều Word và Excel không bao giờ tạo ra; không đọc để tránh "
                "tấn công “XML bomb”."
            )
        else:
            return  # the root element: no DTD can follow
        if end < 0:
            return
        i = end + 2


def _xml_like(head: bytes) -> bool:
    """Does the part start like XML (in UTF-8 or UTF-16, after a BOM and blanks)?"""
    start = head[:64].lstrip(b"\xef\xbb\xbf\xff\xfe \t\r\n\x00")
    return start[:1] == b"<"


def _prolog_text(head: bytes) -> str:
    """The prolog bytes as text, whatever Unicode encoding the part uses."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return head.decode("utf-16", errors="replace")
    if head[:2] in (b"<\x00", b"\x00<"):
        return head.decode("utf-16-le" if head[0] == 0x3C else "utf-16-be", errors="replace")
    return head.decode("utf-8", errors="replace")
