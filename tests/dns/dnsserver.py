"""A loopback DNS server for the DNS tier: answers from a zone file (dnslib's zone syntax),
authoritative for its names and NXDOMAIN for the rest, on UDP and TCP.

    python -m tests.dns.dnsserver ZONE_FILE [ADDRESS [PORT]]
"""

from __future__ import annotations

import signal
import sys
import threading

from dnslib import QTYPE, RCODE, RR, DNSRecord
from dnslib.server import BaseResolver, DNSHandler, DNSLogger, DNSServer


class ZoneResolver(BaseResolver):
    def __init__(self, zone: str) -> None:
        self.records = RR.fromZone(zone)

    def resolve(self, request: DNSRecord, handler: DNSHandler) -> DNSRecord:
        reply = request.reply()
        qname, qtype = request.q.qname, request.q.qtype
        named = [rr for rr in self.records if rr.rname == qname]
        for rr in named:
            if qtype in (rr.rtype, QTYPE.ANY):
                reply.add_answer(rr)
        if not named:
            reply.header.rcode = RCODE.NXDOMAIN
        return reply


def main(argv: list[str]) -> int:
    with open(argv[0]) as fh:
        resolver = ZoneResolver(fh.read())
    address = argv[1] if len(argv) > 1 else "127.0.0.1"
    port = int(argv[2]) if len(argv) > 2 else 53
    quiet = DNSLogger("-request,-reply,-truncated,-data", prefix=False)
    servers = [DNSServer(resolver, address=address, port=port, tcp=tcp, logger=quiet)
               for tcp in (False, True)]  # fmt: skip
    for server in servers:
        server.start_thread()
    print("ready", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    for server in servers:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
