from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from relayroom.storage.models import Role


class LoginIn(BaseModel):
    username: str = Field(max_length=128)
    password: str = Field(max_length=1024)


class UserOut(BaseModel):
    id: str
    username: str
    is_admin: bool


class AccountRoleOut(BaseModel):
    id: str
    name: str | None
    role: Role
    created_at: datetime


class LoginOut(BaseModel):
    token: str
    expires_at: str | None
    user: UserOut


class MeOut(BaseModel):
    user: UserOut
    accounts: list[AccountRoleOut]


class AccountCreateIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    owner_username: str | None = Field(default=None, description="defaults to the caller")


class AccountUpdateIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)


class MemberIn(BaseModel):
    username: str = Field(max_length=128)
    role: Role = Role.MEMBER
    password: str | None = Field(default=None, max_length=1024, description="creates the user when given")


class MemberRoleIn(BaseModel):
    role: Role


class MemberOut(BaseModel):
    user_id: str
    username: str
    role: Role
    since: datetime


class UserCreateIn(BaseModel):
    username: str = Field(max_length=128)
    password: str = Field(max_length=1024)
    is_admin: bool = False
