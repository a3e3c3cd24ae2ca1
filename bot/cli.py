"""`expertpanel` command line. Every error is one clear line on stderr and a non-zero exit."""
from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any, Awaitable, Callable, Optional, TypeVar

import typer

from core import actors
from core.bootstrap import Core, build_core, check_database
from core.config import Settings, load_settings
from core.errors import DomainError, ValidationFailed
from core.i18n import error_text, t

T = TypeVar("T")

app = typer.Typer(help="expertpanel — 生态环境保护专家库 / the bureau's expert database.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_enable=False)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
experts_app = typer.Typer(help="Experts: bulk import and full export (admins).", no_args_is_help=True)
roster_app = typer.Typer(help="The public roster (Art. 9).", no_args_is_help=True)
units_app = typer.Typer(help="Using units.", no_args_is_help=True)
contacts_app = typer.Typer(help="Using units' contacts.", no_args_is_help=True)
admins_app = typer.Typer(help="Bureau admins.", no_args_is_help=True)
supervisors_app = typer.Typer(help="Supervisors (read-only oversight, Art. 13).", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
for sub, name in ((db_app, "db"), (experts_app, "experts"), (roster_app, "roster"), (units_app, "units"),
                  (contacts_app, "contacts"), (admins_app, "admins"), (supervisors_app, "supervisors"),
                  (audit_app, "audit")):
    app.add_typer(sub, name=name)


class CliExit(Exception):
    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.message, self.code = message, code


def lang() -> str:
    try:
        return load_settings().default_language
    except DomainError:
        return "zh"


def settings() -> Settings:
    return load_settings()


def run_with_core(fn: Callable[[Core], Awaitable[T]], *, check: bool = True) -> T:
    """Build the core, check the database, run `fn`, always dispose the engine."""

    async def go() -> T:
        core = build_core(settings())
        try:
            if check:
                await check_database(core)
                from core.services import roster

                await roster.sync_categories(core.uow(), core.settings.categories)
            return await fn(core)
        finally:
            await core.close()

    return asyncio.run(go())


def say(key: str, **params: Any) -> None:
    typer.echo(t(key, lang(), **params))


# ---- db -------------------------------------------------------------------------------------

@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head", help="Target revision (default: head).")) -> None:
    """Bring the database to the latest schema (creates it if missing)."""
    from core.db.migrate import upgrade

    s = settings()
    try:
        asyncio.run(upgrade(s.database.url, revision))
    except Exception as exc:  # Alembic/driver errors: one line, not a traceback
        raise CliExit(error_text("db.upgrade_failed", lang(), reason=str(exc).splitlines()[0][:200])) from None

    async def sync(core: Core) -> None:
        from core.services import roster

        await roster.sync_categories(core.uow(), core.settings.categories)

    if revision == "head":
        run_with_core(sync, check=False)
    say("cli.db_upgraded", revision=revision)


@db_app.command("downgrade")
def db_downgrade(revision: str = typer.Argument(..., help="Target revision, e.g. base.")) -> None:
    """Undo migrations down to REVISION (for operators; destroys data when going to base)."""
    from core.db.migrate import downgrade

    asyncio.run(downgrade(settings().database.url, revision))
    say("cli.db_downgraded", revision=revision)


# ---- experts ----------------------------------------------------------------------------------

@experts_app.command("import")
def experts_import(
    file: Path = typer.Argument(..., help=".xlsx or .csv with the 附件1 header row."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Validate every row, write nothing."),
) -> None:
    """Import a roster: every row validated; any bad row → nothing written (exit 1)."""
    from core.services.importer import ImportFailed, import_experts

    async def go(core: Core) -> Any:
        with typer.progressbar(length=1, label=t("cli.importing", lang()), file=sys.stderr) as bar:
            def progress(i: int, total: int) -> None:
                bar.length = total
                bar.update(1)

            return await import_experts(core.uow(), file, actors.CLI, dry_run=dry_run, progress=progress)

    try:
        result = run_with_core(go)
    except ImportFailed as exc:
        lg = lang()
        for e in exc.errors:
            typer.echo(t("cli.import_row_error", lg, line=e.line, column=e.column or "-",
                         message=error_text(e.code, lg, **e.params)), err=True)
        raise CliExit(error_text(exc.code, lg, **exc.params), code=1) from None
    say("cli.import_dry_run" if result.dry_run else "cli.import_done", created=result.created, updated=result.updated)


@experts_app.command("export")
def experts_export(file: Path = typer.Argument(..., help="Output .xlsx or .csv (contains private fields).")) -> None:
    """Full export for admins, in the import format (round-trips)."""
    from core.services.admin_export import export_experts

    n = run_with_core(lambda core: export_experts(core.uow(), file))
    say("cli.export_done", count=n, path=str(file))


@experts_app.command("erase")
def experts_erase(
    code: str = typer.Argument(..., help="The expert's number, e.g. E000123."),
    yes: bool = typer.Option(False, "--yes", help="Confirm: this cannot be undone."),
) -> None:
    """Erase a former expert's personal data on request (PIPL Art. 47); the audit chain stays intact."""
    from core.db.models.people import parse_expert_code
    from core.services.erasure import erase_expert

    try:
        expert_id = parse_expert_code(code.strip())
    except ValueError:
        raise CliExit(t("cli.bad_expert_code", lang(), value=code), code=2) from None
    if not yes:
        raise CliExit(t("cli.erase_confirm", lang(), code=code), code=2)
    run_with_core(lambda core: erase_expert(core.uow(), expert_id, actors.CLI))
    say("cli.erase_done", code=code.strip().upper())


# ---- roster -----------------------------------------------------------------------------------

@roster_app.command("export")
def roster_export(
    format: str = typer.Option("html", "--format", help="csv | xlsx | html"),
    out: Path = typer.Option(..., "--out", help="Output file."),
    language: str = typer.Option("zh", "--lang", help="zh | en"),
) -> None:
    """The public roster: name, work unit, title, fields — nothing private."""
    from core.roster_export import write_roster
    from core.services.discipline import published
    from core.services.roster import public_roster

    async def go(core: Core) -> int:
        rows = await public_roster(core.uow())
        write_roster(rows, format, out, language, core.uow().today(), await published(core.uow()))
        return len(rows)

    n = run_with_core(go)
    say("cli.roster_done", count=n, path=str(out))


# ---- units, contacts, roles ------------------------------------------------------------------

@units_app.command("add")
def units_add(name: str, uscc: Optional[str] = typer.Option(None, "--uscc", help="Unified social credit code.")) -> None:
    """Register a using unit."""
    from core.services.accounts import add_unit

    unit = run_with_core(lambda core: add_unit(core.uow(), name, uscc, actors.CLI))
    say("cli.unit_added", id=unit.id, name=unit.name)


@contacts_app.command("add")
def contacts_add(
    unit: str = typer.Option(..., "--unit", help="The using unit's registered name."),
    telegram_id: Optional[int] = typer.Option(None, "--telegram-id", help="Bind this Telegram user now."),
    name: str = typer.Option("", "--name", help="The contact's name."),
    phone: str = typer.Option("", "--phone", help="The contact's phone."),
) -> None:
    """Register a contact; without --telegram-id prints a one-time binding code (/start CODE)."""
    from core.services.accounts import add_contact

    res = run_with_core(lambda core: add_contact(core.uow(), unit, actors.CLI, name=name, phone=phone, telegram_id=telegram_id))
    if res.code:
        say("cli.contact_code", id=res.contact_id, code=res.code)
    else:
        say("cli.contact_bound", id=res.contact_id)


@admins_app.command("add")
def admins_add(telegram_id: int) -> None:
    """Make a Telegram user a bureau admin."""
    from core.services.accounts import grant_role

    run_with_core(lambda core: grant_role(core.uow(), telegram_id, "admin", actors.CLI))
    say("cli.role_granted", role="admin", telegram_id=telegram_id)


@supervisors_app.command("add")
def supervisors_add(telegram_id: int) -> None:
    """Make a Telegram user a supervisor."""
    from core.services.accounts import grant_role

    run_with_core(lambda core: grant_role(core.uow(), telegram_id, "supervisor", actors.CLI))
    say("cli.role_granted", role="supervisor", telegram_id=telegram_id)


# ---- audit ------------------------------------------------------------------------------------

@audit_app.command("verify")
def audit_verify(head: Optional[str] = typer.Option(None, "--head", help="A head hash published earlier.")) -> None:
    """Check the chain: exit 0 when intact, 1 naming the first bad entry."""
    from core.services import audit

    res = run_with_core(lambda core: audit.verify(core.uow(), head))
    if not res.ok:
        raise CliExit(t(f"cli.audit_bad.{res.problem}", lang(), seq=res.bad_seq, count=res.count), code=1)
    say("cli.audit_ok", count=res.count, head=res.head)


@audit_app.command("head")
def audit_head() -> None:
    """Print the current head (sequence number and hash) to publish outside the database."""
    from core.services import audit

    seq, h = run_with_core(lambda core: audit.head(core.uow()))
    say("cli.audit_head", seq=seq, head=h)


def _register_commands() -> None:
    from bot.commands import draw, outbox, report, roster_publish, run, sandbox, scheduler

    for module in (run, sandbox, scheduler, outbox, report, draw):
        module.register(app)
    roster_publish.register_roster(roster_app)


_register_commands()


def main() -> None:
    """Console entry point: coded errors become one translated line and exit code 2."""
    try:
        rc = app(standalone_mode=False)
        if isinstance(rc, int) and rc:
            sys.exit(rc)
    except CliExit as exc:
        typer.echo(exc.message, err=True)
        sys.exit(exc.code)
    except ValidationFailed as exc:
        lg = lang()
        for fname, code, params in exc.errors:
            typer.echo(f"{fname}: {error_text(code, lg, **params)}", err=True)
        sys.exit(2)
    except DomainError as exc:
        typer.echo(error_text(exc.code, lang(), **exc.params), err=True)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        typer.echo(t("cli.aborted", lang()), err=True)
        sys.exit(130)
    except Exception as exc:  # click usage errors and the like
        from typer._click import exceptions as click_exceptions  # type: ignore[import-not-found]

        if isinstance(exc, click_exceptions.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, click_exceptions.Exit):
            sys.exit(exc.exit_code)
        raise
