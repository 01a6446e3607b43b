"""A line chart written straight to PNG (zlib + struct), so the benchmark needs no plotting library."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Mapping, Sequence

Color = tuple[int, int, int]
COLORS: tuple[Color, ...] = ((150, 150, 150), (31, 119, 180), (44, 160, 44), (214, 39, 40))

# A 5x7 bitmap font: each glyph is seven rows of five bits, top row first.
_FONT = {
    "0": "0E11131519110E",
    "1": "040C040404040E",
    "2": "0E11010204081F",
    "3": "1F02040201110E",
    "4": "02060A121F0202",
    "5": "1F101E0101110E",
    "6": "0608101E11110E",
    "7": "1F010204080808",
    "8": "0E11110E11110E",
    "9": "0E11110F01020C",
    "A": "0E11111F111111",
    "B": "1E11111E11111E",
    "C": "0E11101010110E",
    "D": "1C12111111121C",
    "E": "1F10101E10101F",
    "F": "1F10101E101010",
    "G": "0E11101711110F",
    "H": "1111111F111111",
    "I": "0E04040404040E",
    "J": "0702020202120C",
    "K": "11121418141211",
    "L": "1010101010101F",
    "M": "111B1515111111",
    "N": "11111915131111",
    "O": "0E11111111110E",
    "P": "1E11111E101010",
    "Q": "0E11111115120D",
    "R": "1E11111E141211",
    "S": "0F10100E01011E",
    "T": "1F040404040404",
    "U": "1111111111110E",
    "V": "11111111110A04",
    "W": "1111111515150A",
    "X": "11110A040A1111",
    "Y": "1111110A040404",
    "Z": "1F01020408101F",
    " ": "00000000000000",
    "%": "18190204081303",
    "-": "0000001F000000",
    "(": "02040808080402",
    ")": "08040202020408",
    ".": "00000000000C0C",
    ",": "00000000000C04",
    ":": "000C0C000C0C00",
    "/": "00010204081000",
    "=": "00001F001F0000",
    "+": "0004041F040400",
}


class Canvas:
    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.pixels = bytearray(b"\xff" * (width * height * 3))

    def dot(self, x: int, y: int, color: Color, size: int = 1) -> None:
        for dy in range(size):
            for dx in range(size):
                px, py = x + dx, y + dy
                if 0 <= px < self.width and 0 <= py < self.height:
                    at = (py * self.width + px) * 3
                    self.pixels[at : at + 3] = bytes(color)

    def line(self, x0: int, y0: int, x1: int, y1: int, color: Color, size: int = 1) -> None:
        steps = max(abs(x1 - x0), abs(y1 - y0), 1)
        for i in range(steps + 1):
            self.dot(
                round(x0 + (x1 - x0) * i / steps), round(y0 + (y1 - y0) * i / steps), color, size
            )

    def text(self, x: int, y: int, text: str, color: Color = (0, 0, 0), scale: int = 2) -> int:
        """Draws upper-cased text; returns the x after it."""
        for char in text.upper():
            rows = bytes.fromhex(_FONT.get(char, _FONT[" "]))
            for r, bits in enumerate(rows):
                for c in range(5):
                    if bits >> (4 - c) & 1:
                        self.dot(x + c * scale, y + r * scale, color, scale)
            x += 6 * scale
        return x

    def png(self) -> bytes:
        row = self.width * 3
        raw = b"".join(
            b"\x00" + bytes(self.pixels[y * row : (y + 1) * row]) for y in range(self.height)
        )

        def chunk(kind: bytes, data: bytes) -> bytes:
            body = kind + data
            return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return (
            b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 9))
            + chunk(b"IEND", b"")
        )


def line_chart(
    title: str,
    series: Mapping[str, Sequence[float]],
    x_label: str,
    width: int = 960,
    height: int = 540,
) -> bytes:
    """Curves of values in [0, 1] (shown as percent) against their index, with a legend."""
    canvas = Canvas(width, height)
    left, right, top, bottom = 70, width - 20, 50, height - 60
    n = max((len(v) for v in series.values()), default=1)
    canvas.text(left, 15, title, scale=2)
    for pct in range(0, 101, 20):
        y = bottom - (bottom - top) * pct // 100
        canvas.line(left, y, right, y, (225, 225, 225))
        canvas.text(left - 12 * len(f"{pct}%") - 6, y - 7, f"{pct}%")
    step = 100 if n > 300 else 20
    for tick in range(0, n + 1, step):
        x = left + (right - left) * tick // max(n, 1)
        canvas.line(x, bottom, x, bottom + 5, (0, 0, 0))
        canvas.text(x - 6 * len(str(tick)), bottom + 10, str(tick))
    canvas.line(left, top, left, bottom, (0, 0, 0))
    canvas.line(left, bottom, right, bottom, (0, 0, 0))
    canvas.text((left + right) // 2 - 6 * len(x_label), bottom + 32, x_label)
    names = list(series)
    same = {  # a curve identical to an earlier one is drawn wide underneath it, and labelled so
        name: next((o for o in names[:i] if list(series[o]) == list(series[name])), None)
        for i, name in enumerate(names)
    }
    order = sorted(range(len(names)), key=lambda i: same[names[i]] is None)
    for i in order:
        name, color = names[i], COLORS[i % len(COLORS)]
        points = [
            (left + (right - left) * j // max(n - 1, 1), round(bottom - (bottom - top) * v))
            for j, v in enumerate(series[name])
        ]
        width = 6 if same[name] else 2
        for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False):
            canvas.line(x0, y0 - width // 2 + 1, x1, y1 - width // 2 + 1, color, size=width)
        ly = top + 10 + 22 * i
        canvas.line(left + 15, ly + 7, left + 45, ly + 7, color, size=3)
        label = f"{name} (same as {same[name]})" if same[name] else name
        canvas.text(left + 55, ly, label, color=(0, 0, 0))
    return canvas.png()
