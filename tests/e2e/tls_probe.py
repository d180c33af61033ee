#!/usr/bin/env python3
"""tls_probe.py VERSION PORT: a TLS handshake with 127.0.0.1:PORT offering
only VERSION (1.0, 1.1, 1.2 or 1.3). Prints the negotiated version and
exits 0, or prints why the handshake failed and exits 1.

The client lifts every limit of its own (security level 0, all ciphers; run
it with OPENSSL_CONF=/dev/null to drop the system's MinProtocol too), so a
refused old version is the server's refusal, not this client's: the e2e
test proves that with a server that does speak TLS 1.1."""
import socket
import ssl
import sys
import warnings

warnings.simplefilter("ignore", DeprecationWarning)
versions = {"1.0": ssl.TLSVersion.TLSv1, "1.1": ssl.TLSVersion.TLSv1_1, "1.2": ssl.TLSVersion.TLSv1_2,
            "1.3": ssl.TLSVersion.TLSv1_3}
if len(sys.argv) != 3 or sys.argv[1] not in versions:
    sys.exit(__doc__.splitlines()[0])
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ctx.set_ciphers("ALL:@SECLEVEL=0")
ctx.minimum_version = ctx.maximum_version = versions[sys.argv[1]]
try:
    with socket.create_connection(("127.0.0.1", int(sys.argv[2])), timeout=10) as s:
        with ctx.wrap_socket(s) as t:
            print(t.version())
except (OSError, ssl.SSLError) as e:
    print(f"refused: {e}")
    sys.exit(1)
