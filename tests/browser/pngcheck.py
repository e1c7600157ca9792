#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""pngcheck.py: checks that a screenshot is a real, non-trivial picture.

    pngcheck.py FILE.png WIDTH HEIGHT [MIN_COLOURS]

Decodes the PNG with the standard library only (zlib + the five scanline
filters), checks its size, and counts distinct colours: a blank or failed
render has one or two. Prints "WIDTHxHEIGHT N colours"; exit 0 when all holds,
1 otherwise (with the reason on stderr).
"""
import struct
import sys
import zlib

CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # colour type -> samples per pixel


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def decode(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG file")
    pos, idat, ihdr = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if zlib.crc32(kind + body) != struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])[0]:
            raise ValueError("bad CRC in %s chunk" % kind.decode("latin-1"))
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        pos += 12 + length
    if not ihdr:
        raise ValueError("no IHDR chunk")
    width, height, depth, ctype, _, _, interlace = ihdr
    if depth != 8 or ctype not in CHANNELS or interlace:
        raise ValueError("unsupported PNG layout (depth %d, colour type %d, interlace %d)" % (depth, ctype, interlace))
    bpp = CHANNELS[ctype]
    stride = width * bpp
    raw = zlib.decompress(b"".join(idat))
    if len(raw) != height * (stride + 1):
        raise ValueError("image data has the wrong size")
    rows, prev = [], bytearray(stride)
    for y in range(height):
        ftype = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if ftype == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif ftype == 2:
            line = bytearray((a + b) & 0xFF for a, b in zip(line, prev))
        elif ftype == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif ftype == 4:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                up_left = prev[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + paeth(left, prev[i], up_left)) & 0xFF
        elif ftype != 0:
            raise ValueError("bad filter type %d on row %d" % (ftype, y))
        rows.append(bytes(line))
        prev = line
    return width, height, bpp, rows


def main():
    if len(sys.argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    path, want_w, want_h = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    min_colours = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    try:
        width, height, bpp, rows = decode(path)
    except (OSError, ValueError, zlib.error, struct.error) as e:
        print("pngcheck: %s: %s" % (path, e), file=sys.stderr)
        return 1
    colours = set()
    for row in rows:
        colours.update(row[i:i + bpp] for i in range(0, len(row), bpp))
    print("%dx%d %d colours" % (width, height, len(colours)))
    if (width, height) != (want_w, want_h):
        print("pngcheck: %s is %dx%d, expected %dx%d" % (path, width, height, want_w, want_h), file=sys.stderr)
        return 1
    if len(colours) < min_colours:
        print("pngcheck: %s has only %d colours (blank render?)" % (path, len(colours)), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
