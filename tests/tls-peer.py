#!/usr/bin/python3
# tls-peer.py: the other end of test-tls, written with Python's ssl module
# (OpenSSL), so Coop's TLS (GIO's, on GnuTLS) meets a peer nobody here wrote.
#
#   tls-peer.py certs DIR                 generate the test certificates
#   tls-peer.py server DIR CERT MODE      serve one connection; prints "PORT n"
#   tls-peer.py client DIR PORT MODE      connect to a Coop server
#
# What the peer saw goes to stdout, one word a line, for the test to check.
#
# SPDX-License-Identifier: LGPL-2.1-or-later

import datetime
import os
import socket
import ssl
import sys

ALPN = ["x-coop-test", "http/1.1"]


def certs(d):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import ipaddress

    now = datetime.datetime.now(datetime.timezone.utc)
    day = datetime.timedelta(days=1)

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def save(stem, cert, key):
        with open(os.path.join(d, stem + ".pem"), "wb") as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
        with open(os.path.join(d, stem + ".key"), "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))

    def ca(cn):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(name(cn))
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - day).not_valid_after(now + 30 * day)
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                             crl_sign=True, content_commitment=False,
                                             key_encipherment=False, data_encipherment=False,
                                             key_agreement=False, encipher_only=False,
                                             decipher_only=False), critical=True)
                .sign(key, hashes.SHA256()))
        return cert, key

    def leaf(stem, issuer, issuer_key, hosts, before, after):
        key = ec.generate_private_key(ec.SECP256R1())
        sans = []
        for h in hosts:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(h)))
            except ValueError:
                sans.append(x509.DNSName(h))
        cert = (x509.CertificateBuilder().subject_name(name(hosts[0]))
                .issuer_name(issuer.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(before).not_valid_after(after)
                .add_extension(x509.SubjectAlternativeName(sans), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .sign(issuer_key, hashes.SHA256()))
        save(stem, cert, key)

    ca_cert, ca_key = ca("Coop test CA")
    save("ca", ca_cert, ca_key)
    rogue_cert, rogue_key = ca("Nobody's CA")
    local = ["localhost", "127.0.0.1"]
    leaf("server", ca_cert, ca_key, local, now - day, now + 30 * day)
    leaf("expired", ca_cert, ca_key, local, now - 30 * day, now - day)
    leaf("wronghost", ca_cert, ca_key, ["other.example"], now - day, now + 30 * day)
    leaf("untrusted", rogue_cert, rogue_key, local, now - day, now + 30 * day)


def strict(ctx):
    # A TCP end without close_notify must read as a truncation, not an end:
    # Debian's OpenSSL context ignores it by default.
    ctx.options &= ~getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0)
    return ctx


def out(word):
    print(word, flush=True)


def read_line(s):
    line = b""
    while not line.endswith(b"\n"):
        c = s.recv(1)
        if not c:
            break
        line += c
    return line


def echo(conn):
    # Echo until the peer's clean close (close_notify) or a ragged end.
    try:
        while True:
            data = conn.recv(65536)
            if not data:
                out("clean-eof")
                break
            conn.sendall(data)
        conn.unwrap()
    except ssl.SSLEOFError:
        out("ragged-eof")
    except ssl.SSLError as e:
        # OpenSSL 3: a plain SSLError, reason UNEXPECTED_EOF_WHILE_READING.
        out("ragged-eof" if "UNEXPECTED_EOF" in str(e) else "error " + str(e))
    except OSError as e:
        out("error " + type(e).__name__)


def server(d, cert, mode):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(d, cert + ".pem"), os.path.join(d, cert + ".key"))
    ctx.set_alpn_protocols(ALPN)
    strict(ctx)
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    out("PORT %d" % ls.getsockname()[1])
    raw, _ = ls.accept()
    if mode == "echo":
        try:
            conn = ctx.wrap_socket(raw, server_side=True, suppress_ragged_eofs=False)
        except (ssl.SSLError, OSError) as e:
            out("handshake-failed")
            return
        out("alpn " + str(conn.selected_alpn_protocol()))
        echo(conn)
    elif mode == "garbage":
        raw.recv(4096)
        raw.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n" + bytes(range(256)) * 8)
        read_until_eof(raw)
    elif mode == "close-in-handshake":
        raw.recv(4096)
        raw.close()
        out("closed")
    elif mode == "silent":
        read_until_eof(raw)
        out("closed")
    elif mode == "starttls":
        raw.sendall(b"220 hello\r\n")
        if read_line(raw) != b"STARTTLS\r\n":
            out("bad-command")
            return
        raw.sendall(b"220 go ahead\r\n")
        conn = ctx.wrap_socket(raw, server_side=True, suppress_ragged_eofs=False)
        out("upgraded")
        echo(conn)


def read_until_eof(s):
    try:
        while s.recv(4096):
            pass
    except OSError:
        pass


def client(d, port, mode):
    s = socket.create_connection(("127.0.0.1", int(port)))
    if mode == "echo":
        ctx = strict(ssl.create_default_context(cafile=os.path.join(d, "ca.pem")))
        ctx.set_alpn_protocols(["x-coop-test"])
        conn = ctx.wrap_socket(s, server_hostname="localhost", suppress_ragged_eofs=False)
        out("alpn " + str(conn.selected_alpn_protocol()))
        conn.sendall(b"hello coop\n")
        out("line " + read_line(conn).decode().strip())
        try:
            if conn.recv(1) == b"":
                out("clean-eof")
        except ssl.SSLEOFError:
            out("ragged-eof")
    elif mode == "garbage":
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        read_until_eof(s)
        out("closed")
    elif mode == "silent":
        read_until_eof(s)
        out("closed")
    elif mode == "distrust":
        # A client that trusts nobody: it aborts the handshake.
        ctx = ssl.create_default_context()
        try:
            ctx.wrap_socket(s, server_hostname="localhost")
            out("connected")
        except ssl.SSLError:
            out("rejected")


if __name__ == "__main__":
    if sys.argv[1] == "certs":
        certs(sys.argv[2])
    elif sys.argv[1] == "server":
        server(sys.argv[2], sys.argv[3], sys.argv[4])
    elif sys.argv[1] == "client":
        client(sys.argv[2], sys.argv[3], sys.argv[4])
