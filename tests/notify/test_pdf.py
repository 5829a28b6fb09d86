"""Printing HTML to PDF with WeasyPrint, read back with poppler's `pdftotext`."""

import http.server
import shutil
import subprocess
import threading

import pytest

from monitor.notify.pdf import print_pdf


def pdf_text(pdf: bytes, tmp_path) -> str:
    if shutil.which("pdftotext") is None:
        pytest.fail("pdftotext (poppler-utils) is missing: PDF tests cannot run")
    path = tmp_path / "out.pdf"
    path.write_bytes(pdf)
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout


def page_count(pdf: bytes, tmp_path) -> int:
    path = tmp_path / "count.pdf"
    path.write_bytes(pdf)
    info = subprocess.run(["pdfinfo", str(path)], check=True, capture_output=True, text=True)
    line = next(line for line in info.stdout.splitlines() if line.startswith("Pages:"))
    return int(line.split()[1])


def test_every_document_starts_on_its_own_page_in_order(tmp_path):
    pdf = print_pdf(["<p>Dear Ada</p>", "<p>Dear Grace</p>"])
    assert pdf.startswith(b"%PDF")
    text = pdf_text(pdf, tmp_path)
    assert text.index("Dear Ada") < text.index("Dear Grace")
    assert page_count(pdf, tmp_path) == 2


def test_a_page_cannot_make_the_printer_fetch_anything(tmp_path):
    asked: list[str] = []

    class Recording(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "text/css")
            self.end_headers()
            self.wfile.write(b"p { color: red }")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recording)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        page = (
            f'<link rel="stylesheet" href="{base}/style.css">'
            f'<img src="{base}/logo.png"><p>Letter</p>'
        )
        pdf = print_pdf([page])
    finally:
        server.shutdown()
        server.server_close()
    assert "Letter" in pdf_text(pdf, tmp_path)
    assert asked == []  # neither the stylesheet nor the image was fetched


def test_nothing_to_print_is_an_error():
    with pytest.raises(ValueError, match="nothing to print"):
        print_pdf([])
