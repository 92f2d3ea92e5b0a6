from __future__ import annotations

import pytest

from canary_rollback.core.images import ImageReference, ImageReferenceError, parse_image, pin

D1 = "sha256:" + "a" * 64
D2 = "sha256:" + "b" * 64
ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com"


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("hokusai/api:main", ImageReference("hokusai/api", "main", None)),
        ("hokusai/api", ImageReference("hokusai/api", None, None)),
        ("nginx:latest", ImageReference("nginx", "latest", None)),
        ("localhost:5000/api", ImageReference("localhost:5000/api", None, None)),
        ("localhost:5000/team/api:v1.2", ImageReference("localhost:5000/team/api", "v1.2", None)),
        (f"{ECR}/hokusai/api:build-31", ImageReference(f"{ECR}/hokusai/api", "build-31", None)),
        (f"hokusai/api@{D1}", ImageReference("hokusai/api", None, D1)),
        (f"hokusai/api:main@{D1}", ImageReference("hokusai/api", "main", D1)),
        (f"registry.example:443/api:main@{D1}", ImageReference("registry.example:443/api", "main", D1)),
        ("public.ecr.aws/nginx/nginx:1.27", ImageReference("public.ecr.aws/nginx/nginx", "1.27", None)),
    ],
)
def test_parse_image(reference: str, expected: ImageReference) -> None:
    assert parse_image(reference) == expected
    assert str(parse_image(reference)) == reference
    assert parse_image(reference).pinned == (expected.digest is not None)


@pytest.mark.parametrize("bad", ["", "a b", "api@sha256:short", "api:-bad", "/api", "api:", "@" + D1, "api@main"])
def test_parse_image_rejects_what_it_cannot_pin(bad: str) -> None:
    with pytest.raises(ImageReferenceError):
        parse_image(bad)


@pytest.mark.parametrize(
    ("reference", "pinned"),
    [
        ("hokusai/api:main", f"hokusai/api@{D1}"),
        ("hokusai/api", f"hokusai/api@{D1}"),
        ("localhost:5000/api:v1", f"localhost:5000/api@{D1}"),
        (f"{ECR}/hokusai/api:latest", f"{ECR}/hokusai/api@{D1}"),
        (f"hokusai/api@{D2}", f"hokusai/api@{D2}"),  # already one image: never re-pointed
        (f"hokusai/api:main@{D2}", f"hokusai/api:main@{D2}"),
    ],
)
def test_pin(reference: str, pinned: str) -> None:
    assert pin(reference, D1) == pinned


def test_pin_refuses_a_non_digest() -> None:
    with pytest.raises(ImageReferenceError):
        pin("hokusai/api:main", "main")
