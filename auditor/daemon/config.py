"""Settings of ``auditor serve``: one YAML file plus ``AUDITOR_*`` environment variables.

Every key can be set in the file or in the environment; the environment wins. Nested keys use
``__``: ``AUDITOR_SCHEDULE__INTERVAL_SECONDS=300`` sets ``schedule.interval_seconds``. Lists and
mappings take JSON (``AUDITOR_PARAMS='{"project": "mattilda-eu"}'``); ``AUDITOR_RULES`` also takes
a comma-separated list of paths, and one pack parameter can be set as ``AUDITOR_PARAMS__NAME``.

Everything is validated at start (and on reload); an error names the key and where it came from:
``FILE:LINE: schedule.interval_seconds: ...`` or ``environment variable AUDITOR_HTTP__PORT: ...``.

``targets`` (:class:`auditor.targets.TargetsConfig`: regions, accounts, organization,
max_concurrent, shard) makes each run audit several accounts x regions; without it a run audits
one target, ``region`` with the base credentials. ``auditor serve --shard I/N`` overrides
``targets.shard`` (:func:`with_shard`).
"""
from __future__ import annotations

import hashlib
import ipaddress
import os
import re
import socket
import ssl
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    Field,
    PrivateAttr,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings.exceptions import SettingsError

from ..audit import AuditOptions
from ..notify.channels import CHANNELS
from ..notify.config import DEFAULT_STATE_PATH, ChannelConfig, StateConfig
from ..rules.loader import architecture_names
from ..settings import Section
from ..targets import TargetsConfig, parse_shard
from ..waivers import WaiverFileError, load_waivers
from ..yaml_lines import YamlFileError, field_path, line_for, read_yaml
from .scheduler import parse_crontab

ENV_PREFIX = "AUDITOR_"
NESTED_DELIMITER = "__"
CONFIG_PATH_ENV = "AUDITOR_CONFIG"   # the config file, when --config is not given
DEFAULT_INTERVAL_SECONDS = 900.0


class ConfigError(Exception):
    """Invalid settings; ``problems`` holds one line each, naming the key and its source."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


class ScheduleConfig(Section):
    """When audits run: every ``interval_seconds`` or on a ``cron`` expression, plus jitter."""

    interval_seconds: float | None = Field(None, gt=0)
    cron: str | None = None
    jitter_seconds: float = Field(0, ge=0)
    timezone: str = "UTC"

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None:
            parse_crontab(value, "UTC")   # raises ValueError naming the problem
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @model_validator(mode="before")
    @classmethod
    def _default_interval(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and data.get("interval_seconds") is None and data.get("cron") is None:
            return {**data, "interval_seconds": DEFAULT_INTERVAL_SECONDS}
        return data

    @model_validator(mode="after")
    def _one_schedule(self) -> ScheduleConfig:
        if self.interval_seconds is not None and self.cron is not None:
            raise ValueError("set either interval_seconds or cron, not both")
        return self


class HttpConfig(Section):
    address: str = "0.0.0.0"
    port: int = Field(9797, ge=0, le=65535)
    web_config_file: Path | None = None   # TLS and basic auth (exporter-toolkit format); relative to the config file
    _web: WebConfig | None = PrivateAttr(None)   # compared too: a reload notices a changed file

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        try:
            ipaddress.ip_address(value)
        except ValueError:
            try:
                socket.getaddrinfo(value, None, type=socket.SOCK_STREAM)
            except (OSError, UnicodeError) as exc:
                raise ValueError("not an IP address nor a host name that resolves") from exc
        return value

    def web(self) -> WebConfig | None:
        """The web config file, read once (ConfigError if invalid); None without one."""
        if self.web_config_file is not None and self._web is None:
            self._web = load_web_config(self.web_config_file)
        return self._web


@dataclass(frozen=True)
class WebConfig:
    """A web config file, loaded: the TLS context (None: plain HTTP) and user -> bcrypt hash."""

    tls: ssl.SSLContext | None = field(compare=False)
    users: Mapping[str, bytes]
    digest: str   # of the file and the certificate, key and CA files it names


class _TlsServerConfig(Section):
    cert_file: Path
    key_file: Path
    client_auth_type: Literal["NoClientCert", "VerifyClientCertIfGiven", "RequireAndVerifyClientCert"] = "NoClientCert"
    client_ca_file: Path | None = None
    min_version: Literal["TLS12", "TLS13"] = "TLS12"


class _WebConfigFile(Section):
    """exporter-toolkit's ``web.config.yml``: the keys this server supports."""

    tls_server_config: _TlsServerConfig | None = None
    basic_auth_users: dict[str, str] = Field(default_factory=dict)


