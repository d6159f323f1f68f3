"""Connection settings for ConnectWise Manage, from arguments or ``CONNECTWISE_*`` variables.

:class:`Settings` is frozen and validated on construction: every missing or malformed value is
reported at once in one :class:`~cwm_gateway.errors.ConfigError`, naming the setting (the
environment variable when read by :meth:`Settings.from_env`) and what a good value looks like.
The private key never appears in ``repr``/``str``, logs or error messages.
"""

from __future__ import annotations

import base64
import ipaddress
import logging
import os
import re
import threading
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields, replace
from typing import Any
from urllib.parse import urlsplit

from cwm_gateway import __version__
from cwm_gateway.errors import ConfigError

log = logging.getLogger(__name__)

#: Short names of the ConnectWise cloud regions → their API host.
CLOUD_SITES: dict[str, str] = {
    "na": "api-na.myconnectwise.net",
    "eu": "api-eu.myconnectwise.net",
    "au": "api-au.myconnectwise.net",
    "aus": "api-aus.myconnectwise.net",
    "za": "api-za.myconnectwise.net",
}

#: Setting name → environment variable, in the order problems are reported.
ENV_VARS: dict[str, str] = {
    "company_id": "CONNECTWISE_COMPANY_ID",
    "public_key": "CONNECTWISE_PUBLIC_KEY",
    "private_key": "CONNECTWISE_PRIVATE_KEY",
    "api_url": "CONNECTWISE_API_URL",
    "site": "CONNECTWISE_SITE",
    "client_id": "CONNECTWISE_CLIENT_ID",
    "auth_prefix": "CONNECTWISE_AUTH_PREFIX",
    "api_version": "CONNECTWISE_API_VERSION",
    "accept": "CONNECTWISE_ACCEPT",
    "connect_timeout": "CONNECTWISE_CONNECT_TIMEOUT",
    "read_timeout": "CONNECTWISE_READ_TIMEOUT",
    "max_attempts": "CONNECTWISE_MAX_ATTEMPTS",
    "backoff_base": "CONNECTWISE_BACKOFF_BASE",
    "backoff_max": "CONNECTWISE_BACKOFF_MAX",
    "retry_after_max": "CONNECTWISE_RETRY_AFTER_MAX",
    "allow_http": "CONNECTWISE_ALLOW_HTTP",
}

_FLOATS = ("connect_timeout", "read_timeout", "backoff_base", "backoff_max", "retry_after_max")
_TOKEN = re.compile(r"^[^\s:+]+$")
_VERSION = re.compile(r"^\d{4}\.\d+$")
_HOST = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9-]+)*$")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}

_warned_client_id = False
_warn_lock = threading.Lock()


