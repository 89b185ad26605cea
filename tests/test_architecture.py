"""Layers import only downward (docs/architecture.md). Every import in product code, including
imports inside functions, is checked against the layer order below."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("editfactory", "media_pipeline", "jobs", "core")

# Top to bottom. A module may import its own layer and the layers below it, never one above.
LAYERS = [
    ("project", ("editfactory",)),
    ("library domain", ("media_pipeline.library", "media_pipeline")),
    ("job types", ("media_pipeline.jobtypes",)),
    ("engine", ("jobs",)),
    ("shared plumbing", ("core",)),
    ("media operations", ("media_pipeline.ops",)),
]
# The pure media operations use no models, no ORM and no engine: of Django, only settings.
OPS_DJANGO_ALLOWED = ("django.conf",)


def layer_of(module: str) -> int | None:
    """The index of the most specific layer whose prefix names `module` (None: not ours)."""
    best = None
    for index, (_name, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                if best is None or len(prefix) > best[1]:
                    best = (index, len(prefix))
    return best[0] if best else None


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(source: str, module: str, is_package: bool) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import, relative ones resolved."""
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join(filter(None, [*parts, base]))
            # `from pkg import sub` may name a submodule: check the most specific reading.
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


def violations(source: str, module: str, *, is_package: bool = False) -> list[str]:
    own = layer_of(module)
    problems = []
    for line, target in imported_modules(source, module, is_package):
        if own is not None and LAYERS[own][0] == "media operations":
            if target.startswith("django.") and not target.startswith(OPS_DJANGO_ALLOWED):
                problems.append(f"{module}:{line} imports {target} (media operations use no ORM)")
        theirs = layer_of(target)
        if own is not None and theirs is not None and theirs < own:
            problems.append(
                f"{module}:{line} ({LAYERS[own][0]}) imports {target} ({LAYERS[theirs][0]})"
            )
    return problems


def product_files():
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path


def test_every_product_module_imports_only_downward():
    problems = []
    for path in product_files():
        problems += violations(
            path.read_text(), module_name(path), is_package=path.name == "__init__.py"
        )
    assert problems == []


def test_product_modules_are_found():
    names = {module_name(p) for p in product_files()}
    assert {"jobs.runner", "media_pipeline.ops.probe", "core.apierrors"} <= names


@pytest.mark.parametrize(
    "module, source",
    [
        ("jobs.services", "from media_pipeline.library.models import Clip"),
        ("jobs.cleanup", "def f():\n    from editfactory.api import api\n"),
        ("core.auth", "from jobs.models import Job"),
        ("media_pipeline.ops.render", "from media_pipeline.jobtypes import render_clip"),
        ("media_pipeline.ops.probe", "from django.db import models"),
        ("media_pipeline.jobtypes.tts", "from ..library import models"),
        ("media_pipeline.jobtypes.tts", "from media_pipeline import library"),
    ],
)
def test_an_upward_import_is_a_violation(module, source):
    assert violations(source, module)


@pytest.mark.parametrize(
    "module, source",
    [
        ("editfactory.api", "from media_pipeline.library.api import router"),
        ("media_pipeline.library.projects", "from jobs import services"),
        ("media_pipeline.jobtypes.tts", "from ..ops.tts import synthesis"),
        ("jobs.api", "from core.auth import API_AUTH"),
        ("media_pipeline.ops.ffmpeg_bin", "from django.conf import settings"),
    ],
)
def test_a_downward_import_is_allowed(module, source):
    assert violations(source, module) == []


def test_a_fresh_process_registers_every_job_type():
    """Apps register their job types at start-up; nothing may rely on a test having imported a
    handler module first (the library's types were once missing in real processes)."""
    out = _fresh_django_process(
        "from jobs.registry import job_type_names; print(','.join(job_type_names()))",
        settings="editfactory.settings_test",
    )
    names = set(out.split(","))
    library = {"project_generate", "clip_render", "segment_extract", "clip_remove_audio"}
    assert library | {"probe", "render_clip", "tts", "process"} <= names


# Libraries only some job types use (~45 MB): imported where they are used, when they run.
HEAVY_LIBRARIES = ["numpy", "PIL", "httpx", "jwt", "edge_tts", "aiohttp", "rapidfuzz"]


def _fresh_django_process(code: str, *, settings: str = "editfactory.settings") -> str:
    """What `code` prints in a new Python process once Django is set up."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": settings}
    out = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return out.stdout.strip()


def test_a_worker_loads_no_library_that_only_some_job_types_use():
    """A worker imports every job type and, by the system checks of `manage.py rqworker`, the
    URL conf; each render's work horse inherits all it holds. numpy, Pillow, the TTS, Gemini and
    Supabase clients and rapidfuzz are imported where they are used, when they run
    (bench/memory.py: the worker tree's peak)."""
    loaded = _fresh_django_process(
        "import sys, jobs.worker; from django.urls import get_resolver; "
        "get_resolver().url_patterns; "
        f"print(','.join(m for m in {HEAVY_LIBRARIES!r} if m in sys.modules))"
    )
    assert loaded == ""


def test_up_preloads_what_the_job_types_import_when_they_run():
    """`up` imports these once before forking (a job in its workers imports nothing): each name
    must stay importable, and together they hold what the worker alone leaves out."""
    from media_pipeline.jobtypes import RUN_TIME_IMPORTS

    missing = _fresh_django_process(
        f"import sys, importlib; [importlib.import_module(m) for m in {RUN_TIME_IMPORTS!r}]; "
        f"print(','.join(m for m in {HEAVY_LIBRARIES!r} if m not in sys.modules))"
    )
    assert missing == ""
