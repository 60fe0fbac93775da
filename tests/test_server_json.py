"""server.json is what the MCP Registry accepts: its published schema, and the checks beyond it."""

from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path

import jsonschema

ROOT = Path(__file__).parents[1]
SCHEMA = ROOT / "tests" / "fixtures" / "mcp_registry" / "server.schema.json"
SCHEMA_SHA256 = "3fba09590c99f61735d234822279f4223fab9e300c0a81e81c91ab62a4114de0"  # the published file


def _server() -> dict[str, object]:
    data = json.loads((ROOT / "server.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_the_stored_schema_is_the_published_one() -> None:
    assert hashlib.sha256(SCHEMA.read_bytes()).hexdigest() == SCHEMA_SHA256


def test_server_json_passes_the_registry_schema() -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    server = _server()
    assert server["$schema"] == schema["$id"]  # the current schema version, not an older one
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(server)]
    assert not errors, errors


def test_the_schema_check_catches_what_the_registry_refuses() -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    too_long = {**_server(), "description": "x" * 101}
    assert not jsonschema.Draft7Validator(schema).is_valid(too_long)


def test_server_json_matches_the_package_and_the_readme() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    server = _server()
    (package,) = server["packages"]  # type: ignore[misc]
    assert package["registryType"] == "pypi" and package["identifier"] == project["name"]
    assert package["version"] == server["version"] == project["version"]
    # PyPI packages prove ownership with this line in the package's README (the PyPI description).
    readme = (ROOT / project["readme"]).read_text(encoding="utf-8")
    assert f"mcp-name: {server['name']}" in readme
    for variable in package["environmentVariables"]:
        assert f"`{variable['name']}" in readme, variable["name"]  # documented in the configuration table
