"""The public API is documented the Google way (Args / Returns / Raises), which the API reference renders.

Public means: every name in the `__all__` of a module the documentation site's API reference lists
(`PUBLIC_MODULES`). A function or method with parameters needs an `Args:` section naming each of them, one
that returns something needs `Returns:` (or `Yields:`); a class whose own `__init__` takes arguments needs
`Args:` (or, for a dataclass, `Attributes:`). A method that overrides a documented parent method (an
adapter's `encode`, a Lightning hook) inherits its parent's docstring, as the API reference shows it.
"""

from __future__ import annotations

import dataclasses
import doctest
import importlib
import inspect
import re
from collections.abc import Callable, Iterator

import pytest

PUBLIC_MODULES = [
    "interp",
    "interp.explainers",
    "interp.adapters",
    "interp.callbacks",
    "interp.callbacks.extraction",
    "interp.training",
    "interp.files.plotting",
    "interp.models.loading",
    "interp.models.pretrained",
    "interp.testing.stand_ins",
]
SECTION = re.compile(r"^(Args|Arguments|Returns|Yields|Raises|Attributes|Example|Examples|Note|Notes):\s*$", re.M)
SKIPPED_PARAMETERS = {"self", "cls", "args", "kwargs"}


def sections(doc: str) -> dict[str, str]:
    """The docstring's sections by title, each with its body (up to the next section)."""
    found = list(SECTION.finditer(doc))
    return {m.group(1): doc[m.end() : (found[i + 1].start() if i + 1 < len(found) else len(doc))] for i, m in enumerate(found)}


def documented_names(section: str) -> set[str]:
    return set(re.findall(r"^\s{2,}\**([A-Za-z_][A-Za-z0-9_]*)\s*(?:\(.*?\))?:", section, flags=re.M))


def parent_documents(owner: type, name: str) -> bool:
    for base in owner.__mro__[1:]:
        if base is object:
            continue
        member = base.__dict__.get(name)
        if member is not None and (getattr(member, "__doc__", None) or "").strip():
            return True
    return False


def problems_of_function(qualname: str, function: Callable, *, doc: str | None = None) -> Iterator[str]:
    """Gaps in a function's docstring (or in `doc`, read in its place)."""
    doc = (inspect.getdoc(function) or "") if doc is None else doc
    if not doc:
        yield f"{qualname}: no docstring"
        return
    found = sections(doc)
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return
    parameters = [
        name
        for name, parameter in signature.parameters.items()
        if name not in SKIPPED_PARAMETERS and parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
    ]
    if parameters:
        args = found.get("Args", found.get("Arguments"))
        if args is None:
            yield f"{qualname}: no Args section"
        else:
            absent = [name for name in parameters if name not in documented_names(args)]
            if absent:
                yield f"{qualname}: Args does not name {absent}"
    returns = signature.return_annotation
    if function.__name__ != "__init__" and returns not in (None, "None", inspect.Signature.empty):
        if "Returns" not in found and "Yields" not in found:
            yield f"{qualname}: no Returns section"


def problems_of_class(qualname: str, cls: type) -> Iterator[str]:
    doc = (cls.__doc__ or "").strip()
    if not doc:
        yield f"{qualname}: no docstring"
        return
    init = cls.__dict__.get("__init__")
    if init is not None and inspect.isfunction(init):
        init_doc = inspect.cleandoc(init.__doc__ or "")
        class_sections = sections(inspect.cleandoc(doc))
        if dataclasses.is_dataclass(cls):
            fields = [f.name for f in dataclasses.fields(cls) if f.init]
            attributes = class_sections.get("Attributes", class_sections.get("Args"))
            if fields and attributes is None:
                yield f"{qualname}: a dataclass without an Attributes section"
            elif fields:
                absent = [name for name in fields if name not in documented_names(attributes or "")]
                if absent:
                    yield f"{qualname}: Attributes does not name {absent}"
        else:
            merged = inspect.cleandoc(doc) + "\n" + init_doc  # Args may sit on the class or on __init__
            yield from problems_of_function(qualname, init, doc=merged)
    for name, member in vars(cls).items():
        if name.startswith("_"):
            continue
        function = member.__func__ if isinstance(member, (staticmethod, classmethod)) else member
        if not inspect.isfunction(function):
            continue
        if not (function.__doc__ or "").strip() and parent_documents(cls, name):
            continue  # inherits the parent's docstring
        if (function.__doc__ or "").strip() and parent_documents(cls, name) and not sections(inspect.getdoc(function) or ""):
            continue  # a one-line note on an override; the parent documents the arguments
        yield from problems_of_function(f"{qualname}.{name}", function)


def public_objects() -> Iterator[tuple[str, object]]:
    seen: set[int] = set()
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            value = getattr(module, name)
            if id(value) in seen or not (inspect.isclass(value) or inspect.isfunction(value)):
                continue
            if not getattr(value, "__module__", "").startswith("interp"):
                continue
            seen.add(id(value))
            yield f"{module_name}.{name}", value


def test_every_public_module_lists_its_api():
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        assert module.__all__, module_name
        assert (module.__doc__ or "").strip(), f"{module_name} has no module docstring"


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_public_api_has_google_docstrings(module_name):
    module = importlib.import_module(module_name)
    problems: list[str] = []
    for qualname, value in public_objects():
        if not qualname.startswith(module_name + ".") or qualname.count(".") != module_name.count(".") + 1:
            continue
        if inspect.isclass(value):
            problems.extend(problems_of_class(qualname, value))
        else:
            problems.extend(problems_of_function(qualname, value))
    assert not problems, f"{len(problems)} gaps in {module.__name__}'s docstrings:\n" + "\n".join(problems)


def test_the_check_finds_gaps():
    """The rules themselves: a function without Args, a class without them, and a complete one."""

    def bare(x: int) -> int:
        """Adds one."""
        return x + 1

    def complete(x: int) -> int:
        """Adds one.

        Args:
            x: a number.

        Returns:
            x + 1.
        """
        return x + 1

    class Undocumented:
        """A class."""

        def __init__(self, size: int) -> None:
            self.size = size

    assert list(problems_of_function("bare", bare)) == ["bare: no Args section", "bare: no Returns section"]
    assert list(problems_of_function("complete", complete)) == []
    assert list(problems_of_class("Undocumented", Undocumented)) == ["Undocumented: no Args section"]


def docstring_examples() -> list[doctest.DocTest]:
    finder = doctest.DocTestFinder(exclude_empty=True)
    tests: dict[str, doctest.DocTest] = {}
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            value = getattr(module, name)
            if getattr(value, "__module__", "").startswith("interp") and (inspect.isclass(value) or inspect.isfunction(value)):
                for test in finder.find(value, name=f"{value.__module__}.{value.__qualname__}", globs={}):
                    if test.examples:
                        tests[test.name] = test
    return [tests[name] for name in sorted(tests)]


@pytest.mark.parametrize("example", docstring_examples(), ids=lambda test: test.name)
def test_docstring_examples_run(example, tmp_path, monkeypatch):
    """The `>>>` examples in the public docstrings run and print what they claim (doctest)."""
    monkeypatch.chdir(tmp_path)  # an example that writes a file writes it here
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    runner.run(example)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{example.name}: {result.failed} of {result.attempted} examples failed"
