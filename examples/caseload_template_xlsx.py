"""Write `caseload-template.xlsx` beside this script from `caseload-template.csv` (the same
rows; dates as text cells, as a clinic's export would hold them). The .xlsx is generated, not
kept in git:

    python examples/caseload_template_xlsx.py [OUT.xlsx]
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

from openpyxl import Workbook

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE / "caseload-template.csv"


def write_template_xlsx(out: Path, source: Path = TEMPLATE) -> Path:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "caseload"
    with source.open(newline="", encoding="utf-8") as handle:
        for row in csv.reader(handle):
            sheet.append(row)
    workbook.save(out)
    return out


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "caseload-template.xlsx"
    print(write_template_xlsx(target))
