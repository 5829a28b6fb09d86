"""Email addresses: the one check for every address the program sends to or from.

The standard library's header parser (the one `email` uses to build messages) reads the address;
an address is accepted only when it parses as exactly one mailbox with no defect, has an ASCII
local part and a host name of letters, digits and hyphens, and fits RFC 5321's limits (64
characters before the `@`, 254 in all). No CR, LF or other control character can get through,
so no address can inject a header.

Why not `email-validator`: it refuses the special-use domains `.local` and `.invalid` outright.
Hospital mail relays often live under `.local`, and the shipped defaults use `.invalid` on
purpose so that nothing is delivered until a clinic sets its own addresses (docs/decisions.md).
"""

from __future__ import annotations

import re
from email.errors import HeaderParseError
from email.headerregistry import Address, AddressHeader, HeaderRegistry

from monitor.domain.fields import line_problem
from monitor.errors import Field, FieldError

MAX_ADDRESS = 254
MAX_LOCAL_PART = 64
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_PARSE = HeaderRegistry()


def address_problem(value: str, *, display_name: bool = False) -> str | None:
    """Why `value` is not one usable address (`Name <addr>` too when `display_name`), or None."""
    problem = line_problem(value, 2 * MAX_ADDRESS)
    if problem is not None:
        return problem
    mailbox = _one_mailbox(value)
    if mailbox is None:
        return "is not an email address"
    if not display_name and mailbox.addr_spec != value.strip():
        return "must be a bare address such as name@clinic.example (no name or <>)"
    return _mailbox_problem(mailbox)


def checked_address(value: str, field: Field | str) -> str:
    """A bare address, stripped; a FieldError naming `field` otherwise (see `checked_line`)."""
    stripped = value.strip()
    problem = address_problem(stripped)
    if problem is not None:
        raise FieldError(field, f" {stripped[:80]!r} {problem}")
    return stripped


def _one_mailbox(value: str) -> Address | None:
    try:
        header = _PARSE("To", value)
    except (HeaderParseError, ValueError, IndexError, TypeError):
        return None
    if not isinstance(header, AddressHeader):
        return None
    if header.defects or len(header.groups) != 1 or value.rstrip()[-1:] in (",", ";"):
        return None
    (group,) = header.groups
    if group.display_name is not None or len(group.addresses) != 1:
        return None  # `group: a@b;` syntax
    (mailbox,) = group.addresses
    return mailbox if isinstance(mailbox, Address) else None


def _mailbox_problem(mailbox: Address) -> str | None:
    local, domain = mailbox.username, mailbox.domain
    if not local or not domain:
        return "is not an email address"
    if not local.isascii() or len(local) > MAX_LOCAL_PART:
        return f"must have an ASCII part of at most {MAX_LOCAL_PART} characters before the @"
    if len(mailbox.addr_spec) > MAX_ADDRESS:
        return f"must have at most {MAX_ADDRESS} characters"
    if len(domain) > 253 or not all(_LABEL.fullmatch(label) for label in domain.split(".")):
        return "must end in a host name of letters, digits and hyphens (IDN in its xn-- form)"
    return None