def default_api_version() -> str:
    """The API version the generated code was built from (``cwm_generated.registry.SPEC_VERSION``)."""
    try:
        from cwm_generated.registry import SPEC_VERSION
    except ImportError:  # generated package not built yet: the spec this project targets
        return "2025.1"
    return SPEC_VERSION


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, repr=False)
class Settings:
    """How to reach and authenticate against one ConnectWise Manage company.

    Give either ``api_url`` (the full REST base, ending in ``/apis/3.0``) or ``site`` (a cloud
    region ``na``/``eu``/``au``/``aus``/``za``, a host name, or a base URL); with ``site`` the
    codebase is discovered from ``/login/companyinfo/{company}`` on first use.
    """

    company_id: str
    public_key: str
    private_key: str
    api_url: str | None = None
    site: str | None = None
    client_id: str | None = None
    """The integration's clientId (developer.connectwise.com); defaults to ``company_id``."""
    auth_prefix: str | None = None
    """Username prefix before the public key; default ``f"{company_id}+"``."""
    api_version: str | None = None
    """Version in the Accept header; default: the version of the generated code."""
    accept: str | None = None
    """Full Accept header override; default built from ``api_version``."""
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    """Below the 60 s after which MCP hosts (the TypeScript SDK's default) give up on a tool
    call, so the gateway's own timeout message reaches the agent instead of the host's."""
    max_attempts: int = 4
    """Attempts for retryable (GET/HEAD) requests, the first included."""
    backoff_base: float = 0.5
    """First retry delay in seconds; doubles each attempt, with jitter."""
    backoff_max: float = 8.0
    retry_after_max: float = 60.0
    """Cap on a server-requested Retry-After wait, in seconds."""
    allow_http: bool = False
    """Allow plain http to non-loopback hosts (credentials would travel unencrypted)."""
    user_agent: str = f"cwm-api-gateway/{__version__}"

    def __post_init__(self) -> None:
        normalized, problems = _validate({f.name: getattr(self, f.name) for f in fields(self)})
        if problems:
            raise ConfigError(_format_problems(problems, names=None))
        for name, value in normalized.items():
            object.__setattr__(self, name, value)
        if self.client_id is None:
            _warn_client_id_fallback(names=None)

    # -- construction ----------------------------------------------------------------------

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read settings from ``CONNECTWISE_*`` variables; keyword overrides win.

        Raises :class:`ConfigError` naming every missing or malformed variable at once.
        Empty variables count as unset.
        """
        known = {f.name: f.default for f in fields(cls) if f.init}
        unknown = sorted(set(overrides) - set(known))
        if unknown:
            raise ConfigError(
                f"Settings.from_env got unknown settings: {', '.join(unknown)}; "
                f"known: {', '.join(known)}"
            )
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {
            name: (None if default is MISSING else default) for name, default in known.items()
        }
        problems: list[tuple[str, str]] = []
        unparsable: set[str] = set()
        for name, var in ENV_VARS.items():
            value = env.get(var)
            if value is None or (not value.strip() and name != "private_key"):
                continue
            try:
                values[name] = _parse_env(name, value)
            except ValueError:
                unparsable.add(name)
                problems.append((name, f"is malformed; expected {_EXPECT[name]}"))
        values.update(overrides)
        normalized, more = _validate(values)
        problems += [p for p in more if p[0] not in unparsable]
        if problems:
            raise ConfigError(_format_problems(problems, names=ENV_VARS))
        if normalized["client_id"] is None:
            # Warn here, naming the variable; construction below then finds it already said.
            _warn_client_id_fallback(names=ENV_VARS)
        return cls(**normalized)

    def replace(self, **changes: Any) -> Settings:
        """A copy with some settings changed (validated again)."""
        return replace(self, **changes)

    # -- derived values --------------------------------------------------------------------

    @property
    def username(self) -> str:
        """Basic-auth username: ``auth_prefix + public_key`` (ConnectWise: ``company+public``)."""
        prefix = f"{self.company_id}+" if self.auth_prefix is None else self.auth_prefix
        return prefix + self.public_key

    @property
    def effective_client_id(self) -> str:
        """The ``clientId`` header value (``client_id``, or ``company_id`` as older tools sent)."""
        return self.client_id if self.client_id is not None else self.company_id

    @property
    def effective_api_version(self) -> str:
        return self.api_version or default_api_version()

    @property
    def accept_header(self) -> str:
        """``Accept`` value: ``application/vnd.connectwise.com+json; version=<v>`` unless overridden."""
        if self.accept:
            return self.accept
        return f"application/vnd.connectwise.com+json; version={self.effective_api_version}"

    @property
    def site_base_url(self) -> str | None:
        """Base URL (scheme://host[:port]) that ``site`` stands for; None without ``site``."""
        if self.site is None:
            return None
        return _site_base(self.site)

    def authorization_header(self) -> str:
        """The ``Authorization`` header value. Secret: never log or display it."""
        token = f"{self.username}:{self.private_key}".encode()
        return "Basic " + base64.b64encode(token).decode("ascii")

    def auth_headers(self) -> dict[str, str]:
        """Every header ConnectWise expects on each request (includes the secret)."""
        return {
            "Authorization": self.authorization_header(),
            "clientId": self.effective_client_id,
            "Accept": self.accept_header,
            "User-Agent": self.user_agent,
        }

    # -- display: never the private key ---------------------------------------------------

    def __repr__(self) -> str:
        shown = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "private_key":
                shown.append("private_key='***'")
            elif value != f.default or f.name in ("company_id", "public_key"):
                shown.append(f"{f.name}={value!r}")
        return f"Settings({', '.join(shown)})"

    __str__ = __repr__


# What a good value looks like, per setting (used in every problem message).
_EXPECT: dict[str, str] = {
    "company_id": "the company you type at the ConnectWise login, e.g. 'mycompany' (no spaces, '+' or ':')",
    "public_key": "the API key's public key, e.g. 'AbCdEf1234567890' (no spaces or ':')",
    "private_key": "the API key's private key (shown once when the key was created), without surrounding spaces",
    "api_url": "the REST base URL, e.g. 'https://api-na.myconnectwise.net/v4_6_release/apis/3.0'",
    "site": "a cloud region (na, eu, au, aus, za), a host such as 'cw.example.com', or a base URL",
    "client_id": "your integration's clientId from developer.connectwise.com, e.g. a GUID (no spaces)",
    "auth_prefix": "the text before the public key in the username, default '<company>+'",
    "api_version": "an API version such as '2025.1'",
    "accept": "an Accept header such as 'application/vnd.connectwise.com+json; version=2025.1'",
    "connect_timeout": "seconds, a number > 0, e.g. 10",
    "read_timeout": "seconds, a number > 0, e.g. 30",
    "max_attempts": "a whole number from 1 to 10, e.g. 4",
    "backoff_base": "seconds, a number >= 0, e.g. 0.5",
    "backoff_max": "seconds, a number >= 0, e.g. 8",
    "retry_after_max": "seconds, a number >= 0, e.g. 60",
    "allow_http": "true or false",
}


def _site_base(site: str) -> str:
    site = site.strip().rstrip("/")
    if site.lower() in CLOUD_SITES:
        return f"https://{CLOUD_SITES[site.lower()]}"
    if "://" in site:
        parts = urlsplit(site)
        return f"{parts.scheme.lower()}://{parts.netloc}"
    return f"https://{site}"


def _check_url_scheme(url: str, allow_http: bool) -> str | None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "is not an http(s) URL"
    if parts.username or parts.password:
        return "must not contain credentials (use the key settings instead)"
    if parts.scheme == "http" and not allow_http and not _is_loopback(parts.hostname):
        return (
            "uses plain http to a non-loopback host, which would send the credentials "
            "unencrypted (use https, or set CONNECTWISE_ALLOW_HTTP=true if you must)"
        )
    return None


def _parse_env(name: str, value: str) -> Any:
    if name in _FLOATS:
        return float(value)
    if name == "max_attempts":
        return int(value)
    if name == "allow_http":
        flag = value.strip().lower()
        if flag not in _TRUE | _FALSE:
            raise ValueError(name)
        return flag in _TRUE
    return value


def _validate(values: Mapping[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Check every setting; return normalized values and ``(setting, problem)`` pairs."""
    out: dict[str, Any] = dict(values)
    problems: list[tuple[str, str]] = []

    def bad(name: str, what: str) -> None:
        problems.append((name, f"{what}; expected {_EXPECT[name]}"))

    for name in ("company_id", "public_key"):
        value = out[name]
        if value is None or (isinstance(value, str) and not value.strip()):
            bad(name, "is missing")
        elif not isinstance(value, str) or not _TOKEN.match(value.strip()):
            bad(name, "is malformed")
        else:
            out[name] = value.strip()

    key = out["private_key"]
    if key is None or (isinstance(key, str) and key == ""):
        bad("private_key", "is missing")
    elif not isinstance(key, str) or key != key.strip() or not key.strip():
        # Say what is wrong without echoing any of the value.
        bad("private_key", "has leading/trailing whitespace or is not text")

    api_url, site = out["api_url"], out["site"]
    if isinstance(api_url, str) and not api_url.strip():
        api_url = out["api_url"] = None
    if isinstance(site, str) and not site.strip():
        site = out["site"] = None
    if api_url is None and site is None:
        problems.append(
            (
                "api_url",
                "is missing (and so is CONNECTWISE_SITE); set one of them: "
                f"{_EXPECT['api_url']}, or CONNECTWISE_SITE=na",
            )
        )
    elif api_url is not None and site is not None:
        problems.append(
            ("site", "is set together with CONNECTWISE_API_URL; set only one of the two")
        )
    allow_http = bool(out["allow_http"])
    if api_url is not None:
        if not isinstance(api_url, str):
            bad("api_url", "is not text")
        else:
            url = api_url.strip().rstrip("/")
            scheme_problem = _check_url_scheme(url, allow_http)
            if scheme_problem:
                bad("api_url", scheme_problem)
            elif not urlsplit(url).path.endswith("/apis/3.0"):
                bad("api_url", "does not end in '/<codebase>/apis/3.0'")
            elif urlsplit(url).query or urlsplit(url).fragment:
                bad("api_url", "has a query or fragment")
            else:
                out["api_url"] = url
    if site is not None:
        if not isinstance(site, str):
            bad("site", "is not text")
        else:
            site = site.strip().rstrip("/")
            if site.lower() in CLOUD_SITES:
                out["site"] = site.lower()
            elif "://" in site:
                scheme_problem = _check_url_scheme(site, allow_http)
                if scheme_problem:
                    bad("site", scheme_problem)
                elif urlsplit(site).path not in ("", "/"):
                    bad("site", "is a URL with a path (give only scheme://host)")
                else:
                    out["site"] = site
            elif not _HOST.match(site.split(":")[0]) or "/" in site:
                bad("site", "is neither a known region nor a host name")
            else:
                out["site"] = site

    cid = out["client_id"]
    if isinstance(cid, str) and not cid.strip():
        cid = out["client_id"] = None
    if cid is not None and (not isinstance(cid, str) or re.search(r"\s", cid.strip())):
        bad("client_id", "is malformed")
    elif cid is not None:
        out["client_id"] = cid.strip()

    prefix = out["auth_prefix"]
    if prefix is not None and (not isinstance(prefix, str) or ":" in prefix):
        bad("auth_prefix", "must be text without ':'")

    version = out["api_version"]
    if isinstance(version, str) and not version.strip():
        version = out["api_version"] = None
    if version is not None and (not isinstance(version, str) or not _VERSION.match(version)):
        bad("api_version", "is malformed")
    accept = out["accept"]
    if accept is not None and (not isinstance(accept, str) or not accept.strip()):
        bad("accept", "is empty")

    for name in ("connect_timeout", "read_timeout"):
        value = out[name]
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            bad(name, "is not a positive number")
        else:
            out[name] = float(value)
    for name in ("backoff_base", "backoff_max", "retry_after_max"):
        value = out[name]
        if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
            bad(name, "is not a number >= 0")
        else:
            out[name] = float(value)
    attempts = out["max_attempts"]
    if isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts <= 10:
        bad("max_attempts", "is out of range")
    return out, problems


def _format_problems(problems: list[tuple[str, str]], names: Mapping[str, str] | None) -> str:
    label = (lambda n: names.get(n, n)) if names else (lambda n: n)
    source = "environment" if names else "arguments"
    lines = [f"ConnectWise settings are incomplete or invalid ({source}):"]
    for name, message in problems:
        message = message.replace("CONNECTWISE_SITE", label("site")).replace(
            "CONNECTWISE_API_URL", label("api_url")
        )
        lines.append(f"- {label(name)} {message}")
    return "\n".join(lines)


def _warn_client_id_fallback(names: Mapping[str, str] | None) -> None:
    global _warned_client_id
    with _warn_lock:
        if _warned_client_id:
            return
        _warned_client_id = True
    setting = names["client_id"] if names else "client_id"
    log.warning(
        "%s is not set: sending the company id as the clientId header, as older tools did. "
        "Register an integration at developer.connectwise.com and set %s to its clientId.",
        setting,
        setting,
    )


def _reset_client_id_warning() -> None:
    """Testing aid: let the clientId fallback warning be logged again."""
    global _warned_client_id
    with _warn_lock:
        _warned_client_id = False
