"""What deployment files may set: RELAYROOM_* variables that name a field of the settings model."""

from __future__ import annotations

import re
from collections.abc import Mapping

from pydantic import BaseModel

from relayroom.config import Settings

# Read by load_settings itself, not fields of the model.
NOT_FIELDS = {"RELAYROOM_CONFIG"}


def unknown_setting(name: str) -> str | None:
    """Why ``name`` is not a RELAYROOM_* setting, or None when it is one (nested with ``__``)."""
    if name in NOT_FIELDS:
        return None
    if not name.startswith("RELAYROOM_"):
        return f"{name} does not start with RELAYROOM_"
    parts = name.removeprefix("RELAYROOM_").lower().split("__")
    model: type[BaseModel] = Settings
    for i, part in enumerate(parts):
        field = model.model_fields.get(part)
        if field is None:
            return f"{name}: {model.__name__} has no setting {part!r}"
        if i < len(parts) - 1:
            inner = field.annotation
            if not (isinstance(inner, type) and issubclass(inner, BaseModel)):
                return f"{name}: {part!r} has no nested settings"
            model = inner
    return None


_VAR = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?-)(?P<default>[^}]*))?\}")


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """Compose's ${NAME}, ${NAME:-default}, ${NAME-default} and $$."""

    def one(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name, op, default = m["name"], m["op"], m["default"] or ""
        if op == ":-":
            return env.get(name) or default
        if op == "-":
            return env.get(name, default)
        if name not in env:
            raise KeyError(f"${{{name}}} has no value and no default")
        return env[name]

    return _VAR.sub(one, value)


def image_settings() -> dict[str, str]:
    """The RELAYROOM_* variables the image's final stage sets (ENV in the Dockerfile)."""
    from pathlib import Path

    from dockerfile_parse import DockerfileParser

    dockerfile = Path(__file__).resolve().parents[2] / "Dockerfile"
    envs: dict[str, str] = DockerfileParser(path=str(dockerfile)).envs
    return {k: v for k, v in envs.items() if k.startswith("RELAYROOM_")}
