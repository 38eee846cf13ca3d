from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class CredentialOut(BaseModel):
    secret_id: str
    account_id: str
    enabled: bool
    created_at: datetime
    last_used_at: datetime | None


class CredentialCreatedOut(CredentialOut):
    secret_key: str = Field(description="shown once; it cannot be read again")
