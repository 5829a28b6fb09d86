"""`monitor token add|list|revoke`: bearer tokens for the FHIR API (administrators' commands:
whoever can run the CLI on the database can make them)."""

from __future__ import annotations

from typing import Annotated

import typer

from monitor import clock
from monitor.cli.context import cli_actor, print_json, reports_errors, state
from monitor.cli.root import command_group
from monitor.services.access.tokens import add_token, list_tokens, revoke_token

token_app = command_group("API tokens for the FHIR API.", no_args_is_help=True)


@token_app.command("add")
@reports_errors
def token_add(
    ctx: typer.Context,
    name: str,
    scope: Annotated[list[str], typer.Option("--scope", help="fhir:read (repeatable)")],
    by: Annotated[str | None, typer.Option("--by", help="who asked for it (audit)")] = None,
) -> None:
    """Make a token and print it once: only its SHA-256 is kept, it cannot be shown again."""
    with state(ctx).session() as session:
        token = add_token(
            session, name=name, scopes=scope, actor=by or cli_actor(), now=clock.now_utc()
        )
    typer.echo(token)
    typer.echo(f"token {name.strip()} made; keep it now, it is not shown again", err=True)


@token_app.command("list")
@reports_errors
def token_list(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Every token by name, with its scopes, maker, and when it was last used or revoked."""
    with state(ctx).session() as session:
        rows = list_tokens(session)
    if as_json:
        print_json(
            [
                {
                    "name": r.name,
                    "scopes": list(r.scopes),
                    "created_at": r.created_at.isoformat(),
                    "created_by": r.created_by,
                    "revoked_at": r.revoked_at.isoformat() if r.revoked_at else None,
                    "last_used_at": r.last_used_at.isoformat() if r.last_used_at else None,
                }
                for r in rows
            ]
        )
        return
    if not rows:
        typer.echo("no tokens")
    for r in rows:
        state_words = f"revoked {r.revoked_at:%Y-%m-%d %H:%M}" if r.revoked_at else "active"
        used = f"last used {r.last_used_at:%Y-%m-%d %H:%M}" if r.last_used_at else "never used"
        typer.echo(f"{r.name}  {' '.join(r.scopes)}  {state_words}  {used}  by {r.created_by}")


@token_app.command("revoke")
@reports_errors
def token_revoke(ctx: typer.Context, name: str) -> None:
    """Revoke a token: the next request with it is refused (401)."""
    with state(ctx).session() as session:
        revoke_token(session, name=name, actor=cli_actor(), now=clock.now_utc())
    typer.echo(f"revoked {name.strip()}")


def register(app: typer.Typer) -> None:
    app.add_typer(token_app, name="token")
