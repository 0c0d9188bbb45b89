#!/usr/bin/env python3
"""A registry that misbehaves on purpose (tests only, stdlib): serves an OCI
layout written by t_img_build read-only, with one fault.
Usage: registry-fault.py PORT LAYOUT FAULT
FAULT:
  none           behave
  big-manifest   every manifest is padded with blanks to 5 MiB (still valid JSON)
  stall-blob     blobs larger than 1000 bytes send their headers and first
                 1000 bytes, then nothing until the client gives up
  upload-elsewhere
                 Basic auth (alice:s3cret-pw) on 127.0.0.1; accepts pushes, whose
                 upload Location is on 127.0.0.2 (same port, no auth there)
Every request is logged to stderr as "METHOD PATH host=ADDR auth=yes|no"."""
import base64, hashlib, json, os, re, sys, threading, uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, layout, fault = int(sys.argv[1]), sys.argv[2], sys.argv[3]
top = json.load(open(layout + "/index.json"))["manifests"][0]
stop = threading.Event()

def blob(digest):
    path = f"{layout}/blobs/sha256/{digest[7:]}"
    return open(path, "rb").read() if re.fullmatch(r"sha256:[0-9a-f]{64}", digest) and os.path.exists(path) else None

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def send(self, code, body=b"", ctype="application/json", length=None):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_request_line(self):
        host = self.server.server_address[0]
        auth = "yes" if self.headers.get("Authorization") else "no"
        sys.stderr.write(f"{self.command} {self.path} host={host} auth={auth}\n")
        sys.stderr.flush()

    # upload-elsewhere: 127.0.0.1 wants credentials, 127.0.0.2 takes uploads.
    def refused(self):
        if fault != "upload-elsewhere" or self.server.server_address[0] != "127.0.0.1":
            return False
        want = "Basic " + base64.b64encode(b"alice:s3cret-pw").decode()
        if self.headers.get("Authorization") == want:
            return False
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="fake"')
        self.send_header("Content-Length", "0")
        self.end_headers()
        return True

    def body(self):
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))

    def do_POST(self):
        self.log_request_line()
        if self.refused():
            return
        self.send_response(202)
        self.send_header("Location", f"http://127.0.0.2:{port}/upload/{uuid.uuid4().hex}")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_PUT(self):
        self.log_request_line()
        if self.refused():
            return
        data = self.body()
        self.send_response(201)
        self.send_header("Docker-Content-Digest", "sha256:" + hashlib.sha256(data).hexdigest())
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):
        self.log_request_line()
        if self.refused():
            return
        m = re.fullmatch(r"/v2/(.+)/(manifests|blobs)/([^/]+)", self.path)
        if self.path == "/v2/":
            return self.send(200, b"{}")
        if not m:
            return self.send(404, b'{"errors":[{"code":"NAME_UNKNOWN","message":"no such path"}]}')
        kind, ref = m.group(2), m.group(3)
        if kind == "manifests":
            digest = ref if ref.startswith("sha256:") else top["digest"]
            data = blob(digest)
            if data is None:
                return self.send(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"unknown"}]}')
            mt = json.loads(data).get("mediaType", top["mediaType"])
            if fault == "big-manifest":
                data = data + b" " * ((5 << 20) - len(data))
            return self.send(200, data, mt)
        data = blob(ref)
        if self.command == "HEAD" and fault == "upload-elsewhere":
            data = None	# every blob is pushed
        if data is None:
            return self.send(404, b'{"errors":[{"code":"BLOB_UNKNOWN","message":"unknown"}]}')
        if fault == "stall-blob" and len(data) > 1000:
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[:1000])
            self.wfile.flush()
            stop.wait()
            return
        return self.send(200, data, "application/octet-stream")

    do_HEAD = do_GET

    def log_message(self, *a):
        pass

def serve(addr):
    srv = ThreadingHTTPServer((addr, port), H)
    srv.daemon_threads = True
    srv.serve_forever()

if fault == "upload-elsewhere":
    threading.Thread(target=serve, args=("127.0.0.2",), daemon=True).start()
serve("127.0.0.1")
