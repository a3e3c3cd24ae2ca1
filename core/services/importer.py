"""Bulk roster import from .xlsx/.csv with 附件1 headers: validate every row, then all or nothing."""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Callable, Iterable

from sqlalchemy import select

from core.db.models import Account, Category, Expert
from core.db.uow import UnitOfWork
from core.enums import UNIT_NATURE_ZH, ExpertStatus, Gender, TermKind
from core.errors import DomainError, ValidationFailed
from core.forms import ApplicationForm, parse_application
from core.identity import parse_date
from core.services import audit
from core.services.accounts import ensure_account
from core.services.enrolment import form_context, start_term, write_expert

# Header label → form field (None: handled specially). Order is the export order.
COLUMNS: dict[str, str | None] = {
    "姓名": "name", "性别": "gender", "出生年月": "birth_month", "民族": "ethnicity",
    "学历/学位": "education", "身份证号": "id_number", "工作单位": "work_unit", "职务": "position",
    "职业证书及编号": "certificate", "是否在职": "employed", "单位性质": "unit_nature",
    "技术职称": "title", "职称取得时间": "title_obtained", "现从事专业": "specialty",
    "毕业院校及专业": "graduated", "通信地址": "address", "联系电话": "phone", "电子邮箱": "email",
    "专业领域": "fields", "主要工作经历": "work_history", "专业领域研究成果": "achievements",
    "任期开始": None, "Telegram ID": None,
}
OPTIONAL = {"任期开始", "Telegram ID"}
REQUIRED = [k for k in COLUMNS if k not in OPTIONAL]
NATURE_BY_LABEL = {label: nature.value for nature, label in UNIT_NATURE_ZH.items()}
GENDER_BY_LABEL = {"男": Gender.MALE.value, "女": Gender.FEMALE.value, "male": Gender.MALE.value,
                   "female": Gender.FEMALE.value, "m": Gender.MALE.value, "f": Gender.FEMALE.value}
YES = {"是", "在职", "yes", "y", "true", "1"}
NO = {"否", "不在职", "no", "n", "false", "0"}
MAX_ROWS = 20_000


@dataclass(frozen=True)
class RowError:
    line: int        # 1-based line in the sheet (the header is line 1)
    column: str      # the 附件1 header label, or "" for the whole row
    code: str
    params: dict[str, Any] = field(default_factory=dict)


class ImportFailed(DomainError):
    """Nothing was written; `errors` names every bad row and column."""

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__("import.failed", count=len(errors), rows=len({e.line for e in errors}))
        self.errors = errors


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int
    dry_run: bool


def read_table(path: Path) -> tuple[list[str], list[list[Any]]]:
    """Read the header and the rows of an .xlsx or .csv file; refuse anything else clearly."""
    if not path.is_file():
        raise DomainError("import.file_missing", path=str(path))
    data = path.read_bytes()
    if not data.strip():
        raise DomainError("import.empty")
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        rows = _read_xlsx(data)
    elif suffix == ".csv":
        rows = _read_csv(data)
    else:
        raise DomainError("import.bad_format", suffix=suffix or "(none)")
    rows = [r for r in rows if any(_cell_text(c) for c in r)]
    if not rows:
        raise DomainError("import.empty")
    header = [_cell_text(c) for c in rows[0]]
    while header and not header[-1]:
        header.pop()
    if len(rows) - 1 > MAX_ROWS:
        raise DomainError("import.too_many_rows", max=MAX_ROWS)
    return header, rows[1:]


def _read_xlsx(data: bytes) -> list[list[Any]]:
    import zipfile

    from openpyxl import load_workbook

    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise DomainError("import.not_spreadsheet", reason=type(exc).__name__) from None
    ws = wb.worksheets[0]
    rows = [list(r) for r in ws.iter_rows(values_only=True)]
    wb.close()
    return rows


