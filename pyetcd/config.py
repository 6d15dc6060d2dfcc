"""etcd 3.4.23's command line and `ETCD_*` environment, checked with etcd's rules and messages.

Every etcd flag is known under its etcd name with its etcd default, so existing command lines,
systemd units and BOSH templates keep working, and each is in exactly one class: ACTIVE (etcd's
effect), V3_ONLY (it only concerns the v3 API, gRPC or the bbolt backend, which pyetcd does not
serve: accepted, validated, named in one startup line) or _REFUSED (a value other than the
default stops the start with a one-line reason). No flag is accepted and ignored.
"""

from __future__ import annotations

import os
import platform
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata

from pyetcd import logs
from pyetcd.configfile import parse_config_file
from pyetcd.flags import (
    ConfigError,
    Flag,
    Parsed,
    Parser,
    ValueRejected,
    apply_environment,
    choice,
    parse_bool,
    parse_command_line,
    parse_duration,
    parse_int,
    parse_optional_urls,
    parse_str,
    parse_uint,
    parse_uint32,
    parse_unique_strings,
    parse_urls,
)
from pyetcd.urls import (
    URLError,
    check_bind_urls,
    host_port,
    names_a_host,
    parse_initial_cluster,
)
from raft.aio.recovery import member_initialized

ETCD_VERSION = "3.4.23"
try:
    PYETCD_VERSION = metadata.version("pyetcd-server")
except metadata.PackageNotFoundError:  # run from a source tree that was never installed
    PYETCD_VERSION = "unknown"
MAX_ELECTION_MS = 50000

_MEMBER = "Member"
_CLUSTER = "Clustering"
_SECURITY = "Security"
_AUTH = "Auth"
_MONITOR = "Profiling and Monitoring"
_LOGGING = "Logging"
_PROXY = "v2 Proxy"
_EXPERIMENTAL = "Experimental"
_UNSAFE = "Unsafe"
_DEPRECATED = "Deprecated"
_EXTENSIONS = "pyetcd extensions (no etcd equivalent; for etcd-release's etcd_proxy job)"


def _f(
    name: str, parse: Parser, default: str, usage: str, section: str, shown: str | None = None
) -> Flag:
    return Flag(name, parse, default, usage, section, parse is parse_bool, shown)


