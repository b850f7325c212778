"""The one way a test writes a systems file: `system(...)` renders a `[[systems]]` block from keyword
settings with a facts block added, `write_systems(folder, *blocks)` writes the example file's
[controller] part followed by the blocks and returns the path.

    SHOP = system(key="shop", name="Web shop", kind="sql", url="sqlite:///{instance}/shop.sqlite3",
                  tables=[{"name": "customers", "identity": {"email": "email"}}])
    app_config["SYSTEMS_FILE"] = str(write_systems(tmp_path, SHOP))

A setting that is a list of tables (dicts) becomes `[[systems.<name>]]` sections, in order; inside a
table, a dict of dicts becomes dotted keys (`fields.name = { ... }`); every other dict is an inline table.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dsr.config import example_systems_file

#: the Art. 15(1) facts every test system declares unless it says otherwise (`facts={...}` overrides keys)
FACTS: dict[str, Any] = {
    "purposes": ["Orders"],
    "legal_basis": "Contract",
    "categories": ["Orders"],
    "recipients": ["None"],
    "retention": "5 years",
    "source": "You",
}


def system(*, facts: Mapping[str, Any] | None = None, **settings: Any) -> str:
    """One `[[systems]]` block (key, name, kind and the kind's settings), ending with `[systems.facts]`."""
    sections = {name: value for name, value in settings.items() if _is_table_list(value)}
    lines = ["", "[[systems]]", *_pairs({k: v for k, v in settings.items() if k not in sections})]
    for name, tables in sections.items():
        for table in tables:
            lines += ["", f"[[systems.{name}]]", *_pairs(table)]
    lines += ["", "[systems.facts]", *_pairs({**FACTS, **(facts or {})})]
    return "\n".join(lines) + "\n"


def controller() -> str:
    """The [controller] tables of the example systems file (everything before its first [[systems]])."""
    return example_systems_file().read_text().split("[[systems]]", 1)[0]


def write_systems(folder: Path, *blocks: str) -> Path:
    """Write `folder`/systems.toml: the example's controller and the given `[[systems]]` blocks."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "systems.toml"
    path.write_text(controller() + "".join(blocks))
    return path


def _is_table_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(item, dict) for item in value)


def _pairs(table: Mapping[str, Any]) -> list[str]:
    lines = []
    for key, value in table.items():
        if isinstance(value, dict) and value and all(isinstance(inner, dict) for inner in value.values()):
            lines += [f"{key}.{name} = {_value(inner)}" for name, inner in value.items()]
        else:
            lines.append(f"{key} = {_value(value)}")
    return lines


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str | Path):
        return json.dumps(str(value), ensure_ascii=False)  # a TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_value(v)}" for k, v in value.items()) + " }" if value else "{}"
    raise TypeError(f"no TOML for {value!r}")