def _read_csv(data: bytes) -> list[list[Any]]:
    if b"\x00" in data[:4096]:
        raise DomainError("import.not_spreadsheet", reason="binary")
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise DomainError("import.encoding")
    return [list(r) for r in csv.reader(io.StringIO(text))]


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def check_header(header: list[str]) -> dict[str, int]:
    """Map each known label to its column index; name missing and unknown columns."""
    missing = [c for c in REQUIRED if c not in header]
    unknown = [h for h in header if h and h not in COLUMNS]
    dupes = sorted({h for h in header if h and header.count(h) > 1})
    if missing or unknown or dupes:
        raise DomainError("import.header", missing="、".join(missing) or "-", unknown="、".join(unknown) or "-",
                          duplicate="、".join(dupes) or "-")
    return {h: i for i, h in enumerate(header) if h}


def _month(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return f"{value.year:04d}-{value.month:02d}"
    return _cell_text(value)


def row_to_form(cells: dict[str, Any], categories: dict[str, str]) -> tuple[dict[str, Any], list[tuple[str, str, dict[str, Any]]]]:
    """Translate sheet cells into form data; returns (data, early errors by column label)."""
    errors: list[tuple[str, str, dict[str, Any]]] = []
    data: dict[str, Any] = {}
    for label, fname in COLUMNS.items():
        if fname is None:
            continue
        raw = cells.get(label)
        if fname in ("birth_month", "title_obtained"):
            data[fname] = _month(raw) or None
        elif fname == "gender":
            g = GENDER_BY_LABEL.get(_cell_text(raw).lower())
            if g is None:
                errors.append((label, "import.gender", {"value": _cell_text(raw)}))
            data[fname] = g
        elif fname == "employed":
            v = _cell_text(raw).lower()
            if v not in YES | NO:
                errors.append((label, "import.yes_no", {"value": _cell_text(raw)}))
            data[fname] = v in YES
        elif fname == "unit_nature":
            v = NATURE_BY_LABEL.get(_cell_text(raw))
            if v is None:
                errors.append((label, "import.unit_nature", {"value": _cell_text(raw), "allowed": "、".join(NATURE_BY_LABEL)}))
            data[fname] = v
        elif fname == "fields":
            names = [n.strip() for n in _cell_text(raw).replace("；", "、").replace(";", "、").replace("，", "、").split("、") if n.strip()]
            codes = []
            for n in names:
                code = categories.get(n)
                if code is None:
                    errors.append((label, "fields.unknown", {"value": n, "allowed": "、".join(k for k, v in categories.items() if not k.isascii())}))
                else:
                    codes.append(code)
            data[fname] = codes
        else:
            data[fname] = _cell_text(raw)
    data["years_in_field"] = None
    return data, errors


@dataclass
class _Valid:
    line: int
    form: ApplicationForm
    term_start: date | None
    telegram_id: int | None


async def import_experts(
    uow: UnitOfWork,
    path: Path,
    actor: str,
    *,
    dry_run: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> ImportResult:
    """Validate every row; if any is bad raise ImportFailed (nothing written); else write all in one transaction.

    A person already in the database (same ID number) is updated, not duplicated.
    """
    header, rows = read_table(path)
    index = check_header(header)
    async with uow:
        s = uow.session
        ctx = await form_context(uow)
        cats: dict[str, str] = {}
        for c in (await s.scalars(select(Category).where(Category.active.is_(True)))).all():
            cats[c.name_zh] = cats[c.name_en] = cats[c.code] = c.code
        errors: list[RowError] = []
        valid: list[_Valid] = []
        seen: dict[str, int] = {}
        for n, row in enumerate(rows, start=2):
            cells = {label: (row[i] if i < len(row) else None) for label, i in index.items()}
            extra = [c for c in row[len(header):] if _cell_text(c)]
            if extra:
                errors.append(RowError(n, "", "import.extra_cells", {"count": len(extra)}))
            data, early = row_to_form(cells, cats)
            errors.extend(RowError(n, col, code, params) for col, code, params in early)
            form = None
            try:
                form = parse_application(data, ctx)
            except ValidationFailed as exc:
                label_of = {v: k for k, v in COLUMNS.items() if v}
                early_cols = {col for col, _, _ in early}
                for fname, code, params in exc.errors:
                    col = label_of.get(fname.split(".")[0], fname)
                    if col not in early_cols:
                        errors.append(RowError(n, col, code, params))
            term_start, tg = _optional_cells(n, cells, errors)
            if form is not None:
                if form.id_number in seen:
                    errors.append(RowError(n, "身份证号", "import.duplicate_in_file", {"line": seen[form.id_number]}))
                else:
                    seen[form.id_number] = n
                    valid.append(_Valid(n, form, term_start, tg))
        if errors:
            raise ImportFailed(errors)
        created = updated = 0
        for i, v in enumerate(valid, start=1):
            expert = await s.scalar(select(Expert).where(Expert.id_number == v.form.id_number))
            is_new = expert is None
            if expert is not None and expert.status == ExpertStatus.REMOVED:
                errors.append(RowError(v.line, "身份证号", "application.previously_removed"))
                continue
            expert = await write_expert(uow, expert, v.form)
            if is_new or v.term_start is not None:
                await start_term(uow, expert, v.term_start or uow.today(), TermKind.IMPORTED)
            if v.telegram_id is not None:
                acc = await ensure_account(uow, v.telegram_id)
                if acc.expert_id not in (None, expert.id):
                    errors.append(RowError(v.line, "Telegram ID", "import.telegram_taken"))
                    continue
                other = await s.scalar(select(Account).where(Account.expert_id == expert.id, Account.id != acc.id))
                if other is not None:
                    other.expert_id = None
                acc.expert_id = expert.id
            await audit.append(uow, actor, "expert.import", "expert", expert.id, created=is_new)
            created += is_new
            updated += not is_new
            if progress:
                progress(i, len(valid))
        if errors:
            raise ImportFailed(errors)
        if dry_run:
            await uow.rollback()
        else:
            await audit.append(uow, actor, "experts.import", "roster", None, created=created, updated=updated)
            await uow.commit()
    return ImportResult(created, updated, dry_run)


def _optional_cells(line: int, cells: dict[str, Any], errors: list[RowError]) -> tuple[date | None, int | None]:
    term_start = None
    raw = cells.get("任期开始")
    if isinstance(raw, datetime):
        term_start = raw.date()
    elif isinstance(raw, date):
        term_start = raw
    elif _cell_text(raw):
        try:
            term_start = parse_date(_cell_text(raw))
        except DomainError as exc:
            errors.append(RowError(line, "任期开始", exc.code, exc.params))
    tg = None
    raw_tg = _cell_text(cells.get("Telegram ID"))
    if raw_tg:
        if raw_tg.isdigit() and 0 < int(raw_tg) < 2**52:
            tg = int(raw_tg)
        else:
            errors.append(RowError(line, "Telegram ID", "import.telegram_id", {"value": raw_tg[:20]}))
    return term_start, tg


def export_rows(experts: Iterable[Expert], cat_names: dict[int, str]) -> list[list[Any]]:
    """Full rows with the import header (admin export; contains private fields)."""
    out: list[list[Any]] = [list(COLUMNS)]
    nature_label = {n.value: l for n, l in UNIT_NATURE_ZH.items()}
    for e in experts:
        out.append([
            e.name, "男" if e.gender == Gender.MALE else "女", f"{e.birth_month:%Y-%m}", e.ethnicity, e.education,
            e.id_number or "", e.work_unit, e.position, e.certificate, "是" if e.employed else "否",
            nature_label.get(e.unit_nature, "其他"), e.title,
            f"{e.title_obtained:%Y-%m}" if e.title_obtained else "", e.specialty, e.graduated, e.address, e.phone,
            e.email, "、".join(cat_names[ec.category_id] for ec in e.categories), e.work_history, e.achievements,
            e.term_start.isoformat() if e.term_start else "", "",
        ])
    return out
