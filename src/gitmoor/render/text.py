"""What to say when a manifest file is not text: binary content, or another encoding.

libyaml reports `unacceptable character #x-001: incomplete UTF-8 octet sequence in "<byte
string>", position 9`, and orjson `str is not valid UTF-8: surrogates not allowed` for a Latin-1
`é`: neither tells the author which file is wrong in what way, nor what to do.
"""

from __future__ import annotations

import codecs

import yaml

from gitmoor.errors import RenderError

_CONTROL = "control characters are not allowed"


def yaml_reader_error(err: yaml.reader.ReaderError, data: bytes | str, source: str) -> RenderError:
    """libyaml's refusal of the bytes themselves, said as what is wrong with the file."""
    raw = data.encode(errors="surrogateescape") if isinstance(data, str) else data
    if err.reason == _CONTROL and isinstance(err.character, int) and err.character >= 0:
        return _binary(f"control character U+{err.character:04X}", raw, err.position, source)
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):  # libyaml reads UTF-16 too
        return _not_utf8(err.reason, raw, err.position, source)
    # Python's decoder names the byte a bad sequence starts at; libyaml the one that broke it.
    return _undecodable(raw, source) or _not_utf8(err.reason, raw, err.position, source)


def json_text_error(data: bytes, source: str) -> RenderError | None:
    """Why `data` is not UTF-8 text at all, or None when it is (its JSON is at fault)."""
    nul = data.find(b"\x00")
    return _undecodable(data, source) or (
        _binary("a NUL byte", data, nul, source) if nul >= 0 else None
    )


def _undecodable(data: bytes, source: str) -> RenderError | None:
    try:
        data.decode()
    except UnicodeDecodeError as err:
        return _not_utf8(err.reason, data, err.start, source)
    return None


def _not_utf8(reason: str, data: bytes, position: int, source: str) -> RenderError:
    return RenderError(
        f"not UTF-8 text: {reason} at byte {position} (save the file as UTF-8)",
        file=source,
        line=_line(data, position),
    )


def _binary(what: str, data: bytes, position: int, source: str) -> RenderError:
    return RenderError(
        f"not text: {what} at byte {position} (a binary file?)",
        file=source,
        line=_line(data, position),
    )


def _line(data: bytes, position: int) -> int:
    return data.count(b"\n", 0, position) + 1
