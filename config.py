"""Settings: embedded defaults, an optional TOML file, and TICKETFREI_* environment variables.

Reads the TOML file and the environment, nothing else. main builds one Settings object at
start-up and hands it to every process, so no child re-reads the environment.

Every key lives in a section: `[web] port = 8080` in TOML, `TICKETFREI_WEB_PORT=8080` in the
environment (the environment wins). A bot's own keys live in `[bots.<name>]`, e.g.
`TICKETFREI_BOTS_MAIL_DOMAIN`; bots declare them in their Bot class (`option_keys`; values in `cls.options`).
Lists are written comma-separated in the environment.
"""
from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from types import SimpleNamespace
from urllib.parse import quote_plus

ENV_PREFIX = "TICKETFREI_"
# Not a setting: names the TOML file when --config is not given (handy in Docker).
ENV_CONFIG_FILE = "TICKETFREI_CONFIG"


class ConfigError(Exception):
    """A setting is wrong; the message names it and where it came from."""


@dataclass(frozen=True)
class Setting:
    default: object
    kind: str = "str"  # str, int, float, bool, list, choice
    help: str = ""
    secret: bool = False
    choices: tuple = ()
    minimum: float | None = None
    maximum: float | None = None


CORE: dict[str, dict[str, Setting]] = {
    "instance": {
        "data_dir": Setting("./data", help="where the SQLite database and the pid file live"),
        "log_level": Setting("INFO", "choice", "log level",
                             choices=("DEBUG", "INFO", "WARNING", "ERROR")),
        "name": Setting("Ticketfrei", help="the instance's name on its pages and mails"),
        "reserved_names": Setting([], "list", "names no city may take, besides the built-in "
                                              "ones (mailbox names such as admin or "
                                              "postmaster, the web UI's paths) and the local "
                                              "part of mail.sender"),
    },
    "database": {
        "url": Setting("", help="SQLAlchemy URL; empty means SQLite in data_dir", secret=True),
        "busy_timeout": Setting(30.0, "float", "seconds SQLite waits for a lock", minimum=0.1),
    },
    "web": {
        "host": Setting("127.0.0.1", help="address the web UI listens on"),
        "port": Setting(8080, "int", "port the web UI listens on", minimum=1, maximum=65535),
        "base_url": Setting("", help="public URL of the web UI; empty means http://host:port"),
        "threads": Setting(4, "int", "waitress worker threads", minimum=1, maximum=64),
        "trusted_proxy": Setting("", help="address of a reverse proxy whose X-Forwarded-For "
                                          "is believed ('*': any; only if nothing else can "
                                          "reach the port)"),
    },
    "mail": {
        "sender": Setting("ticketfrei@localhost", help="From address of the instance's own mail"),
        "relay_host": Setting("", help="SMTP relay for outgoing mail; empty: mail goes to the log"),
        "relay_port": Setting(587, "int", "SMTP relay port", minimum=1, maximum=65535),
        "relay_security": Setting("starttls", "choice", "how to talk to the relay",
                                  choices=("starttls", "tls", "none")),
        "relay_user": Setting("", help="SMTP relay user name"),
        "relay_password": Setting("", help="SMTP relay password", secret=True),
        "relay_ca_file": Setting("", help="CA certificates to trust for the relay; empty: the "
                                          "system's"),
    },
    "reports": {
        "retention_days": Setting(30.0, "float", "reports older than this are purged", minimum=0.01),
        "max_length": Setting(2000, "int", "longer report texts are cut", minimum=80),
    },
    "supervisor": {
        "heartbeat_timeout": Setting(60.0, "float", "a bot silent this long is restarted", minimum=1),
        "backoff_initial": Setting(1.0, "float", "first restart delay in seconds", minimum=0.1),
        "backoff_max": Setting(300.0, "float", "restart delay cap in seconds", minimum=1),
        "stable_after": Setting(60.0, "float", "a process up this long has its backoff reset",
                                minimum=1),
        "reconcile_interval": Setting(30.0, "float", "seconds between database reconciles",
                                      minimum=0.5),
        "stop_timeout": Setting(7.0, "float", "seconds children get to stop before SIGKILL",
                                minimum=0.5, maximum=9),
        "immortal_objects": Setting(True, "bool", "the fork parent makes its objects immortal "
                                    "(CPython 3.12/3.13): children share their pages; off only "
                                    "to rule it out when hunting a crash"),
    },
    "stations": {
        "max_upload_mb": Setting(200, "int", "largest transit feed (GTFS zip) organisers may "
                                 "upload on their settings page (in pieces: no request body "
                                 "is larger than 256 KiB); 0: by URL and command only",
                                 minimum=0, maximum=4000),
        "max_download_mb": Setting(300, "int", "largest transit feed fetched from a URL",
                                   minimum=1, maximum=4000),
        "download_timeout": Setting(300.0, "float", "seconds a feed's download may take",
                                    minimum=5),
        "private_urls": Setting(False, "bool", "fetch feeds also from private addresses (tests, "
                                "your own network); off: public addresses only"),
        "import_memory_mb": Setting(1024, "int", "address space of the process that imports a "
                                    "feed from the web UI (a 150 MB feed needs about 100 MB of "
                                    "it resident)", minimum=256),
        "import_seconds": Setting(600.0, "float", "CPU and wall seconds a web UI import may "
                                  "take", minimum=10),
    },
    "plugins": {
        "dirs": Setting([], "list", "extra directories holding bot plugins"),
        "disabled": Setting([], "list", "bot plugins not to load on this instance"),
    },
}


