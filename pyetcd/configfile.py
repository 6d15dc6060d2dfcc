"""etcd 3.4's `--config-file`: a YAML file whose keys are the flag names.

As in etcd, a config file replaces the command line and the `ETCD_*` environment entirely
(etcdmain ignores them, saying so); the file's values go through the same parsers and checks as
flags. etcd decodes the file into Go types (`embed.configYAML`), so a value of the wrong YAML type
fails with Go's wording. One deliberate difference: etcd silently ignores unknown keys, pyetcd
refuses them, because a misspelt key in a rendered BOSH template must fail the deploy, not
start a member with a default.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import yaml

from pyetcd.flags import ConfigError, Flag, Parsed, ValueRejected

# Go type of each key in etcd's configYAML (embed.Config, etcdmain.configProxy).
_STRING, _BOOL, _DURATION, _LIST = "string", "bool", "time.Duration", "[]string"
_UINT, _UINT64, _UINT32, _INT, _INT64 = "uint", "uint64", "uint32", "int", "int64"
_SECURITY = "embed.securityConfig"

# fmt: off
_KEYS: dict[str, str] = {
    "name": _STRING, "data-dir": _STRING, "wal-dir": _STRING, "snapshot-count": _UINT64,
    "max-snapshots": _UINT, "max-wals": _UINT, "heartbeat-interval": _UINT,
    "election-timeout": _UINT, "initial-election-tick-advance": _BOOL,
    "backend-batch-interval": _DURATION, "backend-batch-limit": _INT,
    "quota-backend-bytes": _INT64, "max-txn-ops": _UINT, "max-request-bytes": _UINT,
    "max-concurrent-streams": _UINT32, "cipher-suites": _LIST,
    "initial-cluster-state": _STRING, "discovery-srv": _STRING, "discovery-srv-name": _STRING,
    "discovery-proxy": _STRING, "discovery": _STRING, "initial-cluster": _STRING,
    "initial-cluster-token": _STRING, "strict-reconfig-check": _BOOL, "enable-v2": _BOOL,
    "auto-compaction-mode": _STRING, "auto-compaction-retention": _STRING,
    "grpc-keepalive-min-time": _DURATION, "grpc-keepalive-interval": _DURATION,
    "grpc-keepalive-timeout": _DURATION, "pre-vote": _BOOL, "auth-token": _STRING,
    "bcrypt-cost": _UINT, "auth-token-ttl": _UINT,
    "experimental-initial-corrupt-check": _BOOL, "experimental-corrupt-check-time": _DURATION,
    "experimental-enable-v2v3": _STRING, "experimental-backend-bbolt-freelist-type": _STRING,
    "experimental-enable-lease-checkpoint": _BOOL,
    "experimental-enable-lease-checkpoint-persist": _BOOL,
    "experimental-compaction-batch-limit": _INT,
    "experimental-watch-progress-notify-interval": _DURATION,
    "experimental-warning-apply-duration": _DURATION, "force-new-cluster": _BOOL,
    "enable-pprof": _BOOL, "metrics": _STRING, "listen-metrics-urls": _STRING,
    "logger": _STRING, "log-level": _STRING, "log-outputs": _LIST, "enable-grpc-gateway": _BOOL,
    "log-output": _LIST, "debug": _BOOL, "log-package-levels": _STRING,
    "unsafe-no-fsync": _BOOL, "listen-peer-urls": _STRING, "listen-client-urls": _STRING,
    "initial-advertise-peer-urls": _STRING, "advertise-client-urls": _STRING,
    "cors": _STRING, "host-whitelist": _STRING,
    "client-transport-security": _SECURITY, "peer-transport-security": _SECURITY,
    "proxy": _STRING, "discovery-fallback": _STRING, "proxy-failure-wait": _UINT,
    "proxy-refresh-interval": _UINT, "proxy-dial-timeout": _UINT, "proxy-write-timeout": _UINT,
    "proxy-read-timeout": _UINT,
    # pyetcd's own keys (no etcd equivalent), for etcd-release's etcd_proxy job.
    "pyetcd-proxy-cluster-client-urls": _STRING, "pyetcd-proxy-members-answer": _STRING,
}
# fmt: on

# A transport-security section's keys, and the flag each one sets (peer flags get `peer-`).
_SECURITY_KEYS: dict[str, str] = {
    "cert-file": _STRING,
    "key-file": _STRING,
    "client-cert-auth": _BOOL,
    "trusted-ca-file": _STRING,
    "auto-tls": _BOOL,
}
_SECURITY_PREFIX = {"client-transport-security": "", "peer-transport-security": "peer-"}

# Keys etcd only reads when not empty: an empty string keeps the default.
_DEFAULT_WHEN_EMPTY = frozenset(
    {
        "listen-peer-urls", "listen-client-urls", "initial-advertise-peer-urls",
        "advertise-client-urls", "listen-metrics-urls", "cors", "host-whitelist", "proxy",
        "discovery-fallback",
    }
)  # fmt: skip

_UNSIGNED_BITS = {_UINT: 64, _UINT64: 64, _UINT32: 32}
_SIGNED_BITS = {_INT: 64, _INT64: 64}


def ignored_notice(path: str) -> str:
    """etcdmain's line when a config file is in use."""
    return (
        f'Loading server configuration from "{path}". Other configuration command line flags '
        "and environment variables will be ignored if provided."
    )


