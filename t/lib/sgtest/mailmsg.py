"""Message helpers for the end-to-end tests: line ends, header fields, generated messages.

All comparisons are made on the wire form (CRLF line ends), because that is what DKIM signs
and what smtp-sink's dump gives back once parsed.
"""

import base64
import random
import re


def to_crlf(data):
    """The message with every line end (LF or CRLF) made CRLF, ending in CRLF."""
    data = re.sub(rb"\r?\n", b"\r\n", data)
    return data if data.endswith(b"\r\n") else data + b"\r\n"


def split_message(data):
    """(header fields, body) of a CRLF message.

    Header fields are (lowercase name, raw bytes of the whole field including its folded
    continuation lines and final CRLF), in order.  The body is everything after the empty line.
    """
    end = data.find(b"\r\n\r\n")
    if end < 0:
        head, body = data, b""
    else:
        head, body = data[:end + 2], data[end + 4:]
    fields = []
    for line in head.split(b"\r\n")[:-1]:
        if line[:1] in (b" ", b"\t") and fields:
            name, raw = fields[-1]
            fields[-1] = (name, raw + line + b"\r\n")
        else:
            fields.append((line.split(b":", 1)[0].strip().lower().decode("latin-1"),
                           line + b"\r\n"))
    return fields, body


def field_value(raw):
    """The unfolded value of a raw header field, as text."""
    value = raw.split(b":", 1)[1]
    return re.sub(rb"\r\n(?=[ \t])", b"", value).strip().decode("latin-1")


def make_pdf(text="Factuur 2026-0042"):
    """A small valid one-page PDF showing text (built by hand: objects plus a correct xref)."""
    content = f"BT /F1 18 Tf 72 720 Td ({text}) Tj ET".encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length " + str(len(content)).encode() + b" >>\nstream\n" + content
        + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref_at = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for off in offsets:
        out += f"{off:010d} 00000 n \n".encode()
    out += (f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\n"
            f"startxref\n{xref_at}\n%%EOF\n").encode()
    return bytes(out)


def base64_lines(data, width=76):
    """data in base64, as CRLF-terminated lines of width characters (RFC 2045)."""
    text = base64.b64encode(data)
    return b"".join(text[i:i + width] + b"\r\n" for i in range(0, len(text), width))


def make_large_message(size, sender, recipient, seed=2026):
    """A multipart message of about size bytes: a text part and a base64 attachment.

    The attachment is pseudo-random (fixed seed) so the message is the same in every run.
    """
    rng = random.Random(seed)
    raw_size = max(1, (size - 2000) * 3 // 4 * 76 // 78)
    attachment = rng.randbytes(raw_size)
    head = (
        f"From: Boekhouding <{sender}>\r\n"
        f"To: <{recipient}>\r\n"
        "Subject: Jaaroverzicht 2026 (groot bestand)\r\n"
        "Date: Mon, 02 Feb 2026 09:30:00 +0100\r\n"
        f"Message-ID: <large-{seed}@{sender.split('@')[1]}>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="=_sg_large_boundary"\r\n'
        "\r\n"
        "--=_sg_large_boundary\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n"
        "\r\n"
        "Het jaaroverzicht staat in de bijlage.\r\n"
        "\r\n"
        "--=_sg_large_boundary\r\n"
        'Content-Type: application/octet-stream; name="jaaroverzicht-2026.bin"\r\n'
        "Content-Transfer-Encoding: base64\r\n"
        'Content-Disposition: attachment; filename="jaaroverzicht-2026.bin"\r\n'
        "\r\n"
    ).encode("ascii")
    return head + base64_lines(attachment) + b"\r\n--=_sg_large_boundary--\r\n"
