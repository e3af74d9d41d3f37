"""config/example.toml documents every setting the configuration models accept,
each with a comment, and loads as it is (with the files it points to)."""

from __future__ import annotations

import re
import tomllib
import typing
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from pos_app.providers import registry
from pos_app.config import DEFAULT_KEYS, PROJECT_ROOT, Config, load_catalog, load_config
from pos_app.services.setup import open_till
from tests.conftest import MemoryKeyring

EXAMPLE = PROJECT_ROOT / "config" / "example.toml"
INTERNAL = {"source"}  # set by load_config, not by the file
HEADER = re.compile(r"^\[([^\]]+)\]\s*(#.*)?$")
TABLES = re.compile(r"^\[\[([^\]]+)\]\]\s*(#.*)?$")  # an array of tables: [[providers.csq.products]]
SETTING = re.compile(r"^(#\s*)?([A-Za-z_][A-Za-z0-9_]*)\s*=(.*)$")


def settings_in_example() -> dict[str, dict[str, tuple[int, bool]]]:
    """section ("" = top level) -> key -> (line index, commented out)."""
    found: dict[str, dict[str, tuple[int, bool]]] = {"": {}}
    section = ""
    repeated: set[str] = set()
    for index, line in enumerate(EXAMPLE.read_text(encoding="utf-8").splitlines()):
        tables = TABLES.match(line)
        if tables:  # each table of the array lists the same keys: the first one counts
            section = tables.group(1)
            found.setdefault(section, {})
            repeated.add(section)
            continue
        header = HEADER.match(line)
        if header:
            section = header.group(1)
            assert section not in found, f"[{section}] twice"
            found[section] = {}
            continue
        setting = SETTING.match(line)
        if setting:
            key = setting.group(2)
            if section in repeated and key in found[section]:
                continue
            assert key not in found[section], f"[{section}] {key} twice"
            found[section][key] = (index, setting.group(1) is not None)
    return found


def expected() -> dict[str, dict[str, FieldInfo]]:
    """Walk the models: section -> field name -> its pydantic field."""
    wanted: dict[str, dict[str, FieldInfo]] = {"": {}}
    found = settings_in_example()
    for name, field in Config.model_fields.items():
        if name in INTERNAL:
            continue
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            wanted[name] = dict(annotation.model_fields)
        elif typing.get_origin(annotation) is dict:
            value_type = typing.get_args(annotation)[1]
            if isinstance(value_type, type) and issubclass(value_type, BaseModel):  # [providers.<name>]
                tables = [s for s in found if s.startswith(f"{name}.")]
                assert tables, f"no [{name}.<name>] section in the example"
                for table in tables:  # each provider's own settings model (JTL adds token_url)
                    if table.count(".") > 1:
                        continue  # a provider's own array of tables, added below
                    model = registry.descriptor(table.split(".", 1)[1]).settings_model \
                        if name == "providers" else value_type
                    wanted[table] = dict(model.model_fields)
                    for key, sub_field in model.model_fields.items():  # [[providers.csq.products]]
                        item = typing.get_args(sub_field.annotation)
                        if f"{table}.{key}" in found and item and isinstance(item[0], type) \
                                and issubclass(item[0], BaseModel):
                            wanted[table].pop(key)
                            wanted[f"{table}.{key}"] = dict(item[0].model_fields)
            else:  # [keys]: action = "key"
                wanted[name] = {action: FieldInfo(annotation=str, default=key) for action, key in DEFAULT_KEYS.items()}
        else:
            wanted[""][name] = field
    return wanted


def test_every_setting_is_in_the_example() -> None:
    found = settings_in_example()
    missing = [f"[{section}] {key}" if section else key
               for section, fields in expected().items() for key in fields
               if key not in found.get(section, {})]
    assert missing == [], f"config/example.toml lacks: {', '.join(missing)}"


def test_the_example_names_no_setting_that_does_not_exist() -> None:
    wanted = expected()
    unknown = [f"[{section}] {key}" for section, keys in settings_in_example().items()
               for key in keys if key not in wanted.get(section, {})]
    assert unknown == []


def test_every_setting_in_the_example_has_a_comment() -> None:
    """A comment after the value, or one heading the setting's group (the
    settings written one under the other, without a blank line)."""
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    bare = []
    for section, keys in settings_in_example().items():
        for key, (index, commented) in keys.items():
            line = lines[index].lstrip("#").strip() if commented else lines[index]
            if "#" in line.split("=", 1)[1]:
                continue
            above = index - 1
            while above >= 0 and lines[above].strip() and SETTING.match(lines[above]):
                above -= 1
            if above < 0 or not lines[above].startswith("#"):
                bare.append(f"[{section}] {key}")
    assert bare == []


def _default(field: FieldInfo) -> Any:
    if field.default_factory is not None:
        return None
    return field.get_default()


def test_a_commented_out_setting_shows_its_default() -> None:
    """`# key = value` is the default, or an example for a setting without one."""
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    wanted = expected()
    wrong = []
    for section, keys in settings_in_example().items():
        for key, (index, commented) in keys.items():
            if not commented:
                continue
            value = tomllib.loads(lines[index].lstrip("#").strip())[key]
            default = _default(wanted[section][key])
            if default is None or default is ...:
                continue
            if isinstance(default, Path):
                default = str(default)
            if value != default:
                wrong.append(f"[{section}] {key} = {value!r} (default {default!r})")
    assert wrong == []


def test_the_example_loads_with_the_files_it_names(memory_keyring: MemoryKeyring) -> None:
    config = load_config(EXAMPLE)
    assert not config.demo and config.printer.kind == "network"
    assert len(load_catalog(config.catalog.path, config.outlet.currency)) >= 8
    till = open_till(config)  # templates, printer, journal (in the test's data folder), providers
    try:
        assert till.journal.path.is_relative_to(config.data_dir())
        assert set(till.providers) == {"eguma"}
    finally:
        till.journal.close()


@pytest.mark.parametrize("section", sorted(s for s in expected() if s))
def test_every_section_is_in_the_example(section: str) -> None:
    assert section in settings_in_example()