def _decode_error(message: str) -> ConfigError:
    return ConfigError(f"error verifying flags, {message}. See 'pyetcd --help'.")


def _go_kind(value: object) -> str:
    """The JSON kind encoding/json names in an unmarshal error (numbers with their value)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return f"number {value}"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _type_error(field: str, go_type: str, value: object) -> ConfigError:
    kind = _go_kind(value)
    if go_type in (_STRING, _BOOL, _LIST, _SECURITY, _DURATION) and kind.startswith("number"):
        kind = "number"
    return _decode_error(
        "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal "
        f"{kind} into Go struct field {field} of type {go_type}"
    )


def _as_flag_text(field: str, go_type: str, value: object) -> str:
    """The value as the flag would have been written; raises ConfigError on a wrong type."""
    if go_type == _STRING and isinstance(value, str):
        return value
    if go_type == _BOOL and isinstance(value, bool):
        return "true" if value else "false"
    if go_type == _LIST and isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ",".join(value)
    if isinstance(value, int) and not isinstance(value, bool):
        if go_type in _UNSIGNED_BITS and 0 <= value < 2 ** _UNSIGNED_BITS[go_type]:
            return str(value)
        bits = _SIGNED_BITS.get(go_type)
        if bits is not None and -(2 ** (bits - 1)) <= value < 2 ** (bits - 1):
            return str(value)
        if go_type == _DURATION:  # Go decodes a Duration from JSON as integer nanoseconds
            return f"{value}ns"
    raise _type_error(field, go_type, value)


def _read_yaml(path: str) -> Mapping[str, object]:
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise _decode_error(f"open {path}: {(exc.strerror or str(exc)).lower()}") from None
    except UnicodeDecodeError:
        raise _decode_error(f"error converting YAML to JSON: {path} is not UTF-8 text") from None
    try:
        document = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.context_mark or exc.problem_mark
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise _decode_error(f"error converting YAML to JSON: yaml: {where}{exc.problem}") from None
    except yaml.YAMLError as exc:
        raise _decode_error(f"error converting YAML to JSON: yaml: {exc}") from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise _decode_error(
            "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal "
            f"{_go_kind(document)} into Go value of type embed.configYAML"
        )
    return document


def _flag_texts(path: str, document: Mapping[str, object]) -> dict[str, str]:
    """Flag name -> flag text, for every key the file sets (null keeps the default)."""
    texts: dict[str, str] = {}
    for key, value in document.items():
        go_type = _KEYS.get(key) if isinstance(key, str) else None
        if go_type is None:
            raise ConfigError(
                f"config file {path}: unknown key {key!r} (etcd 3.4 would ignore it; "
                "keys are the flag names without dashes in front, see 'pyetcd --help')"
            )
        if value is None:
            continue
        if go_type != _SECURITY:
            text = _as_flag_text(f"configYAML.{key}", go_type, value)
            if not (text == "" and key in _DEFAULT_WHEN_EMPTY):
                texts[key] = text
            continue
        if not isinstance(value, dict):
            raise _type_error(f"configYAML.{key}", go_type, value)
        for sub, sub_value in value.items():
            sub_type = _SECURITY_KEYS.get(sub) if isinstance(sub, str) else None
            if sub_type is None:
                raise ConfigError(
                    f"config file {path}: unknown key {sub!r} in {key} "
                    f"(known: {', '.join(_SECURITY_KEYS)})"
                )
            if sub_value is not None:
                field = f"configYAML.{key}.{sub}"
                texts[_SECURITY_PREFIX[key] + sub] = _as_flag_text(field, sub_type, sub_value)
    return texts


def parse_config_file(flags: Sequence[Flag], path: str) -> Parsed:
    """Every flag's value from the file (the defaults for what it leaves out); the keys it set
    are `from_file`, so checks that only apply to explicit flags behave as etcd's do."""
    texts = _flag_texts(path, _read_yaml(path))
    values: dict[str, object] = {}
    for flag in flags:
        text = texts.get(flag.name, flag.default)
        try:
            values[flag.name] = flag.parse(text)
        except ValueRejected as exc:
            raise _decode_error(
                f'invalid value "{text}" for {flag.name} in config file {path}: {exc}'
            ) from None
    notice = (ignored_notice(path),)
    return Parsed(values, frozenset(), frozenset(), notice, from_file=frozenset(texts))
