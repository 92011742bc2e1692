"""The public API keeps its Google-style docstrings (issue 18): every name ``epizoo`` exports, and the
other names the docs show users calling, says in ``Args:`` what each parameter is and in ``Returns:``
what comes back, so that a new parameter without a word of documentation fails here, not in review."""

from __future__ import annotations

import dataclasses
import importlib
import inspect

import pytest

import epizoo

# Beyond the lazy exports of ``epizoo``: the plugin contract (docs/writing-a-plugin.md) and the
# Python forms of ``epizoo predict`` and ``epizoo bench``.
DOCUMENTED = {
    "ModelSpec": "epizoo.zoo",
    "ModelCard": "epizoo.zoo",
    "TrainingRecipe": "epizoo.zoo",
    "write_predictions": "epizoo.inference",
    "bench": "epizoo.bench.runner",
}
PUBLIC = {**epizoo._LAZY, **DOCUMENTED}


def section(doc: str, title: str) -> str | None:
    """The body of the Google-style section ``title`` (e.g. ``Args``) of ``doc``, or None if it has none."""
    lines = doc.splitlines()
    for i, line in enumerate(lines):
        if line.strip() == f"{title}:":
            indent = len(line) - len(line.lstrip())
            body = []
            for following in lines[i + 1:]:
                # the section ends at the first non-blank line indented no deeper than its title
                if following.strip() and len(following) - len(following.lstrip()) <= indent:
                    break
                body.append(following)
            return "\n".join(body)
    return None


def documented_names(body: str) -> set[str]:
    """The names a section's entries describe (``name: ...``, ``**name: ...``)."""
    names = set()
    for line in body.splitlines():
        head, colon, _ = line.strip().partition(":")
        if colon and head and " " not in head:
            names.add(head.lstrip("*"))
    return names


def named_parameters(function) -> list[str]:
    """The parameters a caller names (``*args``/``**kwargs`` forwarded elsewhere are described in the text)."""
    skip = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    return [p.name for p in inspect.signature(function).parameters.values() if p.name != "self" and p.kind not in skip]


def returns_something(function) -> bool:
    # the modules use ``from __future__ import annotations``: the annotation is the text "None"
    return inspect.signature(function).return_annotation not in ("None", None)


def check_function(qualname: str, function) -> list[str]:
    doc = inspect.getdoc(function) or ""
    problems = []
    if not doc:
        return [f"{qualname} has no docstring"]
    wanted = named_parameters(function)
    args = section(doc, "Args")
    if wanted and args is None:
        problems.append(f"{qualname}: no Args: section")
    elif wanted:
        missing = [name for name in wanted if name not in documented_names(args)]
        if missing:
            problems.append(f"{qualname}: Args: does not describe {', '.join(missing)}")
    if returns_something(function) and section(doc, "Returns") is None:
        problems.append(f"{qualname}: no Returns: section")
    return problems


def check_class(name: str, cls) -> list[str]:
    doc = inspect.getdoc(cls) or ""
    if not doc or doc == inspect.getdoc(object):
        return [f"{name} has no docstring"]
    problems = []
    if dataclasses.is_dataclass(cls):
        attributes = section(doc, "Attributes")
        if attributes is None:
            problems.append(f"{name}: no Attributes: section")
        else:
            missing = [f.name for f in dataclasses.fields(cls) if f.name not in documented_names(attributes)]
            if missing:
                problems.append(f"{name}: Attributes: does not describe {', '.join(missing)}")
    for member, value in vars(cls).items():
        if member.startswith("_"):
            continue
        if isinstance(value, property):
            doc = inspect.getdoc(value) or ""
            if not doc or section(doc, "Returns") is None:
                problems.append(f"{name}.{member}: no Returns: section")
        elif inspect.isfunction(value):
            problems += check_function(f"{name}.{member}", value)
    return problems


def public_object(name: str):
    return getattr(importlib.import_module(PUBLIC[name]), name)


def test_the_public_api_is_the_lazy_exports_and_the_documented_names():
    assert {"open_store", "load_model", "predict_pairs", "scan", "explain"} <= set(epizoo._LAZY)
    for name in PUBLIC:
        assert callable(public_object(name)), name


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_public_name_has_google_style_docstring(name):
    obj = public_object(name)
    problems = check_class(name, obj) if inspect.isclass(obj) else check_function(name, obj)
    assert not problems, "\n".join(problems)


def test_the_checker_finds_what_is_missing():
    def undocumented(path, force=False) -> int:
        """Does something.

        Args:
            path: where.
        """

    assert check_function("f", undocumented) == ["f: Args: does not describe force", "f: no Returns: section"]

    def documented(path, *args, **kwargs) -> None:
        """Does something.

        Args:
            path: where.

        Raises:
            EpizooError: never.
        """

    assert check_function("g", documented) == []