def own_address(listen_host: str) -> str:
    """Where this machine reaches a server listening on listen_host (for self-checks): the
    loopback address for a wildcard."""
    host = (listen_host or "").strip().strip("[]")
    return {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)


def _convert(value: object, setting: Setting, where: str) -> object:
    """Turn a TOML value or an environment string into the setting's type, or say why not."""
    kind = setting.kind
    try:
        if kind == "bool":
            if isinstance(value, bool):
                return value
            word = str(value).strip().lower()
            if word in ("1", "true", "yes", "on"):
                return True
            if word in ("0", "false", "no", "off"):
                return False
            raise ValueError("expected true or false")
        if kind in ("int", "float"):
            if isinstance(value, bool):
                raise ValueError(f"expected a number, got {value!r}")
            try:
                number = int(str(value).strip()) if kind == "int" else float(value)
            except (TypeError, ValueError):
                raise ValueError(f"expected a {'whole ' if kind == 'int' else ''}number, "
                                 f"got {value!r}") from None
            if setting.minimum is not None and number < setting.minimum:
                raise ValueError(f"must be at least {setting.minimum}")
            if setting.maximum is not None and number > setting.maximum:
                raise ValueError(f"must be at most {setting.maximum}")
            return number
        if kind == "list":
            if isinstance(value, str):
                return [part.strip() for part in value.split(",") if part.strip()]
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                return list(value)
            raise ValueError("expected a list of strings")
        if not isinstance(value, str):
            raise ValueError(f"expected a string, got {value!r}")
        if kind == "choice":
            if value not in setting.choices:
                raise ValueError(f"expected one of {', '.join(setting.choices)}")
        return value
    except ValueError as error:
        raise ConfigError(f"bad setting {where}: {error}") from None


def _env_name(section: str, key: str) -> str:
    return (ENV_PREFIX + section.replace(".", "_") + "_" + key).upper()