# fmt: off
FLAGS: tuple[Flag, ...] = (
    _f("config-file", parse_str, "", "YAML configuration file.", _MEMBER),
    _f("version", parse_bool, "false", "Print the version and exit.", _MEMBER),
    _f("name", parse_str, "default", "Name of this member in --initial-cluster.", _MEMBER),
    _f("data-dir", parse_str, "", "Directory of this member's data.", _MEMBER,
       shown="${name}.etcd"),
    _f("wal-dir", parse_str, "", "Separate directory for the write-ahead log.", _MEMBER),
    _f("snapshot-count", parse_uint, "100000", "Applied entries between two snapshots.", _MEMBER),
    _f("heartbeat-interval", parse_uint, "100", "Leader heartbeat period (ms).", _MEMBER),
    _f("election-timeout", parse_uint, "1000",
       "Milliseconds without a leader before an election starts.", _MEMBER),
    _f("initial-election-tick-advance", parse_bool, "true",
       "Shorten the first election after boot.", _MEMBER),
    _f("listen-peer-urls", parse_urls, "http://localhost:2380",
       "URLs to accept peer traffic on.", _MEMBER),
    _f("listen-client-urls", parse_urls, "http://localhost:2379",
       "URLs to accept client traffic on (IP addresses or localhost).", _MEMBER),
    _f("max-snapshots", parse_uint, "5", "Snapshot files to keep (0: keep all).", _MEMBER),
    _f("max-wals", parse_uint, "5", "WAL files to keep (0: keep all).", _MEMBER),
    _f("quota-backend-bytes", parse_int, "0", "Size alarm of the v3 backend (no v2 quota).",
       _MEMBER),
    _f("backend-batch-interval", parse_duration, "", "v3 backend commit interval.", _MEMBER),
    _f("backend-batch-limit", parse_int, "0", "v3 backend operations per commit.", _MEMBER),
    _f("max-txn-ops", parse_uint, "128", "v3 operations per transaction.", _MEMBER),
    _f("max-request-bytes", parse_uint, "1572864",
       "Largest v3 (gRPC) request accepted; as in etcd 3.4, v2 requests are not held to it "
       "(their form bodies stop at 10 MiB).", _MEMBER),
    _f("max-concurrent-streams", parse_uint32, "4294967295",
       "gRPC streams per client connection.", _MEMBER, shown="math.MaxUint32"),
    _f("grpc-keepalive-min-time", parse_duration, "5s", "gRPC keepalive minimum.", _MEMBER),
    _f("grpc-keepalive-interval", parse_duration, "2h", "gRPC keepalive ping period.", _MEMBER),
    _f("grpc-keepalive-timeout", parse_duration, "20s", "gRPC keepalive timeout.", _MEMBER),
    _f("enable-grpc-gateway", parse_bool, "true", "Serve the v3 JSON gateway.", _MEMBER),
    _f("initial-advertise-peer-urls", parse_urls, "http://localhost:2380",
       "This member's peer URLs, as the other members reach them.", _CLUSTER),
    _f("initial-cluster", parse_str, "",
       "Members at bootstrap: name=peerURL,... (a name may repeat).", _CLUSTER,
       shown="default=http://localhost:2380"),
    _f("initial-cluster-state", choice("new", "existing"), "new",
       "'new' to bootstrap a cluster, 'existing' to join one.", _CLUSTER),
    _f("initial-cluster-token", parse_str, "etcd-cluster",
       "Seed of the member and cluster ids; keeps separate clusters apart.", _CLUSTER),
    _f("advertise-client-urls", parse_urls, "http://localhost:2379",
       "This member's client URLs, as clients reach them (/v2/members, /v2/machines).",
       _CLUSTER),
    _f("discovery", parse_str, "", "Discovery service URL for bootstrap.", _CLUSTER),
    _f("discovery-fallback", choice("exit", "proxy"), "proxy",
       "What to do when discovery fails: 'exit' or 'proxy'.", _CLUSTER),
    _f("discovery-proxy", parse_str, "", "HTTP proxy for the discovery service.", _CLUSTER),
    _f("discovery-srv", parse_str, "", "DNS domain whose SRV records list the members.", _CLUSTER),
    _f("discovery-srv-name", parse_str, "", "Suffix of the SRV record name.", _CLUSTER),
    _f("strict-reconfig-check", parse_bool, "true",
       "Refuse membership changes that would lose quorum.", _CLUSTER),
    _f("pre-vote", parse_bool, "false", "Run a pre-vote phase before elections.", _CLUSTER),
    _f("auto-compaction-retention", parse_str, "0", "v3 compaction retention.", _CLUSTER),
    _f("auto-compaction-mode", parse_str, "periodic", "v3 compaction mode.", _CLUSTER),
    _f("enable-v2", parse_bool, "false",
       "Serve the v2 API (/v2/keys, /v2/members, /v2/stats, /v2/machines).", _CLUSTER),
    _f("cert-file", parse_str, "", "Client TLS certificate (PEM).", _SECURITY),
    _f("key-file", parse_str, "", "Client TLS private key (PEM).", _SECURITY),
    _f("client-cert-auth", parse_bool, "false", "Require client certificates.", _SECURITY),
    _f("client-crl-file", parse_str, "", "Revoked client certificates (PEM CRL).", _SECURITY),
    _f("client-cert-allowed-hostname", parse_str, "",
       "Hostname client certificates must carry.", _SECURITY),
    _f("trusted-ca-file", parse_str, "", "CA bundle for client certificates.", _SECURITY),
    _f("auto-tls", parse_bool, "false", "Client TLS with a generated certificate.", _SECURITY),
    _f("peer-cert-file", parse_str, "", "Peer TLS certificate (PEM).", _SECURITY),
    _f("peer-key-file", parse_str, "", "Peer TLS private key (PEM).", _SECURITY),
    _f("peer-client-cert-auth", parse_bool, "false", "Require peer certificates.", _SECURITY),
    _f("peer-trusted-ca-file", parse_str, "", "CA bundle for peer certificates.", _SECURITY),
    _f("peer-cert-allowed-cn", parse_str, "", "Common name peer certificates must carry.",
       _SECURITY),
    _f("peer-cert-allowed-hostname", parse_str, "", "Hostname peer certificates must carry.",
       _SECURITY),
    _f("peer-auto-tls", parse_bool, "false", "Peer TLS with a generated certificate.", _SECURITY),
    _f("peer-crl-file", parse_str, "", "Revoked peer certificates (PEM CRL).", _SECURITY),
    _f("cipher-suites", parse_str, "", "Comma-separated TLS cipher suites.", _SECURITY),
    _f("cors", parse_unique_strings, "*",
       "Comma-separated origins allowed by CORS ('*' or empty: all).", _SECURITY),
    _f("host-whitelist", parse_unique_strings, "*",
       "Comma-separated Host headers accepted over plain HTTP ('*': all).", _SECURITY),
    _f("auth-token", parse_str, "simple", "v3 auth token type.", _AUTH),
    _f("bcrypt-cost", parse_uint, "10", "bcrypt cost of password hashes.", _AUTH),
    _f("auth-token-ttl", parse_uint, "300", "v3 auth token lifetime in seconds.", _AUTH),
    _f("enable-pprof", parse_bool, "false", "Serve Go's profiling endpoints (/debug/pprof).",
       _MONITOR),
    _f("metrics", parse_str, "basic", "Metrics detail: 'basic' or 'extensive'.", _MONITOR),
    _f("listen-metrics-urls", parse_optional_urls, "",
       "Extra URLs serving only /metrics and /health.", _MONITOR),
    _f("logger", parse_str, "capnslog", "Logger: 'capnslog' (etcd's text lines) or 'zap' (JSON).",
       _LOGGING),
    _f("log-outputs", parse_unique_strings, "default",
       "Comma-separated: 'default', 'stderr', 'stdout'; with zap also file paths and "
       "'systemd/journal'.", _LOGGING),
    _f("log-level", parse_str, "info",
       "Log level: debug, info, warn, error, dpanic, panic or fatal.", _LOGGING),
    _f("debug", parse_bool, "false", "Log at debug level (capnslog), whatever --log-level says.",
       _DEPRECATED),
    _f("log-output", parse_unique_strings, "default", "Old name of --log-outputs.", _DEPRECATED),
    _f("log-package-levels", parse_str, "",
       "capnslog levels per etcd package, e.g. 'etcdserver=WARNING,etcdmain=DEBUG' ('*': all).",
       _DEPRECATED),
    _f("proxy", choice("off", "readonly", "on"), "off", "v2 proxy mode: off, readonly or on.",
       _PROXY),
    _f("proxy-failure-wait", parse_uint, "5000", "Milliseconds a failed endpoint rests.", _PROXY),
    _f("proxy-refresh-interval", parse_uint, "30000", "Milliseconds between endpoint refreshes.",
       _PROXY),
    _f("proxy-dial-timeout", parse_uint, "1000", "Proxy dial timeout in milliseconds.", _PROXY),
    _f("proxy-write-timeout", parse_uint, "5000", "Proxy write timeout in milliseconds.", _PROXY),
    _f("proxy-read-timeout", parse_uint, "0", "Proxy read timeout in milliseconds.", _PROXY),
    _f("pyetcd-proxy-cluster-client-urls", parse_optional_urls, "",
       "The proxy learns the members from GET /v2/members on these client URLs (with its "
       "client TLS files) instead of the peer URLs of --initial-cluster.", _EXTENSIONS),
    _f("pyetcd-proxy-members-answer", parse_optional_urls, "",
       "The proxy answers GET /v2/members itself with one member 'proxy' whose only client "
       "URL is this one, so clients that sync their endpoints keep using the proxy.",
       _EXTENSIONS),
    _f("experimental-initial-corrupt-check", parse_bool, "false", "Check data at boot.",
       _EXPERIMENTAL),
    _f("experimental-corrupt-check-time", parse_duration, "0s", "Period of corruption checks.",
       _EXPERIMENTAL),
    _f("experimental-enable-v2v3", parse_str, "", "Serve v2 from the v3 backend.", _EXPERIMENTAL),
    _f("experimental-backend-bbolt-freelist-type", parse_str, "array", "bbolt freelist type.",
       _EXPERIMENTAL),
    _f("experimental-enable-lease-checkpoint", parse_bool, "false", "Persist lease TTLs.",
       _EXPERIMENTAL),
    _f("experimental-enable-lease-checkpoint-persist", parse_bool, "false",
       "Persist lease checkpoints.", _EXPERIMENTAL),
    _f("experimental-compaction-batch-limit", parse_int, "1000", "Revisions per compaction batch.",
       _EXPERIMENTAL),
    _f("experimental-peer-skip-client-san-verification", parse_bool, "false",
       "Skip SAN checks of peer client certificates.", _EXPERIMENTAL),
    _f("experimental-watch-progress-notify-interval", parse_duration, "10m",
       "v3 watch progress period.", _EXPERIMENTAL),
    _f("experimental-warning-apply-duration", parse_duration, "100ms",
       "Log 'apply request took too long' for an entry applied slower than this.",
       _EXPERIMENTAL),
    _f("force-new-cluster", parse_bool, "false",
       "Restart as a one-member cluster, discarding the others.", _UNSAFE),
    _f("unsafe-no-fsync", parse_bool, "false", "Skip fsync (loses data on crash).", _UNSAFE),
)
# fmt: on

