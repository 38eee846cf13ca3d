"""Ages of digital consent by jurisdiction, loaded from data (consent_ages.json), never hard-coded."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

_ISO = re.compile(r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$")


@dataclass(frozen=True)
class Threshold:
    age: int
    jurisdiction: str  # the row used: "DE", "CA-QC", or "default:unknown" / "default:known_unlisted"
    basis: str
    status: str


@dataclass(frozen=True)
class ConsentAgeTable:
    version: str
    rows: dict[str, dict[str, Any]]
    defaults: dict[str, dict[str, Any]]

    def threshold(self, jurisdiction: str | None) -> Threshold:
        """Exact ISO 3166-2 row, else its country, else 16 if the code is well-formed, else 18."""
        code = (jurisdiction or "").strip().upper()
        if code and _ISO.match(code):
            for candidate in (code, code.split("-")[0]):
                row = self.rows.get(candidate)
                if row is not None:
                    return Threshold(int(row["age"]), candidate, str(row["basis"]), str(row["status"]))
            d = self.defaults["known_unlisted"]
            return Threshold(int(d["age"]), "default:known_unlisted", str(d["basis"]), "recommendation")
        d = self.defaults["unknown"]
        return Threshold(int(d["age"]), "default:unknown", str(d["basis"]), "recommendation")

    def as_dict(self) -> dict[str, Any]:
        return {"version": self.version, "defaults": self.defaults, "jurisdictions": list(self.rows.values())}


@cache
def load_table() -> ConsentAgeTable:
    data = resources.files("relayroom.control.privacy").joinpath("data/consent_ages.json")
    raw = data.read_text(encoding="utf-8")
    doc = json.loads(raw)
    return ConsentAgeTable(
        version=str(doc["version"]),
        rows={r["code"]: r for r in doc["jurisdictions"]},
        defaults=doc["defaults"],
    )
