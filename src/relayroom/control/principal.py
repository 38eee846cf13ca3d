"""Who is calling: a console user (with account roles) or the system itself."""

from __future__ import annotations

from dataclasses import dataclass, field

from relayroom.control.errors import Forbidden, NotFound
from relayroom.storage.models import Role


@dataclass(frozen=True)
class Principal:
    actor: str  # "user:<id>", "credential:<SecretId>", "system"
    user_id: str | None = None
    username: str | None = None
    is_admin: bool = False
    roles: dict[str, Role] = field(default_factory=dict)  # account_id -> role

    def role_in(self, account_id: str) -> Role:
        """Non-members get 404, not 403: another account's objects are not even acknowledged."""
        role = self.roles.get(account_id)
        if role is None:
            raise NotFound("no such account")
        return role

    def require_owner(self, account_id: str) -> None:
        if self.role_in(account_id) is not Role.OWNER:
            raise Forbidden("only an owner of the account may do this")


SYSTEM = Principal(actor="system", is_admin=True)
