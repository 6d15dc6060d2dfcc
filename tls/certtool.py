"""`pyetcd-certs`: a certstrap-compatible certificate tool for pyetcd clusters.

It writes the file names the etcd-release README shows (`out/etcdCA.crt`, `out/<name>.key`,
`.csr`, `.crt`, `--depot-path peer`), never prompts (the passphrase is a flag, empty by default)
and never overwrites an existing file. `quickstart` writes the whole set in one go and `check`
runs the daemon's startup checks offline.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm

from tls.authority import (
    KEY_TYPES,
    AuthorityError,
    KeySpec,
    PrivateKey,
    cert_pem,
    create_ca,
    create_csr,
    csr_pem,
    file_stem,
    key_pem,
    load_key,
    parse_ips,
    parse_lifetime,
    sign_csr,
    spki,
    split_list,
)
from tls.checks import check_client_material, check_server_material

PROG = "pyetcd-certs"
DEFAULT_DEPOT = "out"
CA_LIFETIME = "10 years"
CERT_LIFETIME = "2 years"
SERVICE_NAME = "etcd.service.cf.internal"


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line on stderr, like every other failure of the tool."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{PROG}: error: {message}\n")
        raise SystemExit(2)


@dataclass(frozen=True, slots=True)
class _Output:
    """One file to write; keys get mode 0600."""

    path: Path
    data: bytes
    secret: bool = False
    note: str = ""


def _write_all(outputs: Sequence[_Output]) -> None:
    """Refuse before writing anything if a target exists, so a rerun never half-overwrites."""
    for out in outputs:
        if out.path.exists():
            raise AuthorityError(f"{out.path} already exists; refusing to overwrite it")
    for out in outputs:
        out.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(out.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if out.secret else 0o644)
        with os.fdopen(fd, "wb") as fh:
            fh.write(out.data)
        print(f"Created {out.path}{out.note}")


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise AuthorityError(f"cannot read {path}: {exc.strerror or exc}") from None


def _load_cert(path: Path) -> x509.Certificate:
    data = _read(path)
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError:
        raise AuthorityError(f"{path}: not a PEM certificate") from None


def _load_csr(path: Path) -> x509.CertificateSigningRequest:
    data = _read(path)
    try:
        return x509.load_pem_x509_csr(data)
    except ValueError:
        raise AuthorityError(f"{path}: not a PEM certificate request") from None


def _ca_files(
    depot: Path, common_name: str, key: PrivateKey, lifetime: dt.timedelta, passphrase: str
) -> tuple[x509.Certificate, list[_Output]]:
    cert = create_ca(key, common_name, lifetime)
    stem = file_stem(common_name)
    return cert, [
        _Output(depot / f"{stem}.key", key_pem(key, passphrase), secret=True),
        _Output(depot / f"{stem}.crt", cert_pem(cert)),
    ]


def _request_files(
    depot: Path, common_name: str, key: PrivateKey, domains: list[str], ips: list[str], pw: str
) -> tuple[x509.CertificateSigningRequest, list[_Output]]:
    csr = create_csr(key, common_name, domains, parse_ips(ips))
    stem = file_stem(common_name)
    return csr, [
        _Output(depot / f"{stem}.key", key_pem(key, pw), secret=True),
        _Output(depot / f"{stem}.csr", csr_pem(csr)),
    ]


def _issue(
    csr: x509.CertificateSigningRequest,
    ca_cert: x509.Certificate,
    ca_key: PrivateKey,
    lifetime: dt.timedelta,
) -> x509.Certificate:
    cert = sign_csr(csr, ca_cert, ca_key, lifetime)
    if cert.not_valid_after_utc > ca_cert.not_valid_after_utc:
        raise AuthorityError(
            f"the certificate would outlive its CA (CA expires "
            f"{ca_cert.not_valid_after_utc:%Y-%m-%d}); use a shorter --expires"
        )
    return cert


def _key_spec(args: argparse.Namespace) -> KeySpec:
    return KeySpec(args.key_type, args.key_bits)


def cmd_init(args: argparse.Namespace) -> int:
    lifetime = parse_lifetime(args.expires)
    key = _key_spec(args).generate()
    _, outputs = _ca_files(Path(args.depot_path), args.common_name, key, lifetime, args.passphrase)
    _write_all(outputs)
    return 0


def cmd_request_cert(args: argparse.Namespace) -> int:
    key = _key_spec(args).generate()
    _, outputs = _request_files(
        Path(args.depot_path),
        args.common_name,
        key,
        split_list(args.domain),
        split_list(args.ip),
        args.passphrase,
    )
    _write_all(outputs)
    return 0


def cmd_sign(args: argparse.Namespace) -> int:
    depot = Path(args.depot_path)
    name, ca_name = file_stem(args.name), file_stem(args.CA)
    csr = _load_csr(depot / f"{name}.csr")
    ca_cert = _load_cert(depot / f"{ca_name}.crt")
    ca_key_path = depot / f"{ca_name}.key"
    ca_key = load_key(_read(ca_key_path), args.passphrase, str(ca_key_path))
    if spki(ca_key.public_key()) != spki(ca_cert.public_key()):
        raise AuthorityError(f"{ca_key_path} is not the key of {depot / f'{ca_name}.crt'}")
    cert = _issue(csr, ca_cert, ca_key, parse_lifetime(args.expires))
    note = f" from {depot / f'{name}.csr'} signed by {ca_key_path}"
    _write_all([_Output(depot / f"{name}.crt", cert_pem(cert), note=note)])
    return 0


def cmd_quickstart(args: argparse.Namespace) -> int:
    """The README's certstrap steps 2-6 at once: client CA, server, client, peer CA, peer."""
    spec = _key_spec(args)
    ca_lifetime, lifetime = parse_lifetime(args.ca_expires), parse_lifetime(args.expires)
    out, peer = Path(args.depot_path), Path(args.peer_depot_path)
    service = args.service_name
    domains = [service, f"*.{service}", *split_list(args.domain)]
    ips = split_list(args.ip)
    outputs: list[_Output] = []
    for depot, ca_name, leaves in (
        (out, "etcdCA", [(service, domains, ips), ("clientName", [], [])]),
        (peer, "peerCA", [(f"*.{service}", domains, ips)]),
    ):
        ca_key = spec.generate()
        ca_cert, files = _ca_files(depot, ca_name, ca_key, ca_lifetime, "")
        outputs += files
        for common_name, names, addresses in leaves:
            csr, files = _request_files(depot, common_name, spec.generate(), names, addresses, "")
            cert = _issue(csr, ca_cert, ca_key, lifetime)
            outputs += [*files, _Output(depot / f"{file_stem(common_name)}.crt", cert_pem(cert))]
    _write_all(outputs)
    server, client, peer_leaf = file_stem(service), "clientName", file_stem(f"*.{service}")
    print(
        "\nclient listener: "
        f"--cert-file {out / server}.crt --key-file {out / server}.key "
        f"--trusted-ca-file {out}/etcdCA.crt --client-cert-auth\n"
        f"clients:         --ca-file {out}/etcdCA.crt --cert-file {out / client}.crt "
        f"--key-file {out / client}.key\n"
        f"peers:           --peer-cert-file {peer / peer_leaf}.crt "
        f"--peer-key-file {peer / peer_leaf}.key "
        f"--peer-trusted-ca-file {peer}/peerCA.crt --peer-client-cert-auth"
    )
    return 0


