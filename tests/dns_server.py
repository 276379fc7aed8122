"""A small authoritative DNS server on loopback (UDP and TCP) that plays the Internet's DNS
in tests. It answers from one zone file text with absolute names (dnspython's zone
parser), follows CNAMEs inside it, answers NXDOMAIN or NODATA with the SOA, and truncates
UDP answers that do not fit so that the client retries over TCP, as real servers do.

    with DnsServer(ZONE) as dns_server:
        resolver = make_resolver(["127.0.0.1"], dns_server.port)
"""

from __future__ import annotations

import socketserver
import struct
import threading

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.zone

SOA = """\
. 3600 IN SOA ns.test. hostmaster.test. 1 3600 600 86400 60
. 3600 IN NS ns.test.
"""


class Zone:
    def __init__(self, text: str):
        self.zone = dns.zone.from_text(SOA + text, origin=dns.name.root, relativize=False)
        self.soa = self.zone.find_rrset(dns.name.root, dns.rdatatype.SOA)
        self.names = set(self.zone.nodes)
        self.queries: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def _exists(self, name: dns.name.Name) -> bool:
        # An empty non-terminal (``_domainkey.example.com`` when only a selector below it
        # has records) exists: NODATA, not NXDOMAIN.
        return name in self.names or any(n.is_subdomain(name) for n in self.names)

    def answer(self, query: dns.message.Message) -> dns.message.Message:
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if len(query.question) != 1:
            response.set_rcode(dns.rcode.FORMERR)
            return response
        question = query.question[0]
        name, rdtype = question.name, question.rdtype
        with self.lock:
            self.queries.append((name.to_text(), dns.rdatatype.to_text(rdtype)))
        for _ in range(8):  # CNAME chains inside the zone
            node = self.zone.get_node(name)
            if node is None:
                if not self._exists(name):
                    response.set_rcode(dns.rcode.NXDOMAIN)
                response.authority.append(self.soa)
                return response
            rdataset = node.get_rdataset(dns.rdataclass.IN, rdtype)
            if rdataset is not None:
                rrset = dns.rrset.RRset(name, dns.rdataclass.IN, rdtype)
                rrset.update(rdataset)
                response.answer.append(rrset)
                return response
            cname = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.CNAME)
            if cname is None:
                response.authority.append(self.soa)
                return response
            rrset = dns.rrset.RRset(name, dns.rdataclass.IN, dns.rdatatype.CNAME)
            rrset.update(cname)
            response.answer.append(rrset)
            name = cname[0].target
        return response


class _UDPHandler(socketserver.BaseRequestHandler):
    def handle(self):
        data, sock = self.request
        try:
            query = dns.message.from_wire(data)
        except dns.exception.DNSException:
            return
        response = self.server.zone.answer(query)
        limit = max(512, query.payload) if query.edns >= 0 else 512
        try:
            wire = response.to_wire(max_size=limit)
        except dns.exception.TooBig:
            response = dns.message.make_response(query)
            response.flags |= dns.flags.AA | dns.flags.TC
            wire = response.to_wire()
        sock.sendto(wire, self.client_address)


class _TCPHandler(socketserver.BaseRequestHandler):
    def handle(self):
        conn = self.request
        while True:
            head = _read(conn, 2)
            if not head:
                return
            data = _read(conn, struct.unpack("!H", head)[0])
            if data is None:
                return
            try:
                query = dns.message.from_wire(data)
            except dns.exception.DNSException:
                return
            wire = self.server.zone.answer(query).to_wire()
            conn.sendall(struct.pack("!H", len(wire)) + wire)


def _read(conn, n: int) -> bytes | None:
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


class _UDPServer(socketserver.ThreadingUDPServer):
    daemon_threads = True


class _TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class DnsServer:
    """``with DnsServer(zone_text) as server: server.port``; ``server.zone.queries`` lists
    what was asked."""

    def __init__(self, zone_text: str, host: str = "127.0.0.1"):
        self.zone = Zone(zone_text)
        self.host = host
        self.udp = self.tcp = None
        self.port = 0

    def __enter__(self) -> "DnsServer":
        # One port number for both transports: take a free UDP port, then the same for TCP.
        for _ in range(20):
            udp = _UDPServer((self.host, 0), _UDPHandler)
            try:
                tcp = _TCPServer((self.host, udp.server_address[1]), _TCPHandler)
            except OSError:
                udp.server_close()
                continue
            break
        else:
            raise RuntimeError("no port free for both UDP and TCP on loopback")
        udp.zone = tcp.zone = self.zone
        self.udp, self.tcp, self.port = udp, tcp, udp.server_address[1]
        for server in (udp, tcp):
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                             daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        for server in (self.udp, self.tcp):
            server.shutdown()
            server.server_close()


def txt_strings(text: str) -> str:
    """A TXT record's text as zone-file strings of at most 255 characters each."""
    return " ".join(f'"{text[i:i + 255]}"' for i in range(0, len(text), 255)) or '""'


if __name__ == "__main__":
    import sys

    with DnsServer(open(sys.argv[1]).read()) as srv:
        print(f"serving {sys.argv[1]} on 127.0.0.1:{srv.port} (UDP and TCP); Ctrl-C stops")
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
