"""Command line and environment, against what real etcd 3.4.23 printed for the same input.

The expected messages are literals captured from `/usr/bin/etcd` (its log prefix stripped);
pyetcd names itself in the `See '... --help'` hint.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyetcd.cli import _log_startup
from pyetcd.config import (
    _REFUSED,
    ACTIVE,
    FLAGS,
    V3_ONLY,
    Config,
    Version,
    help_text,
    load_config,
    version_text,
)
from pyetcd.flags import ConfigError, HelpRequested, parse_duration

ADV = ["--advertise-client-urls", "http://127.0.0.1:41379"]


def _etcd(message: str) -> str:
    return message.replace("See 'etcd --help'.", "See 'pyetcd --help'.")


def _load(argv: list[str], env: dict[str, str] | None = None) -> Config:
    loaded = load_config(argv, env or {})
    assert isinstance(loaded, Config)
    return loaded


# (argv, environment, exit code, real etcd's message)
ETCD_ERRORS: list[tuple[list[str], dict[str, str], int, str]] = [
    (["--nonsense"], {}, 2, "flag provided but not defined: -nonsense"),
    (["-nonsense=1"], {}, 2, "flag provided but not defined: -nonsense"),
    (["--name"], {}, 2, "flag needs an argument: -name"),
    (["--heartbeat-interval", "abc"], {}, 2,
     'invalid value "abc" for flag -heartbeat-interval: parse error'),
    (["--snapshot-count", "-1"], {}, 2, 'invalid value "-1" for flag -snapshot-count: parse error'),
    (["--max-concurrent-streams", "-1"], {}, 2,
     'invalid value "-1" for flag -max-concurrent-streams: strconv.ParseUint: parsing "-1": '
     "invalid syntax"),
    (["--grpc-keepalive-min-time", "5x"], {}, 2,
     'invalid value "5x" for flag -grpc-keepalive-min-time: parse error'),
    (["--enable-v2=maybe"], {}, 2, 'invalid boolean value "maybe" for -enable-v2: parse error'),
    (["---x"], {}, 2, "bad flag syntax: ---x"),
    (["-=x"], {}, 2, "bad flag syntax: -=x"),
    (["--initial-cluster-state", "foo"], {}, 2,
     'invalid value "foo" for flag -initial-cluster-state: invalid value'),
    (["--proxy", "foo"], {}, 2, 'invalid value "foo" for flag -proxy: invalid value'),
    (["--discovery-fallback", "foo"], {}, 2,
     'invalid value "foo" for flag -discovery-fallback: invalid value'),
    (["--listen-client-urls", "ftp://127.0.0.1:41379", *ADV], {}, 2,
     'invalid value "ftp://127.0.0.1:41379" for flag -listen-client-urls: URL scheme must be '
     "http, https, unix, or unixs: ftp://127.0.0.1:41379"),
    (["--listen-client-urls", "127.0.0.1:41379", *ADV], {}, 2,
     'invalid value "127.0.0.1:41379" for flag -listen-client-urls: parse "127.0.0.1:41379": '
     "first path segment in URL cannot contain colon"),
    (["--advertise-client-urls", "bad"], {}, 2,
     'invalid value "bad" for flag -advertise-client-urls: URL scheme must be http, https, '
     "unix, or unixs: bad"),
    (["--listen-client-urls", "http://localhost:1"], {}, 1,
     "error verifying flags, --advertise-client-urls is required when --listen-client-urls is "
     "set explicitly. See 'etcd --help'."),
    (["--listen-client-urls", "http://foo:41379", "--advertise-client-urls", "http://foo:41379"],
     {}, 1,
     "error verifying flags, expected IP in URL for binding (http://foo:41379). "
     "See 'etcd --help'."),
    (["--listen-peer-urls", "http://foo:41380"], {}, 1,
     "error verifying flags, expected IP in URL for binding (http://foo:41380). "
     "See 'etcd --help'."),
    (["--heartbeat-interval", "0"], {}, 1,
     "error verifying flags, --heartbeat-interval must be >0 (set to 0ms). See 'etcd --help'."),
    (["--election-timeout", "100"], {}, 1,
     "error verifying flags, --election-timeout[100ms] should be at least as 5 times as "
     "--heartbeat-interval[100ms]. See 'etcd --help'."),
    (["--election-timeout", "60000", "--heartbeat-interval", "1000"], {}, 1,
     "error verifying flags, --election-timeout[60000ms] is too long, and should be set less "
     "than 50000ms. See 'etcd --help'."),
    (["extra", "positional"], {}, 1,
     "error verifying flags, 'extra' is not a valid flag. See 'etcd --help'."),
    (["--", "--nonsense"], {}, 1,
     "error verifying flags, '--nonsense' is not a valid flag. See 'etcd --help'."),
    (["--enable-v2", "false"], {}, 1,
     "error verifying flags, 'false' is not a valid flag. See 'etcd --help'."),
    (["--name", "y"], {"ETCD_NAME": "x"}, 1,
     'conflicting environment variable "ETCD_NAME" is shadowed by corresponding command-line '
     "flag (either unset environment variable or disable flag)"),
    (["--name", "y"], {"ETCD_NAME": ""}, 1,
     'conflicting environment variable "ETCD_NAME" is shadowed by corresponding command-line '
     "flag (either unset environment variable or disable flag)"),
    ([], {"ETCD_ENABLE_V2": "maybe", "ETCD_FOO": "1"}, 1,
     'error verifying flags, invalid value "maybe" for ETCD_ENABLE_V2: parse error. '
     "See 'etcd --help'."),
    ([], {"ETCD_HEARTBEAT_INTERVAL": "abc"}, 1,
     'error verifying flags, invalid value "abc" for ETCD_HEARTBEAT_INTERVAL: parse error. '
     "See 'etcd --help'."),
    (["--name", "foo", "--initial-cluster", "default=http://localhost:2380"], {}, 1,
     'couldn\'t find local name "foo" in the initial cluster configuration'),
    (["--initial-cluster", "bad"], {}, 1,
     "error setting up initial cluster: URL scheme must be http, https, unix, or unixs: "),
    (["--initial-cluster", "default=bad"], {}, 1,
     "error setting up initial cluster: URL scheme must be http, https, unix, or unixs: bad"),
    (["--initial-cluster", "default=http://127.0.0.1:41380"], {}, 1,
     "--initial-cluster has default=http://127.0.0.1:41380 but missing from "
     "--initial-advertise-peer-urls=http://localhost:2380 (resolved urls: "
     '"http://localhost:2380" != "http://127.0.0.1:41380")'),
    (["--initial-advertise-peer-urls", "http://127.0.0.1:41380", "--initial-cluster",
      "default=http://127.0.0.1:41380,default=http://127.0.0.1:41380"], {}, 1,
     "failed to resolve http://127.0.0.1:41380 to match --initial-cluster=default="
     "http://127.0.0.1:41380,default=http://127.0.0.1:41380 "
     '(len(["http://127.0.0.1:41380"]) != '
     'len(["http://127.0.0.1:41380" "http://127.0.0.1:41380"]))'),
    (["--election-timeout", "0"], {}, 1,
     "error verifying flags, --election-timeout must be >0 (set to 0ms). See 'etcd --help'."),
    (["--auto-compaction-mode", "foo"], {}, 1,
     "error verifying flags, unknown auto-compaction-mode \"foo\". See 'etcd --help'."),
    (["--experimental-enable-lease-checkpoint-persist"], {}, 1,
     "error verifying flags, setting experimental-enable-lease-checkpoint-persist requires "
     "experimental-enable-lease-checkpoint. See 'etcd --help'."),
    (["--log-level", "foo"], {}, 2, 'unknown level "foo"'),
    ([], {"ETCD_LOG_LEVEL": "foo", "ETCD_LOGGER": "zap"}, 2, 'unknown level "foo"'),
    (["--logger", "foo"], {}, 1,
     "error verifying flags, unknown logger option \"foo\". See 'etcd --help'."),
    (["--log-outputs", "stderr,stdout"], {}, 1,
     "error verifying flags, --logger=capnslog supports only 1 value in '--log-outputs', got "
     '["stderr" "stdout"]. See \'etcd --help\'.'),
    (["--log-outputs", "/tmp/f.log"], {}, 1,
     'error verifying flags, unknown log-output "/tmp/f.log" (only supports "default", '
     '"stderr", "stdout"). See \'etcd --help\'.'),
    (["--log-outputs", ""], {}, 1,
     'error verifying flags, unknown log-output "" (only supports "default", "stderr", '
     '"stdout"). See \'etcd --help\'.'),
    (["--logger", "zap", "--log-outputs", "default,stderr"], {}, 1,
     'error verifying flags, multi logoutput for "default" is not supported yet. '
     "See 'etcd --help'."),
    (["--logger", "zap", "--log-outputs", "systemd/journal,stderr"], {}, 1,
     "error verifying flags, running with systemd/journal but other '--log-outputs' values "
     '(["stderr" "systemd/journal"]) are configured with \'default\'; override \'default\' '
     "value with something else. See 'etcd --help'."),
    (["--log-output", "stderr", "--log-outputs", "stderr"], {}, 1,
     "error verifying flags, '--log-output=[\"stderr\"]' and '--log-outputs=[\"stderr\"]' are "
     "incompatible; only set --log-outputs. See 'etcd --help'."),
    (["--log-output", "stdout,stderr", "--log-outputs", "stderr,stdout"], {}, 1,
     "error verifying flags, both '--log-output' and '--log-outputs' are set; only set "
     "'--log-outputs'. See 'etcd --help'."),
    (["--log-output", "stdout,stderr", "--log-outputs", "stderr"], {}, 1,
     "error verifying flags, --logger=capnslog supports only 1 value in '--log-outputs', got "
     '["stderr" "stdout"]. See \'etcd --help\'.'),
]  # fmt: skip


@pytest.mark.parametrize(("argv", "env", "code", "message"), ETCD_ERRORS)
def test_errors_match_real_etcd(argv: list[str], env: dict[str, str], code: int, message: str):
    with pytest.raises(ConfigError) as caught:
        load_config(argv, env)
    assert caught.value.exit_code == code
    assert caught.value.message == _etcd(message)
    assert "\n" not in caught.value.message


PYETCD_ERRORS: list[tuple[list[str], str]] = [
    (["--cert-file", "/nonexistent/cert.pem"], "--cert-file: cannot read /nonexistent/cert.pem"),
    (["--config-file", "etcd.yml"], "open etcd.yml: no such file or directory"),
    (["--listen-peer-urls", "http://127.0.0.1:7001", "--listen-client-urls",
      "http://127.0.0.1:7001", "--advertise-client-urls", "http://127.0.0.1:7001"],
     "http://127.0.0.1:7001 is both a client and a peer URL"),
    (["--listen-peer-urls", "unix://127.0.0.1:7001"], "unix sockets are not supported yet"),
    (["--advertise-client-urls", "http://127.0.0.1:1/path"], "URL must not contain a path"),
    (["--advertise-client-urls", "http://127.0.0.1"], 'does not have the form "host:port"'),
    (["--advertise-client-urls", "http://h:abc"], 'invalid port ":abc" after host'),
    (["--auth-token", "foo"], "auth: invalid auth options (--auth-token: unknown token type: foo)"),
    (["--auth-token", "jwt"], "auth: invalid auth options (--auth-token: problem loading JWT "
     "options: auth: invalid auth signature method)"),
    (["--auth-token", "jwt,sign-method=RS256,priv-key=/nonexistent"], "cannot read /nonexistent"),
    (["--auth-token", "jwt,sign-method=RS256,ttl=x"], 'time: invalid duration "x"'),
    (["--auth-token", "simple,x"], "invalid token specific option: simple,x"),
    (["--auth-token", "jwt,ttl=1m,ttl=2m"], "duplicated parameters (ttl)"),
    (["--auto-compaction-retention", "abc"],
     'error parsing CompactionRetention: time: invalid duration "abc"'),
]  # fmt: skip


def test_clusters_and_joining_are_accepted() -> None:
    config = load_config(
        [
            "--name=b", "--initial-advertise-peer-urls=http://127.0.0.1:2",
            "--initial-cluster=a=http://127.0.0.1:1,b=http://127.0.0.1:2",
            "--initial-cluster-state=existing", "--snapshot-count=10", "--max-wals=2",
            "--max-snapshots=3", "--strict-reconfig-check=false",
        ],
        {},
    )  # fmt: skip
    assert isinstance(config, Config)
    assert config.initial_cluster == (
        ("a", ("http://127.0.0.1:1",)),
        ("b", ("http://127.0.0.1:2",)),
    )
    assert (config.initial_cluster_state, config.snapshot_count) == ("existing", 10)
    assert (config.max_wals, config.max_snapshots, config.strict_reconfig_check) == (2, 3, False)
    assert "snapshot-count" not in config.inert


@pytest.mark.parametrize(("argv", "fragment"), PYETCD_ERRORS)
def test_what_pyetcd_cannot_do_yet_is_a_clear_error(argv: list[str], fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(argv, {})
    assert fragment in caught.value.message
    assert caught.value.exit_code in (1, 2)


def test_defaults_are_etcds() -> None:
    config = _load([])
    assert config.name == "default"
    assert config.data_dir == "default.etcd"
    assert config.listen_client_urls == ("http://localhost:2379",)
    assert config.advertise_client_urls == ("http://localhost:2379",)
    assert config.listen_peer_urls == ("http://localhost:2380",)
    assert config.initial_cluster == (("default", ("http://localhost:2380",)),)
    assert config.initial_cluster_state == "new"
    assert config.initial_cluster_token == "etcd-cluster"
    assert config.enable_v2 is False
    assert (config.heartbeat_interval_ms, config.election_timeout_ms) == (100, 1000)
    assert config.cors == ("*",)
    assert config.inert == ()
    assert config.warnings == ()


def test_data_dir_defaults_from_name_and_initial_cluster_follows_it() -> None:
    config = _load(["--name", "n1"])
    assert config.data_dir == "n1.etcd"
    assert config.peer_urls == ("http://localhost:2380",)


@pytest.mark.parametrize(
    "argv",
    [
        ["--name", "a", "-enable-v2", "--heartbeat-interval=50", "-election-timeout", "500"],
        ["-name=a", "--enable-v2=true", "--heartbeat-interval", "50", "--election-timeout=500"],
        ["--name", "zzz", "--name", "a", "--enable-v2=T", "--heartbeat-interval", "0x32",
         "--election-timeout", "500"],
    ],
)  # fmt: skip
def test_go_flag_syntax_variants_agree(argv: list[str]) -> None:
    config = _load(argv)
    assert (config.name, config.enable_v2) == ("a", True)
    assert (config.heartbeat_interval_ms, config.election_timeout_ms) == (50, 500)


def test_every_flag_comes_from_its_environment_variable() -> None:
    env = {
        "ETCD_NAME": "n1",
        "ETCD_ENABLE_V2": "1",
        "ETCD_LISTEN_CLIENT_URLS": "http://127.0.0.1:41379,http://0.0.0.0:41378",
        "ETCD_ADVERTISE_CLIENT_URLS": "http://127.0.0.1:41379",
        "ETCD_INITIAL_CLUSTER_TOKEN": "tok",
        "ETCD_CORS": "http://b,http://a",
        "ETCD_SNAPSHOT_COUNT": "10",
    }
    config = _load([], env)
    assert config.name == "n1" and config.enable_v2
    assert config.listen_client_urls == ("http://0.0.0.0:41378", "http://127.0.0.1:41379")
    assert config.initial_cluster_token == "tok"
    assert config.cors == ("http://a", "http://b")
    assert (config.inert, config.snapshot_count) == ((), 10)


def test_unknown_etcd_variables_only_warn() -> None:
    config = _load([], {"ETCD_UNSUPPORTED_ARCH": "arm64", "ETCDCTL_API": "2", "HOME": "/"})
    assert config.warnings == ("unrecognized environment variable ETCD_UNSUPPORTED_ARCH=arm64",)


def test_v3_only_flags_are_validated_and_reported_inert() -> None:
    config = _load(
        [
            "--snapshot-count", "100000", "--max-wals", "2", "--strict-reconfig-check=false",
            "--quota-backend-bytes", "8589934592", "--logger", "zap", "--max-request-bytes", "10",
            "--experimental-corrupt-check-time", "1m30s", "--cors", "*",
            "--host-whitelist", "example.com", "--bcrypt-cost", "12",
            "--listen-metrics-urls", "http://127.0.0.1:41381",
        ]
    )  # fmt: skip
    assert config.inert == (
        "bcrypt-cost", "experimental-corrupt-check-time", "max-request-bytes",
        "quota-backend-bytes",
    )  # fmt: skip
    assert config.host_whitelist == ("example.com",)
    assert config.listen_metrics_urls == ("http://127.0.0.1:41381",)


def test_metrics_flags_have_etcd_s_defaults_and_accept_any_level() -> None:
    config = _load([])
    assert (config.host_whitelist, config.metrics, config.listen_metrics_urls) == (
        ("*",), "basic", ()
    )  # fmt: skip
    assert _load(["--metrics", "extensive"]).metrics == "extensive"
    assert _load(["--host-whitelist", ""]).host_whitelist == ("",)  # only an empty Host


def test_tls_files_are_checked_to_exist(tmp_path: Path) -> None:
    cert = tmp_path / "server.crt"
    cert.write_text("pem")
    config = _load(["--cert-file", str(cert), "--key-file", str(cert)])
    assert config.tls_files == (("cert-file", str(cert)), ("key-file", str(cert)))


def test_version_and_help() -> None:
    assert isinstance(load_config(["--version"], {"ETCD_NAME": "ignored"}), Version)
    assert isinstance(load_config(["-version"], {}), Version)
    assert version_text().startswith("etcd Version: 3.4.23\n")
    assert "pyetcd" in version_text()
    for argv in (["-h"], ["--help"], ["-help"], ["--name", "x", "-h"]):
        with pytest.raises(HelpRequested):
            load_config(argv, {})
    text = help_text()
    assert "(accepted)" not in text and "--snapshot-count '100000'\n    Applied" in text
    for flag in FLAGS:
        assert f"  --{flag.name} '" in text


def test_every_flag_is_in_exactly_one_class() -> None:
    classes = (ACTIVE, V3_ONLY, frozenset(_REFUSED))
    for flag in FLAGS:
        assert sum(flag.name in c for c in classes) == 1, flag.name
    assert set().union(*classes) == {f.name for f in FLAGS}


def _usage(name: str) -> str:
    lines = help_text().splitlines()
    index = next(i for i, line in enumerate(lines) if line.startswith(f"  --{name} '"))
    return lines[index + 1]


def test_help_marks_each_class() -> None:
    for name in V3_ONLY:
        assert _usage(name).endswith(" (v3 API only)"), name
    for name in _REFUSED:
        assert "(refused: " in _usage(name), name
    assert _usage("enable-pprof").endswith("(refused: no Python equivalent of Go's profiles)")
    for name in ACTIVE:
        assert "(refused" not in _usage(name) and "(v3 API only)" not in _usage(name), name


_REFUSING: dict[str, str] = {
    "config-file": "etcd.yml", "wal-dir": "/wal", "initial-election-tick-advance": "false",
    "discovery": "https://discovery.etcd.io/x", "discovery-fallback": "exit",
    "discovery-proxy": "http://p:1", "discovery-srv": "example.com",
    "discovery-srv-name": "x", "pre-vote": "true", "client-crl-file": "/crl",
    "client-cert-allowed-hostname": "h", "auto-tls": "true", "peer-cert-allowed-cn": "cn",
    "peer-cert-allowed-hostname": "h", "peer-auto-tls": "true", "peer-crl-file": "/crl",
    "cipher-suites": "TLS_RSA_WITH_AES_128_GCM_SHA256", "host-whitelist": "example.com",
    "enable-pprof": "true", "metrics": "extensive", "listen-metrics-urls": "http://127.0.0.1:1",
    "proxy": "readonly", "proxy-failure-wait": "1", "proxy-refresh-interval": "1",
    "proxy-dial-timeout": "1", "proxy-write-timeout": "1", "proxy-read-timeout": "1",
    "experimental-enable-v2v3": "/v2v3", "experimental-peer-skip-client-san-verification": "true",
    "force-new-cluster": "true", "unsafe-no-fsync": "true",
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(_REFUSED))
def test_refused_flags_stop_the_start_with_their_reason(name: str) -> None:
    value = _REFUSING[name]
    with pytest.raises(ConfigError) as caught:
        load_config([f"--{name}={value}"], {})
    assert caught.value.message.startswith(f"--{name}={value} ")
    assert "\n" not in caught.value.message and caught.value.exit_code == 1
    with pytest.raises(ConfigError):
        load_config([], {f"ETCD_{name.upper().replace('-', '_')}": value})
    default = next(f.default for f in FLAGS if f.name == name)
    assert isinstance(load_config([f"--{name}={default}"], {}), Config)


def test_v3_only_values_etcd_accepts_are_accepted(tmp_path: Path) -> None:
    key = tmp_path / "jwt.key"
    key.write_text("secret")
    for argv in (
        ["--auth-token", f"jwt,sign-method=HS256,priv-key={key},ttl=10m"],
        ["--auth-token", "simple"],
        ["--auto-compaction-retention", "1h30m", "--auto-compaction-mode", "periodic"],
        ["--auto-compaction-retention", "5", "--auto-compaction-mode", "revision"],
    ):
        assert _load(argv).inert


def test_pprof_is_refused_with_a_reason() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(["--enable-pprof"], {})
    assert "Go runtime's profiles" in caught.value.message
    assert "no honest equivalent" in caught.value.message


def test_v3_only_flags_get_one_startup_line_each(caplog: pytest.LogCaptureFixture) -> None:
    config = _load(["--quota-backend-bytes", "1", "--grpc-keepalive-timeout", "1s"])
    with caplog.at_level(logging.INFO):
        _log_startup(config)
    lines = [r.getMessage() for r in caplog.records if "v3 API" in r.getMessage()]
    assert lines == [
        "--grpc-keepalive-timeout applies to the v3 API, which pyetcd does not serve",
        "--quota-backend-bytes applies to the v3 API, which pyetcd does not serve",
    ]
    assert not any("no effect" in r.getMessage() for r in caplog.records)


def test_warning_apply_duration_and_logging_reach_the_config() -> None:
    config = _load(["--experimental-warning-apply-duration", "250ms", "--logger", "zap",
                    "--log-outputs", "stdout", "--log-level", "warn"])  # fmt: skip
    assert config.warning_apply_duration == pytest.approx(0.25)
    assert (config.logging.logger, config.logging.outputs) == ("zap", ("stdout",))
    assert config.logging.level == logging.WARNING


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("0", 0.0), ("", 0.0), ("5s", 5.0), ("2h", 7200.0), ("1m30s", 90.0), ("100ms", 0.1),
     ("1.5h", 5400.0), ("-2s", -2.0), ("3µs", 3e-6)],
)  # fmt: skip
def test_go_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


_FLAG_NAMES = [f.name for f in FLAGS]
_ARG = st.one_of(
    st.sampled_from(_FLAG_NAMES).map(lambda n: f"--{n}"),
    st.sampled_from(_FLAG_NAMES).flatmap(lambda n: st.text(max_size=12).map(f"-{n}=".__add__)),
    st.sampled_from(["http://127.0.0.1:1?q#f", "http://[::1]:2", "-", "--", "true", "0x"]),
    st.text(max_size=12),
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(argv=st.lists(_ARG, max_size=6))
def test_any_command_line_gives_a_config_or_a_one_line_error(argv: list[str]) -> None:
    try:
        load_config(argv, {})
    except ConfigError as exc:
        assert exc.exit_code in (1, 2)
        assert exc.message
    except HelpRequested:
        pass
