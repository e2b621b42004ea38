"""What a phone scans: pixels rendered to a picture and decoded with zbar (pyzbar over
Debian's libzbar0, which `make setup` installs)."""
from PIL import Image
from pyzbar import pyzbar

SCALE = 4  # camera pixels per display pixel


def picture(rows, margin=0, light=1):
    """Rows of pixels as a greyscale picture: `light` pixels white, the others black,
    `margin` pixels of white paper around (a printed code; none: a display's bezel)."""
    h, w = len(rows), len(rows[0])
    data = []
    for y in range(-margin, h + margin):
        for x in range(-margin, w + margin):
            inside = 0 <= y < h and 0 <= x < w
            data.append(255 if not inside or rows[y][x] == light else 0)
    img = Image.new("L", (w + 2 * margin, h + 2 * margin))
    img.putdata(data)
    return img.resize((img.width * SCALE, img.height * SCALE), Image.NEAREST)


def decode(rows, margin=0, light=1):
    """The payloads (bytes) of the QR codes zbar reads in the picture."""
    found = pyzbar.decode(picture(rows, margin, light), symbols=[pyzbar.ZBarSymbol.QRCODE])
    return [r.data for r in found]


def matrix_rows(code):
    """(size, matrix) of pumpside.qr as rows, 1 = dark."""
    size, m = code
    return [list(m[y * size:(y + 1) * size]) for y in range(size)]