_TLS_VERSIONS = {"TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}
_CLIENT_AUTH = {"NoClientCert": ssl.CERT_NONE, "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
                "RequireAndVerifyClientCert": ssl.CERT_REQUIRED}
_BCRYPT_HASH = re.compile(r"\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}")


def load_web_config(path: Path) -> WebConfig:
    """Read a web config file and build its TLS context; ConfigError naming ``FILE:LINE: field``.
    Paths in it are relative to it. Values are never echoed (a password put in by mistake)."""
    try:
        data, lines = read_yaml(path)
    except YamlFileError as exc:
        raise ConfigError([f"http.web_config_file: {exc}"]) from exc

    def at(loc: tuple, message: str) -> str:
        return f"{path}:{line_for(loc, lines)}: {field_path(loc) or '(top level)'}: {message}"
    if not isinstance(data, (dict, type(None))):
        raise ConfigError([at((), "a web config file is a mapping: tls_server_config, basic_auth_users")])
    try:
        web = _WebConfigFile.model_validate(data or {})
    except ValidationError as exc:
        raise ConfigError([at(tuple(e["loc"]), "unknown key" if e["type"] == "extra_forbidden" else e["msg"])
                           for e in exc.errors()]) from exc
    problems = [at(("basic_auth_users", user), "not a bcrypt hash ($2b$, $2a$ or $2y$, cost, 53 characters)")
                for user, hashed in web.basic_auth_users.items() if not _BCRYPT_HASH.fullmatch(hashed)]
    digest = hashlib.sha256(path.read_bytes())
    context = None
    if (tls := web.tls_server_config) is not None:
        def tls_at(key: str, message: str) -> str:
            return at(("tls_server_config", key), message)
        files = {key: path.parent / value for key in ("cert_file", "key_file", "client_ca_file")
                 if (value := getattr(tls, key)) is not None}
        tls_problems = []
        for key, file in files.items():
            try:
                digest.update(file.read_bytes())
            except OSError as exc:
                tls_problems.append(tls_at(key, f"cannot read {file}: {exc.strerror or exc}"))
        if (tls.client_auth_type == "NoClientCert") != (tls.client_ca_file is None):
            tls_problems.append(tls_at("client_ca_file" if tls.client_ca_file else "client_auth_type",
                                       "client_ca_file goes with client_auth_type VerifyClientCertIfGiven or "
                                       "RequireAndVerifyClientCert, and only with them"))
        context = _tls_context(tls, files, tls_at, tls_problems) if not tls_problems else None
        problems += tls_problems
    if problems:
        raise ConfigError(problems)
    return WebConfig(context, {user: hashed.encode() for user, hashed in web.basic_auth_users.items()},
                     digest.hexdigest())


def _tls_context(tls: _TlsServerConfig, files: dict[str, Path], at: Callable[[str, str], str],
                 problems: list[str]) -> ssl.SSLContext:
    """The server's TLS context with its certificate and key; what cannot load goes to ``problems``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = _TLS_VERSIONS[tls.min_version]
    context.num_tickets = 0   # scrapers do not resume TLS sessions: tickets would only cost each handshake
    context.verify_mode = _CLIENT_AUTH[tls.client_auth_type]
    for key in ("cert_file", "client_ca_file"):
        try:
            if key in files:
                ssl.create_default_context(cafile=files[key])   # nothing but the certificates
        except ssl.SSLError as exc:
            problems.append(at(key, f"{files[key]}: no PEM certificate in it ({exc.reason})"))
    try:
        if not problems:
            context.load_cert_chain(files["cert_file"], files["key_file"], password=_no_password)
            if "client_ca_file" in files:
                context.load_verify_locations(files["client_ca_file"])
    except (ssl.SSLError, ValueError) as exc:
        problems.append(at("key_file", f"{files['key_file']}: not the PEM private key of {files['cert_file']} "
                           f"({getattr(exc, 'reason', None) or exc})"))
    return context


def _no_password() -> bytes:
    raise ValueError("encrypted: give the key without a passphrase")


class MetricsConfig(Section):
    max_finding_series: int = Field(500, ge=0)


class CostConfig(Section):
    prices: Path | None = None          # price file over the bundled table; relative to the config file
    alb_lcu: float = Field(1.0, ge=0)   # LCUs each load balancer is assumed to use all month
    actual_spend: bool = False          # month-to-date spend from Cost Explorer ($0.01 per request)
    actual_refresh_seconds: float = Field(21600, ge=0)   # reuse a Cost Explorer answer this long


class _Settings(BaseSettings):
    """The keys of :class:`DaemonConfig` before the channels' sections (``summary()`` keeps the order)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter=NESTED_DELIMITER,
                                      case_sensitive=False, extra="forbid", frozen=True)

    architecture: str | None = None
    environment: str | None = None
    environment_tag: str = "Environment"
    baseline: Literal["deployments", "account"] = "deployments"   # what the baseline rules judge
    region: str | None = None
    profile: str | None = None
    targets: TargetsConfig | None = None   # None: one target, ``region`` with the base credentials
    rules: Annotated[tuple[Path, ...], NoDecode] = ()
    params: dict[str, Any] = Field(default_factory=dict)
    max_attempts: int = Field(5, ge=1, le=20)
    workers: int = Field(8, ge=1, le=64)
    waivers: Path | None = None   # waiver file, re-read at each audit; relative to the config file
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    http: HttpConfig = Field(default_factory=HttpConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    cost: CostConfig = Field(default_factory=CostConfig)
    state: StateConfig = Field(default_factory=StateConfig)

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings],
                                   init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The YAML file arrives as init arguments; the environment overrides it (deep-merged).
        return env_settings, init_settings


