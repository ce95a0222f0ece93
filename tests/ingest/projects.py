"""A small pipeline project with webhook sources, written into a test's folder."""

from __future__ import annotations

from pathlib import Path

SECRET = "shop-secret"
STRIPE_SECRET = "stripe-secret"
SECRETS_ENV = {"WEB_SECRET": SECRET, "PAY_SECRET": STRIPE_SECRET}

WEB = """\
webhook:
  scheme: shopify
  secret_env: WEB_SECRET
  max_body_bytes: 2048
tables:
  web_orders:
    columns:
      id: long
      email: string
      total: double
      created_at: timestamp
  web_customers:
    columns:
      id: long
      email: string
"""

PAY = """\
webhook:
  scheme: stripe
  secret_env: [PAY_SECRET, PAY_SECRET_OLD]
tables:
  pay_refunds:
    columns:
      id: string
      amount: long
"""


def write_project(root: Path, *, web: str = WEB, pay: str | None = None) -> Path:
    (root / "sources").mkdir(parents=True, exist_ok=True)
    (root / "headwater.yml").write_text("name: ingest_test\n")
    (root / "sources" / "web.yml").write_text(web)
    if pay is not None:
        (root / "sources" / "pay.yml").write_text(pay)
    return root
