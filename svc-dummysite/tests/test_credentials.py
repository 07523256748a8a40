"""Which API server the operator talks to, and with what; without either, a plain refusal."""

from __future__ import annotations

from pathlib import Path

import pytest

from svc_dummysite.kubernetes import IN_CLUSTER_SERVER, ApiAccess, NoCredentials


def test_an_explicit_url_needs_no_credentials(tmp_path: Path) -> None:
    access = ApiAccess.configured("http://127.0.0.1:8001/", service_account=tmp_path)
    assert access == ApiAccess("http://127.0.0.1:8001")


def test_in_a_pod_the_service_account_is_used(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("a-token\n")
    (tmp_path / "ca.crt").write_text("a certificate")

    access = ApiAccess.configured(None, service_account=tmp_path)

    assert (access.server, access.token()) == (IN_CLUSTER_SERVER, "a-token")


def test_without_either_it_names_what_is_missing(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("a-token\n")  # no ca.crt

    with pytest.raises(NoCredentials, match=f"token and ca.crt in {tmp_path}: not found"):
        ApiAccess.configured(None, service_account=tmp_path)
