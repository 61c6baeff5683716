"""Dockerfiles: hadolint, then what the images promise (multi-stage, pinned, non-root, healthy)."""

from __future__ import annotations

import pytest

from deploy_files import DOCKERFILES, ROOT, run, tool


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_hadolint(dockerfile):
    run(tool("hadolint"), "--failure-threshold", "info", dockerfile)


def dockerfile_lines(dockerfile: str) -> list[str]:
    text = (ROOT / dockerfile).read_text().replace("\\\n", " ")
    return [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"]


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_dockerfile_is_multistage_pinned_and_non_root(dockerfile):
    lines = dockerfile_lines(dockerfile)
    base_args = [line for line in lines if line.startswith("ARG ") and "_IMAGE=" in line]
    stages = [line for line in lines if line.startswith("FROM ")]
    assert len(stages) >= 2, "multi-stage build expected"
    for arg in base_args:
        image = arg.split("=", 1)[1]
        assert ":" in image and not image.endswith(":latest"), f"unpinned base {image}"
    final_stage = lines[lines.index(stages[-1]):]
    users = [line.split()[1] for line in final_stage if line.startswith("USER ")]
    assert users and users[-1].split(":")[0] not in {"root", "0"}


def test_service_image_has_readiness_healthcheck():
    healthchecks = [line for line in dockerfile_lines("service/Dockerfile")
                    if line.startswith("HEALTHCHECK")]
    assert len(healthchecks) == 1 and "/readyz" in healthchecks[0]


def test_dockerignore_keeps_photos_models_and_secrets_out():
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    rules = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert rules[0] == "*", "allow-list: ignore everything, then re-include the sources"
    assert {"!facecore/", "!service/", "!trainer/", "!pyproject.toml"} <= set(rules)
