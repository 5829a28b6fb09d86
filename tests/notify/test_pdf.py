"""Printing HTML to PDF with WeasyPrint, read back with poppler's `pdftotext`."""

import shutil
import subprocess

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
    secret = tmp_path / "secret.css"
    secret.write_text("body { color: red }")
    pdf = print_pdf([f'<link rel="stylesheet" href="file://{secret}"><p>Letter</p>'])
    assert "Letter" in pdf_text(pdf, tmp_path)


def test_nothing_to_print_is_an_error():
    with pytest.raises(ValueError, match="nothing to print"):
        print_pdf([])