_BY_NAME = {f.name: f for f in FLAGS}

# Flags with etcd 3.4.23's effect.
ACTIVE = frozenset(
    {
        "name", "data-dir", "listen-client-urls", "advertise-client-urls", "listen-peer-urls",
        "initial-advertise-peer-urls", "initial-cluster", "initial-cluster-state",
        "initial-cluster-token", "enable-v2", "cors", "log-level", "debug", "version",
        "heartbeat-interval", "election-timeout", "snapshot-count", "max-snapshots", "max-wals",
        "strict-reconfig-check", "cert-file", "key-file", "trusted-ca-file", "client-cert-auth",
        "peer-cert-file", "peer-key-file", "peer-trusted-ca-file", "peer-client-cert-auth",
        "discovery", "discovery-fallback", "discovery-proxy",
        "proxy", "proxy-failure-wait", "proxy-refresh-interval", "proxy-dial-timeout",
        "proxy-write-timeout", "proxy-read-timeout",
        "wal-dir", "pre-vote", "initial-election-tick-advance", "unsafe-no-fsync",
        "force-new-cluster",
        "cipher-suites", "client-crl-file", "peer-crl-file", "auto-tls", "peer-auto-tls",
        "peer-cert-allowed-cn", "peer-cert-allowed-hostname", "client-cert-allowed-hostname",
        "experimental-peer-skip-client-san-verification",
        "config-file",
        "logger", "log-outputs", "log-output", "log-package-levels",
        "experimental-warning-apply-duration",
        "host-whitelist", "metrics", "listen-metrics-urls",
        "pyetcd-proxy-cluster-client-urls", "pyetcd-proxy-members-answer",
        "discovery-srv", "discovery-srv-name",
    }
)  # fmt: skip