def load(path: str | None = None, environ: dict | None = None,
         bot_settings: dict[str, dict[str, Setting]] | None = None) -> SimpleNamespace:
    """Build the effective settings. Raises ConfigError naming the first bad key.

    bot_settings maps a plugin name to the keys its Bot class declares; a `[bots.<name>]`
    section for an unknown plugin, or an unknown key, is an error (a typo should not pass).
    """
    environ = dict(os.environ if environ is None else environ)
    path = path or environ.get(ENV_CONFIG_FILE) or None
    file_values: dict = {}
    if path:
        try:
            with open(path, "rb") as handle:
                file_values = tomllib.load(handle)
        except OSError as error:
            raise ConfigError(f"cannot read the configuration file {path}: {error.strerror}") from None
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"the configuration file {path} is not valid TOML: {error}") from None

    spec = {name: dict(keys) for name, keys in CORE.items()}
    for bot, keys in (bot_settings or {}).items():
        spec[f"bots.{bot}"] = dict(keys)

    file_sections = dict(file_values)
    file_bots = file_sections.pop("bots", {})
    if not isinstance(file_bots, dict):
        raise ConfigError(f"bad setting bots in {path}: expected a table")
    for bot, table in file_bots.items():
        file_sections[f"bots.{bot}"] = table

    settings = SimpleNamespace(bots=SimpleNamespace(), _secrets=set(), _sources={})
    for section, table in file_sections.items():
        if section not in spec:
            if section.startswith("bots.") and bot_settings is None:
                continue  # plugins are not discovered yet; checked on the second pass
            raise ConfigError(f"unknown section [{section}] in {path}")
        if not isinstance(table, dict):
            raise ConfigError(f"bad setting {section} in {path}: expected a table")
        for key in table:
            if key not in spec[section]:
                raise ConfigError(f"unknown setting {section}.{key} in {path}")

    known_env = {_env_name(s, k) for s, keys in spec.items() for k in keys} | {ENV_CONFIG_FILE}
    for name in environ:
        if name.startswith(ENV_PREFIX) and name not in known_env:
            if name.startswith(ENV_PREFIX + "BOTS_") and bot_settings is None:
                continue
            raise ConfigError(f"unknown setting in the environment: {name}")

    for section, keys in spec.items():
        values = {}
        for key, setting in keys.items():
            env = _env_name(section, key)
            if env in environ:
                value = _convert(environ[env], setting, f"{section}.{key} (from {env})")
                source = env
            elif key in file_sections.get(section, {}):
                value = _convert(file_sections[section][key], setting, f"{section}.{key} (in {path})")
                source = path
            else:
                value = setting.default
                source = "default"
            values[key] = value
            settings._sources[f"{section}.{key}"] = source
            if setting.secret:
                settings._secrets.add(f"{section}.{key}")
        if section.startswith("bots."):
            setattr(settings.bots, section[5:], SimpleNamespace(**values))
        else:
            setattr(settings, section, SimpleNamespace(**values))

    _derive(settings)
    return settings


def _derive(settings: SimpleNamespace) -> None:
    """Fill the settings whose default depends on others."""
    data_dir = os.path.abspath(settings.instance.data_dir)
    settings.instance.data_dir = data_dir
    # City names are lower-case: so are the names reserved from them.
    settings.instance.reserved_names = list(dict.fromkeys(
        name.strip().lower() for name in settings.instance.reserved_names if name.strip()))
    if not settings.database.url:
        settings.database.url = "sqlite:///" + os.path.join(data_dir, "ticketfrei.sqlite")
    if not settings.database.url.startswith(("sqlite", "postgresql")):
        raise ConfigError("bad setting database.url: only sqlite:// and postgresql:// URLs are supported")
    if not settings.web.base_url:
        settings.web.base_url = f"http://{settings.web.host}:{settings.web.port}"
    if not settings.web.base_url.startswith(("http://", "https://")):
        raise ConfigError("bad setting web.base_url: must start with http:// or https://")
    settings.web.base_url = settings.web.base_url.rstrip("/")


# Query parameters of a database URL that carry a secret: libpq's password and sslpassword,
# and whatever else a driver may take (anything named like a password, secret or token).
_SECRET_PARAMETER = re.compile(r"pass(?:word|wd|phrase)|pwd|secret|token", re.IGNORECASE)


def mask_url(url: str) -> str:
    """A database URL as check-config shows it: the password of `user:password@` and every
    query parameter that carries a secret (`?password=`, `sslpassword=`, ...) are `***`. The
    URL is read as SQLAlchemy reads it (a password may hold `/`, `?` or `#`); one that it
    cannot read is not shown beyond its scheme."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError
    try:
        parsed = make_url(url)
        shown = parsed.set(query={}).render_as_string(hide_password=True)
    except (ArgumentError, ValueError, TypeError):
        return url.partition("://")[0] + "://*** (not a URL SQLAlchemy can read)"
    pairs = []
    for key, values in parsed.query.items():
        for value in (values if isinstance(values, tuple) else (values,)):
            value = "***" if _SECRET_PARAMETER.search(key) else quote_plus(value)
            pairs.append(f"{quote_plus(key)}={value}")
    return shown + ("?" + "&".join(pairs) if pairs else "")


def effective(settings: SimpleNamespace) -> dict[str, dict[str, object]]:
    """The settings as plain data with secrets masked, for `check-config`."""
    result: dict[str, dict[str, object]] = {}
    sections = {name: getattr(settings, name) for name in CORE}
    sections.update({f"bots.{name}": ns for name, ns in vars(settings.bots).items()})
    for section, namespace in sections.items():
        shown = {}
        for key, value in vars(namespace).items():
            if f"{section}.{key}" in settings._secrets and value:
                value = mask_url(value) if key == "url" else "***"
            shown[key] = value
        result[section] = shown
    return result
