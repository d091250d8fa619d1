"""Every environment variable of DESIGN §10 reaches the Config, from the environment or a `.env` file."""
from __future__ import annotations

from plugin.config import Config

DESIGN_VARIABLES = {
    "W365_DATAVERSE_URL": ("http://127.0.0.1:8800", "dataverse_url", "http://127.0.0.1:8800"),
    "W365_TENANT_ID": ("t-1", "tenant_id", "t-1"),
    "W365_CLIENT_ID": ("c-1", "client_id", "c-1"),
    "W365_CLIENT_SECRET": ("s-1", "client_secret", "s-1"),
    "W365_CLIENT_CERT_PATH": ("/certs/app.pem", "client_cert_path", "/certs/app.pem"),
    "W365_CLIENT_CERT_THUMBPRINT": ("AB12", "client_cert_thumbprint", "AB12"),
    "W365_AUTHORITY": ("http://127.0.0.1:8800/local-tenant", "authority", "http://127.0.0.1:8800/local-tenant"),
    "W365_DATAVERSE_TOKEN": ("local-dev-token", "dataverse_token", "local-dev-token"),
    "W365_API_AUTH": ("keys,entra", "api_auth", ("keys", "entra")),
    "W365_API_KEYS": ("k1, k2", "api_keys", ("k1", "k2")),
    "W365_ENTRA_AUDIENCE": ("api://w365", "entra_audience", "api://w365"),
    "W365_ENTRA_ISSUER": ("https://issuer", "entra_issuer", "https://issuer"),
    "W365_ENTRA_JWKS_URL": ("https://issuer/keys", "entra_jwks_url", "https://issuer/keys"),
    "W365_WEBHOOK_KEYS": ("old,new", "webhook_keys", ("old", "new")),
    "W365_INVOICING_CYCLE_RANGE": ("5", "invoicing_cycle_range", 5),
    "W365_SMTP_URL": ("smtp://127.0.0.1:25", "smtp_url", "smtp://127.0.0.1:25"),
    "W365_OUTBOX_DIR": ("/tmp/outbox", "outbox_dir", "/tmp/outbox"),
    "W365_ACCOUNTING_WEBHOOK_URL": ("http://127.0.0.1:1/acc", "accounting_webhook_url", "http://127.0.0.1:1/acc"),
    "W365_PAYMENT_WEBHOOK_URL": ("http://127.0.0.1:1/pay", "payment_webhook_url", "http://127.0.0.1:1/pay"),
    "W365_TASK_SIGNING_KEY": ("sign", "task_signing_key", "sign"),
}


def test_every_variable_is_read_from_a_dotenv_file_and_the_environment_wins(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("".join(f"{name}={raw}\n" for name, (raw, _, _) in DESIGN_VARIABLES.items()))
    config = Config.from_env({}, dotenv_path=dotenv)
    assert {name: getattr(config, attr) for name, (_, attr, _) in DESIGN_VARIABLES.items()} == \
        {name: expected for name, (_, _, expected) in DESIGN_VARIABLES.items()}
    overridden = Config.from_env({"W365_INVOICING_CYCLE_RANGE": "1"}, dotenv_path=dotenv)
    assert overridden.invoicing_cycle_range == 1 and overridden.tenant_id == "t-1"


def test_defaults_of_design():
    config = Config.from_env({}, dotenv_path=None)
    assert config.invoicing_cycle_range == 2
    assert Config.from_env({"W365_TENANT_ID": "contoso"}, dotenv_path=None).effective_authority == \
        "https://login.microsoftonline.com/contoso"