# Flags that only concern the v3 API, gRPC or the bbolt backend. `--bcrypt-cost` is one: etcd's v2
# auth hashes with bcrypt's fixed default cost. The corruption checks hash the v3 key space.
# etcd 3.4.23 applies `--max-request-bytes` to gRPC requests only, never to v2 requests.
V3_ONLY = frozenset(
    {
        "quota-backend-bytes", "backend-batch-interval", "backend-batch-limit", "max-txn-ops",
        "max-request-bytes", "max-concurrent-streams", "grpc-keepalive-min-time",
        "grpc-keepalive-interval", "grpc-keepalive-timeout", "enable-grpc-gateway",
        "auto-compaction-retention", "auto-compaction-mode", "auth-token", "auth-token-ttl",
        "bcrypt-cost", "experimental-initial-corrupt-check", "experimental-corrupt-check-time",
        "experimental-backend-bbolt-freelist-type", "experimental-enable-lease-checkpoint",
        "experimental-enable-lease-checkpoint-persist", "experimental-compaction-batch-limit",
        "experimental-watch-progress-notify-interval",
    }
)  # fmt: skip

_TLS_FILES = (
    "cert-file", "key-file", "trusted-ca-file", "client-crl-file",
    "peer-cert-file", "peer-key-file", "peer-trusted-ca-file", "peer-crl-file",
)  # fmt: skip

_NOT_YET = "is not supported yet"

# Flags whose value, other than the default, asks for something pyetcd does not do: the reason,
# printed after `--flag=value`.
_REFUSED: dict[str, str] = {
    "enable-pprof": (
        "is refused: /debug/pprof serves the Go runtime's profiles (pprof format), which a "
        "Python process has no honest equivalent of"
    ),
    "experimental-enable-v2v3": _NOT_YET,
}


@dataclass(frozen=True, slots=True)
class Config:
    """The settings the daemon acts on; `inert` names the V3_ONLY flags given (logged at start)."""

    name: str
    data_dir: str
    listen_client_urls: tuple[str, ...]
    advertise_client_urls: tuple[str, ...]
    listen_peer_urls: tuple[str, ...]
    initial_advertise_peer_urls: tuple[str, ...]
    initial_cluster: tuple[tuple[str, tuple[str, ...]], ...]
    initial_cluster_state: str
    initial_cluster_token: str
    enable_v2: bool
    heartbeat_interval_ms: int
    election_timeout_ms: int
    snapshot_count: int
    max_snapshots: int
    max_wals: int
    strict_reconfig_check: bool
    cors: tuple[str, ...]
    log_level: str
    tls_files: tuple[tuple[str, str], ...]
    client_cert_auth: bool
    peer_client_cert_auth: bool
    inert: tuple[str, ...]
    warnings: tuple[str, ...]
    logging: logs.LogSettings
    warning_apply_duration: float
    discovery: str = ""
    discovery_fallback: str = "proxy"
    discovery_proxy: str = ""
    proxy: str = "off"
    proxy_failure_wait_ms: int = 5000
    proxy_refresh_interval_ms: int = 30000
    proxy_dial_timeout_ms: int = 1000
    proxy_write_timeout_ms: int = 5000
    proxy_read_timeout_ms: int = 0
    discovery_srv: str = ""
    discovery_srv_name: str = ""
    proxy_cluster_client_urls: tuple[str, ...] = ()
    proxy_members_answer: str = ""
    wal_dir: str = ""
    pre_vote: bool = False
    initial_election_tick_advance: bool = True
    unsafe_no_fsync: bool = False
    max_request_bytes: int = 1572864
    force_new_cluster: bool = False
    cipher_suites: tuple[str, ...] = ()
    auto_tls: bool = False
    peer_auto_tls: bool = False
    client_cert_allowed_hostname: str = ""
    peer_cert_allowed_cn: str = ""
    peer_cert_allowed_hostname: str = ""
    peer_skip_client_san_verification: bool = False
    host_whitelist: tuple[str, ...] = ("*",)
    metrics: str = "basic"
    listen_metrics_urls: tuple[str, ...] = ()

    @property
    def peer_urls(self) -> tuple[str, ...]:
        """This member's entry in --initial-cluster (checked equal to its advertised URLs; a
        member with a WAL does not read --initial-cluster, so its advertised URLs)."""
        return dict(self.initial_cluster).get(self.name, self.initial_advertise_peer_urls)


