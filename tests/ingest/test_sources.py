"""A source file's ``webhook:`` block is checked when the sources are loaded, and a problem
names the file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from headwater.errors import ConfigError
from headwater.ingest import webhook_sources
from headwater.pipeline import load_project
from tests.ingest.projects import PAY, SECRET, SECRETS_ENV, WEB, write_project


def test_every_table_of_a_webhook_source_is_a_topic_landing_in_its_raw_table(
    tmp_path: Path,
) -> None:
    project = load_project(write_project(tmp_path, pay=PAY))
    sources = webhook_sources(project, {**SECRETS_ENV, "PAY_SECRET_OLD": "old"})
    web = sources["web"]
    assert (web.scheme, web.secrets, web.max_body_bytes, web.tolerance_s) == (
        "shopify",
        (SECRET,),
        2048,
        300,
    )
    assert {name: topic.table for name, topic in web.topics.items()} == {
        "orders": "raw.web_orders",
        "customers": "raw.web_customers",
    }
    assert web.topics["orders"].schema.names == ["id", "email", "total", "created_at"]
    assert sources["pay"].secrets == ("stripe-secret", "old")
    # The pipeline sees the same tables as any other source's.
    assert "raw.web_orders" in project.sources


def _problem(tmp_path: Path, web: str, environ: dict[str, str] | None = None) -> str:
    project = load_project(write_project(tmp_path, web=web))
    with pytest.raises(ConfigError) as caught:
        webhook_sources(project, SECRETS_ENV if environ is None else environ)
    return caught.value.message


def test_a_missing_secret_variable_is_named(tmp_path: Path) -> None:
    message = _problem(tmp_path, WEB, {})
    assert message == (
        "invalid setting sources/web.yml: webhook.secret_env: environment variable "
        "WEB_SECRET is not set (the secret)"
    )


def test_landing_and_reporting_need_no_secrets(tmp_path: Path) -> None:
    project = load_project(write_project(tmp_path, web=WEB))
    sources = webhook_sources(project, {}, secrets=False)
    assert {name: source.secrets for name, source in sources.items()} == {"web": ()}
    assert "orders" in sources["web"].topics
    # The variables are still checked to be names.
    broken = load_project(
        write_project(tmp_path / "b", web=WEB.replace("secret_env: WEB_SECRET", "secret_env: 7"))
    )
    with pytest.raises(ConfigError, match="must name an environment variable"):
        webhook_sources(broken, {}, secrets=False)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("scheme: shopify", "scheme: github"), "webhook.scheme: must be one of"),
        (("  secret_env: WEB_SECRET\n", ""), "webhook.secret_env: is required"),
        (("secret_env: WEB_SECRET", "secret_env: [1, 2]"), "webhook.secret_env: must name"),
        (("max_body_bytes: 2048", "max_body_bytes: 0"), "webhook.max_body_bytes: must be a"),
        (("max_body_bytes: 2048", "tolerance: 5"), "webhook.tolerance: unknown key"),
        (("  web_customers:", "  customers:"), "tables.customers: a webhook source's tables"),
    ],
)
def test_a_bad_block_names_file_and_key(
    tmp_path: Path, change: tuple[str, str], expected: str
) -> None:
    message = _problem(tmp_path, WEB.replace(*change))
    assert f"sources/web.yml: {expected}" in message


def test_a_source_file_may_not_have_other_unknown_keys(tmp_path: Path) -> None:
    from headwater.pipeline import ProjectError

    with pytest.raises(ProjectError, match="unknown key 'hook'; known: description, tables"):
        load_project(write_project(tmp_path, web=WEB.replace("webhook:", "hook:")))