# The etcd job's TLS properties, in the order the etcd-release README introduces them.
BOSH_PROPERTIES = (
    "ca_cert", "server_cert", "server_key", "client_cert", "client_key",
    "peer_ca_cert", "peer_cert", "peer_key",
)  # fmt: skip


def bosh_tls_values(
    spec: KeySpec,
    service: str,
    domains: Sequence[str],
    ips: Sequence[str],
    ca_lifetime: dt.timedelta,
    lifetime: dt.timedelta,
) -> dict[str, str]:
    """Every TLS property of the etcd job as PEM text: a client CA signing the server and
    client certificates, a peer CA signing the peer certificate (CN and SANs the service name
    and its wildcard, plus `domains` and `ips`)."""
    names = [service, f"*.{service}", *domains]
    values: dict[str, str] = {}
    for ca_prop, ca_name, leaves in (
        ("ca_cert", "etcdCA", (("server", service, names, ips), ("client", "clientName", [], []))),
        ("peer_ca_cert", "peerCA", (("peer", service, names, ips),)),
    ):
        ca_key = spec.generate()
        ca_cert = create_ca(ca_key, ca_name, ca_lifetime)
        values[ca_prop] = cert_pem(ca_cert).decode()
        for prefix, common_name, sans, addresses in leaves:
            key = spec.generate()
            csr = create_csr(key, common_name, list(sans), parse_ips(list(addresses)))
            values[f"{prefix}_cert"] = cert_pem(_issue(csr, ca_cert, ca_key, lifetime)).decode()
            values[f"{prefix}_key"] = key_pem(key).decode()
    return {name: values[name] for name in BOSH_PROPERTIES}


def _block(value: str, indent: str) -> str:
    """A PEM text as a YAML literal block (tls/ stays free of a YAML library)."""
    return "|\n" + "".join(f"{indent}{line}\n" for line in value.splitlines())


