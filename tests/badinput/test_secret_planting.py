"""Secrets planted everywhere the auditor could see them never reach an output: the AWS keys it
runs with, a Slack token in its environment, a secret's value in Secrets Manager and a password
passed as a plain container environment variable (the drift the audit reports, by name only).
Every report format, the cost report, the state file and stderr are searched."""
from __future__ import annotations

import boto3
from cli_runner import run

from auditor.emulated.demo import deploy

PLANTED = {
    "AWS_SECRET_ACCESS_KEY": "plantedSecretAccessKey0123456789abcdefXYZ",
    "AWS_SESSION_TOKEN": "plantedSessionToken+/=0123456789",
    "SLACK_BOT_TOKEN": "xoxb-planted-0000-slack-token",
}
SECRET_VALUE = "planted-secret-value-from-secrets-manager"
PLAINTEXT_PASSWORD = "hunter2"   # in the database-url-plaintext drift's DATABASE_URL value


def test_no_planted_secret_reaches_any_output(account, capsys, tmp_path, monkeypatch):
    for name, value in PLANTED.items():
        monkeypatch.setenv(name, value)
    deploy("mattilda", "production", account, ["database-url-plaintext"])
    boto3.client("secretsmanager", endpoint_url=account, region_name="us-east-1").put_secret_value(
        SecretId="mattilda/redis-url", SecretString=SECRET_VALUE)
    state = tmp_path / "state.sqlite3"
    outputs = []
    for fmt in ("table", "json", "markdown", "junit"):
        code, out, err = run(capsys, "audit", "-a", "mattilda", "-f", fmt, "--quiet", "--max-attempts", "2",
                             "--state", str(state))
        assert code == 1   # the drift is reported
        outputs += [out, err]
    code, out, err = run(capsys, "cost", "-a", "mattilda", "-f", "json", "--max-attempts", "2")
    assert code in (0, 1)
    outputs += [out, err, state.read_bytes().decode("utf-8", "replace")]
    assert "DATABASE_URL" in outputs[2]   # the finding names the variable...
    for secret in [*PLANTED.values(), SECRET_VALUE, PLAINTEXT_PASSWORD]:
        assert not any(secret in text for text in outputs), secret   # ...never its value