@dataclass(frozen=True, slots=True)
class Version:
    """`--version` was given: print `version_text()` and exit 0."""


def version_text() -> str:
    """etcd's four lines (tools parse the first), saying what actually runs."""
    machine = os.uname().machine
    arch = {"x86_64": "amd64", "aarch64": "arm64", "i686": "386"}.get(machine, machine)
    return (
        f"etcd Version: {ETCD_VERSION}\n"
        f"Git SHA: Not provided (this is pyetcd {PYETCD_VERSION}, not etcd's Go build)\n"
        f"Go Version: none (pyetcd runs on Python {platform.python_version()})\n"
        f"Go OS/Arch: {os.uname().sysname.lower()}/{arch}\n"
    )


def help_text() -> str:
    lines = [
        "Usage:",
        "",
        "  pyetcd [flags]",
        "    Start one member of an etcd v2 API cluster (etcd 3.4.23 command line).",
        "",
        "  pyetcd --version",
        "    Print the etcd version pyetcd reproduces, and pyetcd's own.",
        "",
        "  pyetcd -h | --help",
        "    Print this help.",
        "",
        "Every flag may also come from ETCD_<FLAG> (upper case, '-' as '_'), e.g. ETCD_NAME;",
        "giving both for one flag is an error.",
        "Flags marked (v3 API only) concern only the v3 API, gRPC or the bbolt backend, which",
        "pyetcd does not serve: they are checked and named at startup. A flag marked (refused)",
        "stops the start with its reason when given a value other than its default.",
    ]
    section = ""
    for flag in FLAGS:
        if flag.section != section:
            section = flag.section
            lines += ["", f"{section}:"]
        shown = flag.default if flag.shown_default is None else flag.shown_default
        lines += [f"  --{flag.name} '{shown}'", f"    {flag.usage}{_help_mark(flag.name)}"]
    return "\n".join(lines) + "\n"


def _help_mark(name: str) -> str:
    if name in V3_ONLY:
        return " (v3 API only)"
    if name == "enable-pprof":
        return " (refused: no Python equivalent of Go's profiles)"
    if name in _REFUSED:
        return " (refused: not supported yet)"
    return ""


class LoggedConfigError(ConfigError):
    """A check that failed once the logging flags were understood: etcd reports it through
    the logger they configure (under zap: "failed to verify flags" with `reason` as `error`)."""

    def __init__(self, error: ConfigError, settings: logs.LogSettings) -> None:
        super().__init__(error.message, error.exit_code)
        self.reason = error.reason if isinstance(error, _VerifyError) else error.message
        self.logging = settings


class _VerifyError(ConfigError):
    """etcd's `error verifying flags, <reason>. See 'etcd --help'.`"""

    def __init__(self, reason: str) -> None:
        super().__init__(f"error verifying flags, {reason}. See 'pyetcd --help'.")
        self.reason = reason


def _verify_error(message: str) -> ConfigError:
    return _VerifyError(message)


