"""CSV (one table) and XLSX (every table, one sheet each) of a :class:`Report`.

Values are written as numbers where they are numbers (shares as fractions 0…1, times in
seconds, days as dates), so a spreadsheet can compute with them; headers are translated.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from typing import Any

from openpyxl import Workbook
from openpyxl.utils import get_column_letter

from allsang.analytics.figures import Report, Table, headline_items
from allsang.i18n import gettext as _

# A cell starting with one of these is a formula to spreadsheet programs (CSV injection).
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA):
        return "'" + value
    return value


def table_csv(table: Table) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([_(c.label) for c in table.columns])
    for row in table.rows:
        writer.writerow(
            ["" if v is None else v.isoformat() if isinstance(v, date) else _cell(v) for v in row]
        )
    return out.getvalue()


def _sheet_title(title: str, used: set[str]) -> str:
    # Excel: at most 31 characters, none of []:*?/\ , unique in the workbook.
    base = re.sub(r"[\[\]:*?/\\]", " ", title)[:28].strip() or "Sheet"
    name, n = base, 2
    while name.lower() in used:
        name, n = f"{base[:26]} {n}", n + 1
    used.add(name.lower())
    return name


def report_xlsx(report: Report) -> bytes:
    """The report as an XLSX workbook: a summary sheet, then one sheet per table."""
    book = Workbook()
    summary = book.active
    assert summary is not None
    used: set[str] = set()
    summary.title = _sheet_title(_("Summary"), used)
    summary.append([_("Period"), report.filters.first, report.filters.last])

    for label, value, _kind in headline_items(report):
        summary.append([_(label), value])
    for table in report.tables:
        sheet = book.create_sheet(_sheet_title(_(table.title), used))
        sheet.append([_(c.label) for c in table.columns])
        for row in table.rows:
            sheet.append([_cell(v) for v in row])
        for number, column in enumerate(table.columns, start=1):
            letter = get_column_letter(number)
            sheet.column_dimensions[letter].width = max(12, min(40, len(_(column.label)) + 2))
            if column.kind == "percent":
                for (cell,) in sheet.iter_rows(min_row=2, min_col=number, max_col=number):
                    cell.number_format = "0.0%"
            elif column.kind == "date":
                for (cell,) in sheet.iter_rows(min_row=2, min_col=number, max_col=number):
                    cell.number_format = "yyyy-mm-dd"
        sheet.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
