#!/usr/bin/env python3
"""A pool of warm Lambda instances on this machine, for load runs of the deployed shape.

Starts INSTANCES processes of every function (each its own process: instances share no memory;
the function's own binary from --bin-dir, or, as deployed, the one --bootstrap binary with the
function's name in _HANDLER) and serves, on a free loopback port, the two Lambda APIs between them:

* the Invoke API a client calls (`POST /2015-03-31/functions/NAME/invocations`), answered as
  Lambda answers: 200 with the function's result, or 200 with `X-Amz-Function-Error: Unhandled`
  and the function's error object;
* the Runtime API each instance polls (`AWS_LAMBDA_RUNTIME_API=http://HOST:PORT/NAME`): an
  invocation goes to whichever idle instance of that function asks for the next one, with the
  invocation's deadline (`--timeout`, as a function's Timeout) in `Lambda-Runtime-Deadline-Ms`.

Every process gets the variables of --env-file (KEY=VALUE lines, values optionally quoted) on
top of this process's environment. It writes HOST:PORT to --addr-file once listening, and on
SIGTERM or SIGINT stops every instance and exits.

    scripts/lambda-pool.py --bin-dir target/debug --functions content-gen,visual-planner \\
        --instances 20 --env-file run.env --addr-file /tmp/pool.addr
"""

import argparse
import json
import os
import queue
import shlex
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from local_service import announce, wait_for_stop

REGION = "us-east-1"
ACCOUNT = "123456789012"


class Invocation:
    def __init__(self, payload: bytes, timeout: float):
        self.id = str(uuid.uuid4())
        self.payload = payload
        self.deadline_ms = int((time.time() + timeout) * 1000)
        self.done = threading.Event()
        self.body = b""
        self.error = False


class Pool:
    def __init__(self, functions, timeout):
        self.timeout = timeout
        self.pending = {name: queue.Queue() for name in functions}
        self.running = {}
        self.lock = threading.Lock()

    def invoke(self, name: str, payload: bytes) -> Invocation:
        inv = Invocation(payload, self.timeout)
        with self.lock:
            self.running[inv.id] = inv
        self.pending[name].put(inv)
        # Lambda ends an invocation that outlives its timeout; a little slack for the answer.
        if not inv.done.wait(self.timeout + 5):
            inv.error = True
            inv.body = json.dumps({"errorType": "Sandbox.Timedout",
                                   "errorMessage": f"Task timed out after {self.timeout:.0f} seconds"}).encode()
        with self.lock:
            self.running.pop(inv.id, None)
        return inv

    def finish(self, request_id: str, body: bytes, error: bool) -> bool:
        with self.lock:
            inv = self.running.get(request_id)
        if inv is None:
            return False
        inv.body, inv.error = body, error
        inv.done.set()
        return True


def handler_for(pool: Pool):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def reply(self, code: int, body: bytes = b"", headers=None):
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def do_GET(self):
            parts = self.path.strip("/").split("/")
            # /NAME/2018-06-01/runtime/invocation/next
            if len(parts) == 5 and parts[1:] == ["2018-06-01", "runtime", "invocation", "next"] \
                    and parts[0] in pool.pending:
                inv = pool.pending[parts[0]].get()
                self.reply(200, inv.payload, {
                    "Lambda-Runtime-Aws-Request-Id": inv.id,
                    "Lambda-Runtime-Deadline-Ms": str(inv.deadline_ms),
                    "Lambda-Runtime-Invoked-Function-Arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{parts[0]}",
                    "Lambda-Runtime-Trace-Id": f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Sampled=0",
                })
                return
            self.reply(404, json.dumps({"message": f"no route {self.path}"}).encode())

        def do_POST(self):
            parts = self.path.strip("/").split("/")
            body = self.body()
            # Invoke API: /2015-03-31/functions/NAME/invocations
            if len(parts) == 4 and parts[0] == "2015-03-31" and parts[1] == "functions" and parts[3] == "invocations":
                name = parts[2]
                if name not in pool.pending:
                    self.reply(404, json.dumps({"Type": "User", "message": f"Function not found: {name}"}).encode(),
                               {"X-Amzn-ErrorType": "ResourceNotFoundException"})
                    return
                inv = pool.invoke(name, body or b"{}")
                self.reply(200, inv.body, {"X-Amz-Function-Error": "Unhandled"} if inv.error else {})
                return
            # Runtime API: /NAME/2018-06-01/runtime/invocation/ID/response|error, /NAME/.../init/error
            if len(parts) == 6 and parts[1:4] == ["2018-06-01", "runtime", "invocation"] and parts[5] in ("response", "error"):
                known = pool.finish(parts[4], body, parts[5] == "error")
                self.reply(202 if known else 400, b"{}")
                return
            if len(parts) == 5 and parts[1:] == ["2018-06-01", "runtime", "init", "error"]:
                print(f"lambda-pool: {parts[0]} failed to initialise: {body[:400]!r}", file=sys.stderr, flush=True)
                self.reply(202, b"{}")
                return
            self.reply(404, json.dumps({"message": f"no route {self.path}"}).encode())

    return Handler


def read_env_file(path: str) -> dict:
    env = {}
    for line in open(path, encoding="utf-8"):
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        words = shlex.split(value) if value else [""]
        env[key.strip()] = words[0] if words else ""
    return env


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--bin-dir", help="where the function binaries are (one per function, by name)")
    where.add_argument("--bootstrap", help="the one binary every function runs, told its function by "
                                           "_HANDLER (as deployed)")
    ap.add_argument("--functions", required=True, help="comma-separated function (binary or handler) names")
    ap.add_argument("--instances", type=int, default=1, help="processes per function")
    ap.add_argument("--env-file", help="KEY=VALUE lines for every process")
    ap.add_argument("--timeout", type=float, default=60.0, help="an invocation's timeout in seconds")
    ap.add_argument("--addr-file", required=True, help="where to write HOST:PORT once ready")
    args = ap.parse_args()

    functions = [f for f in args.functions.split(",") if f]
    pool = Pool(functions, args.timeout)
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(pool))
    server.daemon_threads = True
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()

    env = dict(os.environ)
    if args.env_file:
        env.update(read_env_file(args.env_file))
    children = []
    for name in functions:
        for _ in range(args.instances):
            child_env = dict(env, AWS_LAMBDA_RUNTIME_API=f"http://127.0.0.1:{port}/{name}",
                             AWS_LAMBDA_FUNCTION_NAME=name, AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
                             AWS_LAMBDA_FUNCTION_MEMORY_SIZE="512")
            if args.bootstrap:
                child_env["_HANDLER"] = name
                program = args.bootstrap
            else:
                program = os.path.join(args.bin_dir, name)
            children.append(subprocess.Popen([program], env=child_env))
    announce(args.addr_file, f"127.0.0.1:{port}")
    wait_for_stop()
    for child in children:
        child.terminate()
    for child in children:
        try:
            child.wait(timeout=5)
        except subprocess.TimeoutExpired:
            child.kill()
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