def load_config(argv: Sequence[str], environ: Mapping[str, str]) -> Config | Version:
    """Raises ConfigError (one line, etcd's exit code) or flags.HelpRequested."""
    try:
        given = parse_command_line(FLAGS, argv)
    except ConfigError as exc:
        raise exc if exc.exit_code == 2 else _verify_error(exc.message) from None
    if given.get("version"):
        return Version()
    config_file = given.get("config-file") or environ.get("ETCD_CONFIG_FILE", "")
    if config_file:  # etcd then ignores every other flag and ETCD_* variable
        parsed = parse_config_file(FLAGS, str(config_file))
    else:
        try:
            parsed = apply_environment(FLAGS, given, environ)
        except ConfigError as exc:
            if exc.message.startswith("invalid value"):
                raise _verify_error(exc.message) from None
            raise
    try:
        settings = logs.plan(
            parsed.text("logger"),
            parsed.strings("log-outputs"),
            parsed.strings("log-output"),
            parsed.text("log-level"),
            parsed.switch("debug"),
            parsed.text("log-package-levels"),
        )
    except ConfigError as exc:
        raise exc if exc.exit_code == 2 else _verify_error(exc.message) from None
    try:
        _verify(parsed)
        return _build(parsed, settings)
    except ConfigError as exc:
        raise LoggedConfigError(exc, settings) from None


def _verify(parsed: Parsed) -> None:
    """etcd's `Config.Validate`, in its order (logging is checked first, by `load_config`),
    then what pyetcd refuses."""
    for key, reason in _REFUSED.items():
        value = parsed.values[key]
        if value != _BY_NAME[key].parse(_BY_NAME[key].default):
            raise ConfigError(f"--{key}={_shown(value)} {reason}")
    try:
        for key in ("listen-peer-urls", "listen-client-urls", "listen-metrics-urls"):
            check_bind_urls(parsed.strings(key))
    except URLError as exc:
        raise _verify_error(str(exc)) from None
    heartbeat, election = parsed.number("heartbeat-interval"), parsed.number("election-timeout")
    if heartbeat <= 0:
        raise _verify_error(f"--heartbeat-interval must be >0 (set to {heartbeat}ms)")
    if election <= 0:
        raise _verify_error(f"--election-timeout must be >0 (set to {election}ms)")
    if 5 * heartbeat > election:
        raise _verify_error(
            f"--election-timeout[{election}ms] should be at least as 5 times as "
            f"--heartbeat-interval[{heartbeat}ms]"
        )
    if election > MAX_ELECTION_MS:
        raise _verify_error(
            f"--election-timeout[{election}ms] is too long, and should be set less than "
            f"{MAX_ELECTION_MS}ms"
        )
    bootstraps = [parsed.text(k) != "" for k in ("discovery", "initial-cluster", "discovery-srv")]
    if sum(bootstraps) > 1:
        raise _verify_error(
            'multiple discovery or bootstrap flags are set. Choose one of "initial-cluster", '
            '"discovery" or "discovery-srv"'
        )
    if (
        parsed.is_set("listen-client-urls")
        and not parsed.is_set("advertise-client-urls")
        and not _may_be_proxy(parsed)  # a proxy advertises nothing (etcd's mayBeProxy)
    ):
        raise _verify_error(
            "--advertise-client-urls is required when --listen-client-urls is set explicitly"
        )
    _verify_v3_only(parsed)
    for key in ("listen-client-urls", "listen-peer-urls"):
        for url in parsed.strings(key):
            if not url.startswith(("http://", "https://")):
                raise ConfigError(f"cannot serve {url}: unix sockets are not supported yet")
    _check_url_clash(parsed.strings("listen-client-urls"), parsed.strings("listen-peer-urls"))
    for key in _TLS_FILES:
        path = parsed.text(key)
        if path and not os.access(path, os.R_OK):
            reason = "no such file" if not os.path.exists(path) else "permission denied"
            raise ConfigError(f"--{key}: cannot read {path}: {reason}")


def _may_be_proxy(parsed: Parsed) -> bool:
    """A proxy now, or one should discovery find the cluster full (etcd's mayBeProxy)."""
    falls_back = parsed.text("discovery") != "" and parsed.text("discovery-fallback") == "proxy"
    return parsed.text("proxy") != "off" or falls_back


