"""Whole tables for revisions that create them: one description gives both the upgrade and the downgrade.

A revision lists its tables (columns, keys, indexes) as :class:`Table` values; :func:`create` emits what
Alembic's autogenerate wrote for them (the table with its foreign keys, primary key and unique
constraints in that order, then its indexes in a batch block, which SQLite needs), and :func:`drop` undoes
it in reverse order. Constraint and index names follow the metadata's naming convention and are marked
as final (``conv``), as ``op.f`` does. Revisions are applied history: tests/migrations/test_applied_history.py
checks that the revisions written with these helpers emit the DDL they always did.

Columns are built anew each time a revision runs (a column belongs to one table object), so a revision
describes its tables in a function, not in module constants.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.sql.elements import conv
from sqlalchemy.sql.schema import SchemaItem

from relayroom.storage.types import UTCDateTime


def utc(name: str, *, nullable: bool = False) -> sa.Column[Any]:
    """A timestamp column stored in UTC (relayroom.storage.types.UTCDateTime)."""
    return sa.Column(name, UTCDateTime(timezone=True), nullable=nullable)


def serial() -> sa.Column[Any]:
    """The usual surrogate key: ``id``, an auto-incremented integer."""
    return sa.Column("id", sa.Integer(), autoincrement=True, nullable=False)


def sdkappid(*, nullable: bool = False) -> sa.Column[Any]:
    """A reference to an application by its SDKAppID."""
    return sa.Column("sdkappid", sa.BigInteger(), nullable=nullable)


@dataclass(frozen=True)
class Index:
    """A non-unique index; without a name it is the conventional ``ix_<table>_<first column>``."""

    columns: Sequence[str]
    name: str | None = None

    def name_in(self, table: str) -> str:
        return self.name if self.name is not None else conv(f"ix_{table}_{self.columns[0]}")


@dataclass(frozen=True)
class Table:
    name: str
    columns: Sequence[sa.Column[Any]]
    primary_key: Sequence[str] = ("id",)
    # (column, "table.column"): a foreign key whose rows go when the referenced row is deleted
    cascades: Sequence[tuple[str, str]] = ()
    # column groups unique together, named by convention after the group's first column
    unique: Sequence[Sequence[str]] = ()
    # any other constraint, emitted last as given
    constraints: Sequence[sa.Constraint] = ()
    indexes: Sequence[Index] = ()

    def items(self) -> list[SchemaItem]:
        fks = [
            sa.ForeignKeyConstraint(
                [column],
                [target],
                name=conv(f"fk_{self.name}_{column}_{target.split('.')[0]}"),
                ondelete="CASCADE",
            )
            for column, target in self.cascades
        ]
        pk = sa.PrimaryKeyConstraint(*self.primary_key, name=conv(f"pk_{self.name}"))
        uniques = [sa.UniqueConstraint(*cols, name=conv(f"uq_{self.name}_{cols[0]}")) for cols in self.unique]
        return [*self.columns, *fks, pk, *uniques, *self.constraints]


def create(tables: Sequence[Table]) -> None:
    for table in tables:
        op.create_table(table.name, *table.items())
        if table.indexes:
            with op.batch_alter_table(table.name, schema=None) as batch_op:
                for index in table.indexes:
                    batch_op.create_index(index.name_in(table.name), list(index.columns), unique=False)


def drop(tables: Sequence[Table]) -> None:
    for table in reversed(tables):
        if table.indexes:
            with op.batch_alter_table(table.name, schema=None) as batch_op:
                for index in reversed(table.indexes):
                    batch_op.drop_index(index.name_in(table.name))
        op.drop_table(table.name)