_ChannelSections = create_model(   # a section per channel of auditor.notify.channels, under its name
    "_ChannelSections", __base__=_Settings, __module__=__name__,
    **{c.name: (c, Field(default_factory=c)) for c in CHANNELS})


class DaemonConfig(_ChannelSections):  # type: ignore[misc, valid-type]
    """Everything ``auditor serve`` reads; see README "Running the daemon" for each key."""

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    shutdown_grace_seconds: float = Field(8, ge=0, le=9)

    @field_validator("architecture")
    @classmethod
    def _architecture(cls, value: str | None) -> str | None:
        if value is not None and value not in (known := architecture_names()):
            raise ValueError(f"unknown architecture {value!r} (known: {', '.join(known)})")
        return value

    @field_validator("rules", mode="before")
    @classmethod
    def _rules(cls, value: Any) -> Any:
        if isinstance(value, str):   # from the environment: JSON list or comma-separated
            text = value.strip()
            if text.startswith("["):
                return yaml.safe_load(text)
            return [p.strip() for p in text.split(",") if p.strip()]
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    def audit_options(self) -> AuditOptions:
        return AuditOptions(architecture=self.architecture, environment=self.environment,
                            region=self.region, profile=self.profile, rule_paths=tuple(self.rules),
                            params=dict(self.params), environment_tag=self.environment_tag,
                            max_attempts=self.max_attempts, workers=self.workers, waivers=self.waivers,
                            prices=self.cost.prices, alb_lcu=self.cost.alb_lcu, baseline=self.baseline)

    def summary(self) -> dict[str, Any]:
        """What the start-up log line shows: the settings, with parameter values left out."""
        data = self.model_dump(mode="json")
        data["params"] = sorted(self.params)
        targets = data.get("targets") or {}
        for spec in [*targets.get("accounts", ()), targets.get("organization") or {}]:
            if spec.get("external_id") is not None:
                spec["external_id"] = "(set)"   # a shared secret of the role's trust policy
        for channel in self.channels:
            data[channel.name] = channel.summary()
        return data

    @property
    def channels(self) -> tuple[ChannelConfig, ...]:
        """The notification channels' settings, enabled or not, in delivery order."""
        return tuple(getattr(self, c.name) for c in CHANNELS)

    def with_shard(self, shard: str | None) -> DaemonConfig:
        """This config with ``targets.shard`` set to ``shard`` (None: unchanged)."""
        if shard is None:
            return self
        targets = self.targets or TargetsConfig()
        return self.model_copy(update={"targets": targets.model_copy(update={"shard": shard})})


def config_path(cli_value: Path | None, environ: Mapping[str, str] | None = None) -> Path | None:
    environ = os.environ if environ is None else environ
    if cli_value is not None:
        return cli_value
    value = environ.get(CONFIG_PATH_ENV)
    return Path(value) if value else None


def check_shard(shard: str | None) -> None:
    """``--shard``: raise ConfigError unless None or ``I/N``."""
    if shard is not None:
        try:
            parse_shard(shard)
        except ValueError as exc:
            raise ConfigError([f"--shard: {exc}"]) from exc