def _shown(value: object) -> str:
    """A flag's value as it is written on a command line."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):
        return ",".join(value)
    return str(value)


def _verify_v3_only(parsed: Parsed) -> None:
    """The checks etcd makes of v3-only flags before it serves: they still refuse a start."""
    mode = parsed.text("auto-compaction-mode")
    if mode not in ("", "revision", "periodic"):
        raise _verify_error(f'unknown auto-compaction-mode "{mode}"')
    retention = parsed.text("auto-compaction-retention") or "0"
    if not (re.fullmatch(r"[+-]?\d+", retention) and int(retention) >= 0):
        try:
            parse_duration(retention)
        except ValueRejected:
            raise ConfigError(
                f'error parsing CompactionRetention: time: invalid duration "{retention}"'
            ) from None
    problem = _auth_token_problem(parsed.text("auth-token"))
    if problem:
        raise ConfigError(f"auth: invalid auth options (--auth-token: {problem})")
    if parsed.switch("experimental-enable-lease-checkpoint-persist") and not parsed.switch(
        "experimental-enable-lease-checkpoint"
    ):
        raise _verify_error(
            "setting experimental-enable-lease-checkpoint-persist requires "
            "experimental-enable-lease-checkpoint"
        )


_JWT_METHODS = frozenset(
    f"{family}{bits}" for family in ("HS", "RS", "PS", "ES") for bits in (256, 384, 512)
)


def _auth_token_problem(text: str) -> str | None:
    """etcd's `NewTokenProvider` checks of `--auth-token` (its options as `decomposeOpts` and
    `jwtOptions.Parse` read them; key contents are not parsed): what is wrong, or None."""
    kind, *pairs = text.split(",")
    options: dict[str, str] = {}
    for pair in pairs:
        parts = pair.split("=")
        if len(parts) != 2:
            return f"invalid token specific option: {text}"
        if parts[0] in options:
            return f"invalid token specific option, duplicated parameters ({parts[0]}): {text}"
        options[parts[0]] = parts[1]
    if kind in ("", "simple"):
        return None
    if kind != "jwt":
        return f"unknown token type: {kind}"
    try:
        parse_duration(options.get("ttl", ""))
    except ValueRejected:
        return f'problem loading JWT options: time: invalid duration "{options["ttl"]}"'
    for key in ("pub-key", "priv-key"):
        path = options.get(key, "")
        if path and not os.access(path, os.R_OK):
            return f"problem loading JWT options: cannot read {path}"
    if options.get("sign-method", "") not in _JWT_METHODS:
        return "problem loading JWT options: auth: invalid auth signature method"
    return None


def _check_url_clash(client: tuple[str, ...], peer: tuple[str, ...]) -> None:
    """One address cannot serve both clients and peers (etcd fails to bind the second)."""
    clients = {host_port(url) for url in client}
    for url in peer:
        if host_port(url) in clients:
            raise ConfigError(f"{url} is both a client and a peer URL: give them different ports")


def _initial_cluster(parsed: Parsed) -> dict[str, tuple[str, ...]]:
    """etcd's bootstrap checks: the member is listed, under exactly its advertised peer URLs."""
    name, advertised = parsed.text("name"), parsed.strings("initial-advertise-peer-urls")
    text = parsed.text("initial-cluster") or ",".join(f"{name}={url}" for url in advertised)
    if parsed.text("discovery-srv-name") and not parsed.text("initial-cluster"):
        text = ""  # as etcd: --discovery-srv-name alone empties the default initial cluster
    try:
        cluster = parse_initial_cluster(text)
    except URLError as exc:
        raise ConfigError(f"error setting up initial cluster: {exc}") from None
    if name not in cluster:
        raise ConfigError(
            f'couldn\'t find local name "{name}" in the initial cluster configuration'
        )
    listed = cluster[name]
    if len(listed) != len(advertised):
        raise ConfigError(
            f"failed to resolve {','.join(advertised)} to match --initial-cluster={text} "
            f"(len({_go_quote(advertised)}) != len({_go_quote(listed)}))"
        )
    if listed != advertised and any(names_a_host(url) for url in (*listed, *advertised)):
        return cluster  # names: compared by resolved address at start (pyetcd/srv.py)
    if listed != advertised:
        entry = ",".join(f"{name}={url}" for url in listed)
        raise ConfigError(
            f"--initial-cluster has {entry} but missing from --initial-advertise-peer-urls="
            f'{",".join(advertised)} (resolved urls: "{",".join(advertised)}" != '
            f'"{",".join(listed)}")'
        )
    return cluster


def _go_quote(urls: tuple[str, ...]) -> str:
    return "[" + " ".join(f'"{u}"' for u in urls) + "]"


def _seconds(parsed: Parsed, name: str) -> float:
    value = parsed.values[name]
    assert isinstance(value, float), name
    return value