def cmd_bosh_vars(args: argparse.Namespace) -> int:
    """The seed README's certstrap steps as one BOSH vars file (or ops file)."""
    values = bosh_tls_values(
        _key_spec(args),
        args.service_name,
        split_list(args.domain),
        split_list(args.ip),
        parse_lifetime(args.ca_expires),
        parse_lifetime(args.expires),
    )
    if args.format == "vars":
        text = "".join(f"etcd_{name}: {_block(value, '  ')}" for name, value in values.items())
    else:
        base = f"/instance_groups/name={args.instance_group}/jobs/name=etcd/properties/etcd"
        text = "".join(
            f"- type: replace\n  path: {base}/{name}?\n  value: {_block(value, '    ')}"
            for name, value in values.items()
        )
    _write_all([_Output(Path(args.output), text.encode(), secret=True)])
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    now = dt.datetime.now(dt.UTC)
    if args.client:
        problems = check_client_material(args.ca, args.cert, args.key, now=now)
    else:
        if not args.cert or not args.key:
            raise AuthorityError("check needs --cert and --key (or --client to check a client)")
        problems = check_server_material(args.cert, args.key, args.ca, args.host, now=now)
    for line in problems:
        print(line)
    if problems:
        return 1
    print(f"OK: {', '.join(f for f in (args.cert, args.key, args.ca) if f)}")
    return 0


def _add_key_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--passphrase", default="", help="encrypt the key (default: none)")
    parser.add_argument("--key-type", choices=KEY_TYPES, default="rsa")
    parser.add_argument(
        "--key-bits",
        type=int,
        help="RSA: 2048 (default), 3072, 4096; ECDSA: 256 (default), 384, 521",
    )


def _add_set_options(parser: argparse.ArgumentParser, ip_help: str) -> None:
    """The options of the commands that issue a whole cluster's set of certificates."""
    parser.add_argument("--service-name", default=SERVICE_NAME, help=f"(default: {SERVICE_NAME})")
    parser.add_argument("--domain", help="extra comma-separated DNS names for server and peer")
    parser.add_argument("--ip", help=ip_help)
    parser.add_argument("--key-type", choices=KEY_TYPES, default="rsa")
    parser.add_argument("--key-bits", type=int)
    parser.add_argument("--ca-expires", default=CA_LIFETIME, help=f"(default: {CA_LIFETIME})")
    parser.add_argument("--expires", default=CERT_LIFETIME, help=f"(default: {CERT_LIFETIME})")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Create and check certificates for pyetcd.")
    parser.add_argument("--depot-path", default=DEFAULT_DEPOT, help="directory (default: out)")
    sub = parser.add_subparsers(dest="command", required=True)
    depot = argparse.ArgumentParser(add_help=False)
    depot.add_argument("--depot-path", default=argparse.SUPPRESS, help=argparse.SUPPRESS)

    init = sub.add_parser("init", parents=[depot], help="create a certificate authority")
    init.add_argument("--common-name", required=True)
    init.add_argument("--expires", default=CA_LIFETIME, help=f"lifetime (default: {CA_LIFETIME})")
    _add_key_options(init)
    init.set_defaults(run=cmd_init)

    req = sub.add_parser("request-cert", parents=[depot], help="create a key and request")
    req.add_argument("--common-name", required=True)
    req.add_argument("--domain", help="comma-separated DNS names, wildcards allowed")
    req.add_argument("--ip", help="comma-separated IP addresses")
    _add_key_options(req)
    req.set_defaults(run=cmd_request_cert)

    sign = sub.add_parser("sign", parents=[depot], help="sign <name>.csr with a CA")
    sign.add_argument("name")
    sign.add_argument("--CA", required=True, help="the CA's common name")
    sign.add_argument("--passphrase", default="", help="the CA key's passphrase")
    sign.add_argument("--expires", default=CERT_LIFETIME, help=f"(default: {CERT_LIFETIME})")
    sign.set_defaults(run=cmd_sign)

    quick = sub.add_parser("quickstart", parents=[depot], help="write the README's full set")
    quick.add_argument("--peer-depot-path", default="peer", help="(default: peer)")
    _add_set_options(quick, "extra comma-separated IPs, e.g. 127.0.0.1 for local tests")
    quick.set_defaults(run=cmd_quickstart)

    bosh = sub.add_parser("bosh-vars", help="write the etcd job's TLS properties for BOSH")
    bosh.add_argument("--output", default="etcd-tls-vars.yml", help="(default: etcd-tls-vars.yml)")
    bosh.add_argument(
        "--format",
        choices=("vars", "ops"),
        default="vars",
        help="vars: etcd_<property> for manifests/operations/tls.yml (default); ops: an ops file",
    )
    bosh.add_argument("--instance-group", default="etcd", help="(ops format; default: etcd)")
    _add_set_options(bosh, "comma-separated IPs, for TLS without DNS names")
    bosh.set_defaults(run=cmd_bosh_vars)

    check = sub.add_parser("check", help="run the startup checks on existing files")
    check.add_argument("--cert")
    check.add_argument("--key")
    check.add_argument("--ca", help="the CA file (bundle) the certificate must chain to")
    check.add_argument("--host", action="append", default=[], help="advertised host (repeat)")
    check.add_argument("--client", action="store_true", help="check client material")
    check.set_defaults(run=cmd_check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, UnsupportedAlgorithm) as exc:
        sys.stderr.write(f"{PROG}: error: {exc}\n")
        return 1
    except OSError as exc:
        sys.stderr.write(f"{PROG}: error: {exc.filename or ''}: {exc.strerror or exc}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
