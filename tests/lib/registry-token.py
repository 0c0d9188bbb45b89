#!/usr/bin/env python3
"""Tiny token server for docker-registry's token auth (tests only, stdlib).
Usage: registry-token.py PORT KEYDIR USER PASS [HOST]
HOST is the address to listen on (default 127.0.0.1). Every token request
is logged to stderr with whether it carried credentials, and every token
issued is appended to KEYDIR/issued. KEYDIR holds key.txt (openssl rsa -text) and pub.der (public key, DER).
Anonymous clients get pull on repositories under "public/"; USER:PASS gets
pull and push everywhere. Tokens are RS256 JWTs with a libtrust key id."""
import base64, hashlib, json, os, re, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse, parse_qs

port, keydir, USER, PASS = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
HOST = sys.argv[5] if len(sys.argv) > 5 else "127.0.0.1"

def field(text, name):
    m = re.search(name + r":\s*\n((?:\s+[0-9a-f:]+\n)+)", text)
    return int(re.sub(r"[\s:]", "", m.group(1)), 16)

txt = open(keydir + "/key.txt").read()
N, D = field(txt, "modulus"), field(txt, "privateExponent")
K = (N.bit_length() + 7) // 8
der = open(keydir + "/pub.der", "rb").read()
b32 = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
KID = ":".join(b32[i:i + 4] for i in range(0, len(b32), 4))

def b64u(b): return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

def sign(msg):
    prefix = bytes.fromhex("3031300d060960864801650304020105000420")
    t = prefix + hashlib.sha256(msg).digest()
    em = b"\x00\x01" + b"\xff" * (K - len(t) - 3) + b"\x00" + t
    return pow(int.from_bytes(em, "big"), D, N).to_bytes(K, "big")

def token(sub, service, access):
    now = int(time.time())
    hdr = {"typ": "JWT", "alg": "RS256", "kid": KID}
    claims = {"iss": "ucrt-test-issuer", "sub": sub, "aud": service, "exp": now + 300, "nbf": now - 10,
              "iat": now, "jti": os.urandom(8).hex(), "access": access}
    msg = (b64u(json.dumps(hdr).encode()) + "." + b64u(json.dumps(claims).encode())).encode()
    return msg.decode() + "." + b64u(sign(msg))

class H(BaseHTTPRequestHandler):
    def do_GET(self):
        u = urlparse(self.path)
        if u.path == "/health":
            self.send_response(200); self.end_headers(); return
        q = parse_qs(u.query)
        user = None
        auth = self.headers.get("Authorization", "")
        sys.stderr.write(f"request with{'' if auth else 'out'} credentials\n")
        sys.stderr.flush()
        if auth.startswith("Basic "):
            u_p = base64.b64decode(auth[6:]).decode()
            if u_p != USER + ":" + PASS:
                self.send_response(401); self.end_headers(); self.wfile.write(b'{"details":"bad credentials"}'); return
            user = USER
        access = []
        for sc in " ".join(q.get("scope", [])).split():
            typ, name, actions = sc.split(":", 2) if sc.count(":") >= 2 else (None, None, None)
            if typ != "repository":
                continue
            want = actions.split(",")
            if user:
                got = want
            elif name.startswith("public/"):
                got = [a for a in want if a == "pull"]
            else:
                got = []
            access.append({"type": "repository", "name": name, "actions": got})
        tok = token(user or "", q.get("service", [""])[0], access)
        # Every token handed out, for tests that look for it where it
        # must not be (image-secrets.sh greps ucrt's logs).
        with open(keydir + "/issued", "a") as f:
            f.write(tok + "\n")
        body = json.dumps({"token": tok, "access_token": tok, "expires_in": 300}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        sys.stderr.write(f"token for {user or 'anonymous'}: {access}\n")
    def log_message(self, *a): pass

ThreadingHTTPServer((HOST, port), H).serve_forever()