def _build(parsed: Parsed, log_settings: logs.LogSettings) -> Config:
    name = parsed.text("name")
    data_dir = parsed.text("data-dir") or f"{name}.etcd"
    # As etcd: a member with a WAL never reads the --initial-cluster* flags (nor checks them).
    # A proxy is no member: --initial-cluster only names the members it asks (etcd's rule).
    initialized = member_initialized(data_dir, parsed.text("wal-dir"))
    if parsed.text("proxy") != "off":
        cluster = _proxy_cluster(parsed)
    elif parsed.text("discovery-srv") and not parsed.text("initial-cluster"):
        cluster = {}  # the SRV records give it at start (pyetcd/srv.py)
    else:
        cluster = {} if initialized else _initial_cluster(parsed)
    given = parsed.from_command_line | parsed.from_env | parsed.from_file
    return Config(
        name=name,
        data_dir=data_dir,
        listen_client_urls=parsed.strings("listen-client-urls"),
        advertise_client_urls=parsed.strings("advertise-client-urls"),
        listen_peer_urls=parsed.strings("listen-peer-urls"),
        initial_advertise_peer_urls=parsed.strings("initial-advertise-peer-urls"),
        initial_cluster=tuple(sorted(cluster.items())),
        initial_cluster_state=parsed.text("initial-cluster-state"),
        initial_cluster_token=parsed.text("initial-cluster-token"),
        enable_v2=parsed.switch("enable-v2"),
        heartbeat_interval_ms=parsed.number("heartbeat-interval"),
        election_timeout_ms=parsed.number("election-timeout"),
        snapshot_count=parsed.number("snapshot-count"),
        max_snapshots=parsed.number("max-snapshots"),
        max_wals=parsed.number("max-wals"),
        strict_reconfig_check=parsed.switch("strict-reconfig-check"),
        cors=parsed.strings("cors"),
        log_level="debug" if parsed.switch("debug") else parsed.text("log-level"),
        tls_files=tuple((key, parsed.text(key)) for key in _TLS_FILES if parsed.text(key)),
        client_cert_auth=parsed.switch("client-cert-auth"),
        peer_client_cert_auth=parsed.switch("peer-client-cert-auth"),
        inert=tuple(sorted(n for n in given if n in V3_ONLY)),
        warnings=parsed.warnings,
        discovery=parsed.text("discovery"),
        discovery_fallback=parsed.text("discovery-fallback"),
        discovery_proxy=parsed.text("discovery-proxy"),
        proxy=parsed.text("proxy"),
        proxy_failure_wait_ms=parsed.number("proxy-failure-wait"),
        proxy_refresh_interval_ms=parsed.number("proxy-refresh-interval"),
        proxy_dial_timeout_ms=parsed.number("proxy-dial-timeout"),
        proxy_write_timeout_ms=parsed.number("proxy-write-timeout"),
        proxy_read_timeout_ms=parsed.number("proxy-read-timeout"),
        discovery_srv=parsed.text("discovery-srv"),
        discovery_srv_name=parsed.text("discovery-srv-name"),
        proxy_cluster_client_urls=_proxy_only(parsed, "pyetcd-proxy-cluster-client-urls"),
        proxy_members_answer=",".join(_proxy_only(parsed, "pyetcd-proxy-members-answer")),
        wal_dir=parsed.text("wal-dir"),
        pre_vote=parsed.switch("pre-vote"),
        initial_election_tick_advance=parsed.switch("initial-election-tick-advance"),
        unsafe_no_fsync=parsed.switch("unsafe-no-fsync"),
        max_request_bytes=parsed.number("max-request-bytes"),
        force_new_cluster=parsed.switch("force-new-cluster"),
        cipher_suites=tuple(parsed.text("cipher-suites").split(","))
        if parsed.text("cipher-suites")
        else (),
        auto_tls=parsed.switch("auto-tls"),
        peer_auto_tls=parsed.switch("peer-auto-tls"),
        client_cert_allowed_hostname=parsed.text("client-cert-allowed-hostname"),
        peer_cert_allowed_cn=parsed.text("peer-cert-allowed-cn"),
        peer_cert_allowed_hostname=parsed.text("peer-cert-allowed-hostname"),
        peer_skip_client_san_verification=parsed.switch(
            "experimental-peer-skip-client-san-verification"
        ),
        logging=log_settings,
        warning_apply_duration=_seconds(parsed, "experimental-warning-apply-duration"),
        host_whitelist=parsed.strings("host-whitelist"),
        metrics=parsed.text("metrics"),
        listen_metrics_urls=parsed.strings("listen-metrics-urls"),
    )


def _proxy_only(parsed: Parsed, name: str) -> tuple[str, ...]:
    """A URL extension flag that only means something to a proxy."""
    urls = parsed.strings(name)
    if urls and parsed.text("proxy") == "off":
        raise ConfigError(f"--{name} only applies with --proxy on|readonly")
    if name == "pyetcd-proxy-members-answer" and len(urls) > 1:
        raise ConfigError(f"--{name} takes one URL, got {','.join(urls)!r}")
    return urls


def _proxy_cluster(parsed: Parsed) -> dict[str, tuple[str, ...]]:
    try:
        return parse_initial_cluster(
            parsed.text("initial-cluster") or "default=http://localhost:2380"
        )
    except URLError as exc:
        raise ConfigError(f"error setting up initial cluster: {exc}") from None
