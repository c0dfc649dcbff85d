"""Pulumi.yaml and the stack files: valid for the Pulumi CLI and in step with the settings model.

The CLI rules (pulumi/pulumi sdk/go/common/workspace/project.go): a project-namespaced key
declares `type` (string, integer, boolean or array; arrays declare `items`), a default of
that type; other namespaces (e.g. `pulumi:`) take a plain value or `value:`, never a type.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from components.settings import SECRET_KEYS, Settings

PROJECT = "wal-service"
TYPES: dict[str, type] = {"string": str, "integer": int, "boolean": bool, "array": list}
# Keys that differ between environments by nature: each stack sets them, Pulumi.yaml must not.
NO_DEFAULT = ("appEnv", "logLevel", "host")
ENV_WORDS = re.compile(r"(?<![a-z])(dev|development|staging|stage|prod|production)(?![a-z])", re.IGNORECASE)


def matches_type(value: Any, type_name: str, items: dict[str, Any] | None = None) -> bool:
    expected = TYPES[type_name]
    if expected is int and isinstance(value, bool):
        return False  # YAML true is not an integer
    if not isinstance(value, expected):
        return False
    if isinstance(value, list):
        assert items is not None
        return all(matches_type(item, items["type"]) for item in value)
    return True


def project_keys(project_doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {key: decl for key, decl in project_doc["config"].items() if key.startswith(f"{PROJECT}:")}


def test_runtime(project_doc: dict[str, Any]) -> None:
    assert project_doc["name"] == PROJECT
    runtime = project_doc["runtime"]
    assert runtime["name"] == "python", f"runtime {runtime}"
    assert runtime["options"]["toolchain"] == "pip", f"runtime options {runtime['options']}"
    assert runtime["options"].get("virtualenv"), f"runtime options {runtime['options']}: no virtualenv"


def test_project_keys_are_typed_and_described(project_doc: dict[str, Any]) -> None:
    keys = project_keys(project_doc)
    assert len(keys) > 30, f"only {len(keys)} wal-service keys declared"
    for key, decl in keys.items():
        assert isinstance(decl, dict), f"{key}: declare it with type/description/default, not a bare value"
        assert not set(decl) - {"type", "description", "default", "items", "secret"}, f"{key}: fields {sorted(decl)}"
        assert decl.get("type") in TYPES, f"{key}: type {decl.get('type')!r} is not one of {sorted(TYPES)}"
        assert isinstance(decl.get("description"), str) and decl["description"].strip(), f"{key}: no description"
        if decl["type"] == "array":
            items = decl.get("items")
            assert isinstance(items, dict) and items.get("type") in ("string", "integer", "boolean"), (
                f"{key}: an array needs items with a scalar type, got {items!r}"
            )
        else:
            assert "items" not in decl, f"{key}: items on a {decl['type']}"
        if "default" in decl:
            assert matches_type(decl["default"], decl["type"], decl.get("items")), (
                f"{key}: default {decl['default']!r} is not a {decl['type']}"
            )


def test_non_project_keys_carry_no_schema(project_doc: dict[str, Any]) -> None:
    others = {key: decl for key, decl in project_doc["config"].items() if not key.startswith(f"{PROJECT}:")}
    for key, decl in others.items():
        if isinstance(decl, dict):
            assert set(decl) == {"value"}, f"{key}: only `value:` is allowed outside {PROJECT}:, got {sorted(decl)}"
    disabled = others.get("pulumi:disable-default-providers")
    disabled = disabled.get("value") if isinstance(disabled, dict) else disabled
    assert isinstance(disabled, list) and {"kubernetes", "docker"} <= set(disabled), (
        f"pulumi:disable-default-providers is {disabled!r}; it must list kubernetes and docker"
    )


@pytest.mark.parametrize("stack_name", ["dev", "staging", "prod"])
def test_stack_values_match_declared_types(
    project_doc: dict[str, Any], stack_docs: dict[str, dict[str, Any]], stack_name: str
) -> None:
    keys = project_keys(project_doc)
    values = stack_docs[stack_name]
    assert values, f"Pulumi.{stack_name}.yaml has no config"
    for key, value in values.items():
        assert key in keys, f"Pulumi.{stack_name}.yaml: {key} is not declared in Pulumi.yaml"
        decl = keys[key]
        if isinstance(value, dict) and set(value) == {"secure"}:
            assert decl["type"] == "string", f"Pulumi.{stack_name}.yaml: {key} is secure but a {decl['type']}"
            continue
        assert matches_type(value, decl["type"], decl.get("items")), (
            f"Pulumi.{stack_name}.yaml: {key} = {value!r} is not a {decl['type']}"
        )
    for name in NO_DEFAULT:
        assert f"{PROJECT}:{name}" in values, f"Pulumi.{stack_name}.yaml must set {PROJECT}:{name} (no default)"


def test_declared_keys_match_the_settings_model(project_doc: dict[str, Any]) -> None:
    declared = {key.removeprefix(f"{PROJECT}:") for key in project_keys(project_doc)}
    known = {field.alias for field in Settings.model_fields.values() if field.alias} | set(SECRET_KEYS)
    assert not declared - known, f"declared in Pulumi.yaml but unknown to Settings: {sorted(declared - known)}"
    assert not known - declared, f"known to Settings but not declared in Pulumi.yaml: {sorted(known - declared)}"


def test_defaults_are_environment_agnostic(project_doc: dict[str, Any], stack_docs: dict[str, dict[str, Any]]) -> None:
    """No environment values hiding in shared defaults: each stack file says what differs."""
    keys = project_keys(project_doc)
    for name in NO_DEFAULT:
        assert "default" not in keys[f"{PROJECT}:{name}"], f"{PROJECT}:{name} has a default; each stack must set it"
    assert keys[f"{PROJECT}:featureFlags"].get("default") == [], "featureFlags default must be empty"
    # A key some stack overrides is environment-specific: its default must not name an environment.
    overridden = {key for values in stack_docs.values() for key in values} | {
        f"{PROJECT}:{name}" for name in ("appEnv", "logLevel", "host", "featureFlags", "namespace", "tlsSecretName")
    }
    for key in sorted(overridden & set(keys)):
        default = keys[key].get("default")
        for item in default if isinstance(default, list) else [default]:
            if isinstance(item, str):
                assert not ENV_WORDS.search(item), f"{key}: default {item!r} names an environment"