def load_config(path: Path | None, shard: str | None = None) -> DaemonConfig:
    """Read ``path`` (optional) and the ``AUDITOR_*`` environment; raise ConfigError if invalid.
    ``shard`` (``--shard``) overrides ``targets.shard``."""
    check_shard(shard)
    data: dict[str, Any] = {}
    lines: dict[tuple, int] = {}
    if path is not None:
        data, lines = _read_yaml(path)
    environ = {k.upper(): v for k, v in os.environ.items()}
    problems = _unknown_environment(environ)
    if problems:
        raise ConfigError(problems)
    try:
        config = DaemonConfig(**data)
    except ValidationError as exc:
        raise ConfigError([_describe(err, path, lines, environ) for err in exc.errors()]) from exc
    except SettingsError as exc:   # a list or mapping variable that is not valid JSON
        m = re.search(r'field "(\w+)"', str(exc))
        name = f"environment variable {ENV_PREFIX}{m.group(1).upper()}" if m else "environment"
        key = m.group(1) if m else "(unknown)"
        raise ConfigError([f"{name}: {key}: not valid JSON ({exc})"]) from exc
    if config.waivers is not None:   # validated at start and reload; audits re-read it
        try:
            load_waivers(config.waivers)
        except WaiverFileError as exc:
            raise ConfigError([f"waivers: {p}" for p in exc.problems]) from exc
    config.http.web()   # the web config file: read now, so that an invalid one is a ConfigError
    channel_problems = [p for c in config.channels for p in c.problems()]   # e.g. enabled without credentials
    if channel_problems:
        raise ConfigError([f"{path or 'settings'}: {p}" for p in channel_problems])
    return config.with_shard(shard)


def _read_yaml(path: Path) -> tuple[dict[str, Any], dict[tuple, int]]:
    try:
        data, lines = read_yaml(path)
    except YamlFileError as exc:
        raise ConfigError([f"config file {exc}"]) from exc
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise ConfigError([f"{path}:1: the config file must be a mapping of keys to values"])
    if isinstance(data.get("state", {}), dict):   # the default state file sits next to the config file
        data["state"] = {"path": DEFAULT_STATE_PATH.name, **data.get("state", {})}
    relative = (("state", "path"), ("cost", "prices"), ("http", "web_config_file"),
                *((c.name, key) for c in CHANNELS for key in c.path_fields))
    for section, key in relative:   # relative to the config file too
        value = data.get(section, {}).get(key) if isinstance(data.get(section), dict) else None
        if isinstance(value, str) and value != ":memory:" and not Path(value).expanduser().is_absolute():
            data[section][key] = str(path.parent / value)
    if isinstance(data.get("waivers"), str) and not Path(data["waivers"]).is_absolute():
        data["waivers"] = str(path.parent / data["waivers"])   # relative to the config file, as rules
    rules = data.get("rules")
    if isinstance(rules, (str, list)):   # relative rule paths are relative to the config file
        items = [rules] if isinstance(rules, str) else rules
        data["rules"] = [str(path.parent / p) if isinstance(p, str) and not Path(p).is_absolute() else p
                         for p in items]
    return data, lines


def _unknown_environment(environ: Mapping[str, str]) -> list[str]:
    known = set(DaemonConfig.model_fields)
    out = []
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX) or name == CONFIG_PATH_ENV:
            continue
        key = name[len(ENV_PREFIX):].split(NESTED_DELIMITER)[0].lower()
        if key not in known:
            out.append(f"environment variable {name}: unknown key {key!r} "
                       f"(known: {', '.join(sorted(known))})")
    return out


_SECRET_SECTIONS = {(c.name,) for c in CHANNELS}   # a channel's section may hold a token: values never echoed


def _describe(err: Mapping[str, Any], path: Path | None, lines: dict[tuple, int],
              environ: Mapping[str, str]) -> str:
    loc = tuple(err["loc"])
    key = field_path(loc) or "(top level)"
    message = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
    value = err.get("input")
    if err["type"] != "extra_forbidden" and isinstance(value, (str, int, float)) and len(str(value)) <= 80 \
            and loc[:1] not in _SECRET_SECTIONS and "external_id" not in loc:   # a token or external id: never echo it
        message += f" (got {value!r})"
    env_name = ENV_PREFIX + NESTED_DELIMITER.join(str(p) for p in loc).upper()
    if loc and env_name in environ:
        return f"environment variable {env_name}: {key}: {message}"
    if path is not None and loc and loc[:1] in lines:
        return f"{path}:{line_for(loc, lines)}: {key}: {message}"
    return f"{path or 'settings'}: {key}: {message}"
