"""A multimodal prompt: a small inline PNG image and a question about it."""

import struct
import zlib

from google import genai
from google.genai import types

MODEL_ID = "gemini-3-flash-preview"


def red_square(size: int = 8) -> bytes:
    """A tiny red PNG, made here so the example needs no image file."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * size for _ in range(size))
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def run(client: genai.Client) -> list[str]:
    response = client.models.generate_content(
        model=MODEL_ID,
        contents=[
            types.Part.from_bytes(data=red_square(), mime_type="image/png"),
            "What colour is this square? One word.",
        ],
    )
    return [response.text]
