#!/usr/bin/env python3
"""A registry that misbehaves on purpose (tests only, stdlib): serves an OCI
layout written by t_img_build read-only, with one fault.
Usage: registry-fault.py PORT LAYOUT FAULT
FAULT:
  none           behave
  big-manifest   every manifest is padded with blanks to 5 MiB (still valid JSON)
  stall-blob     blobs larger than 1000 bytes send their headers and first
                 1000 bytes, then nothing until the client gives up
Every request is logged to stderr as "METHOD PATH"."""
import json, os, re, sys, threading
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

    def do_GET(self):
        sys.stderr.write(f"{self.command} {self.path}\n")
        sys.stderr.flush()
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

srv = ThreadingHTTPServer(("127.0.0.1", port), H)
srv.daemon_threads = True
srv.serve_forever()
