"""A loopback adapter in front of `cargo lambda watch` that gives its Invoke API the response
contract of AWS Lambda, so both engines see function errors the way Step Functions does.

`cargo lambda watch` (1.9.2) differs from the Lambda Invoke API in two ways that matter here:
  * a function error comes back as HTTP 500 with the `{"errorType", "errorMessage"}` body and no
    `X-Amz-Function-Error` header; AWS Lambda answers 200 with `X-Amz-Function-Error: Unhandled`
    and that body, which is what lets Step Functions use `errorType` as the error name;
  * it only knows bare binary names, while AWS accepts a function ARN (or partial ARN) as
    FunctionName.
`sam local start-lambda` answers a failure of its own (a container that did not start: under
load, two containers can be given the same host port) with HTTP 500, error type `Service` and no
request id, which moto's engine cannot read; AWS Lambda reports its own failures as
`ServiceException`, which Step Functions names `Lambda.ServiceException` and our Retry catches.
The adapter fixes all of these, adds the request id Lambda always sends, and forwards everything
else unchanged.

`--refuse-module N` makes it answer, for projects whose folder contains `-refuse-`, every
invocation about module N (a `module_number` of N, a `lab_id` starting `NN-`) the way a function
answers a permanent `ModelError` (a content-filter refusal), without calling the function: the
offline provider behind `cargo lambda watch` never fails, and this is how both engines see a
module that fails for good.

Usage: python invoke_adapter.py --listen-port 9001 --upstream http://127.0.0.1:9000 [--refuse-module 3]
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import sys
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

INVOKE_PATH = re.compile(r"^/2015-03-31/functions/([^/]+)/invocations$")


def bare_function_name(identifier: str) -> str:
    """`arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]`, `ACCOUNT:NAME` or `NAME` → NAME."""
    identifier = unquote(identifier)
    if ":function:" in identifier:
        return identifier.split(":function:", 1)[1].split(":", 1)[0]
    if ":" in identifier:
        return identifier.split(":")[1] if identifier.split(":")[0].isdigit() else identifier.split(":")[0]
    return identifier


REFUSED_PROJECTS = "-refuse-"


def refusal(function: str, body: bytes, module: int | None) -> bytes | None:
    """The function error a refused invocation gets, or None when it goes to the function."""
    if module is None:
        return None
    try:
        payload = json.loads(body or b"{}")
    except ValueError:
        return None
    if not isinstance(payload, dict) or REFUSED_PROJECTS not in str(payload.get("project_folder", "")):
        return None
    about = payload.get("module_number") == module or str(payload.get("lab_id", "")).startswith(f"{module:02}-")
    if not about:
        return None
    message = f"model error in {function} (module {module}): the answer was blocked (content_filtered)"
    return json.dumps({"errorType": "ModelError", "errorMessage": message}).encode()


def make_handler(upstream_host: str, upstream_port: int, timeout: float, refuse_module: int | None = None):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):  # keep the suite's output readable
            pass

        def _forward(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            path = urlsplit(self.path).path
            query = urlsplit(self.path).query
            match = INVOKE_PATH.match(path)
            if match:
                refused = refusal(bare_function_name(match.group(1)), body, refuse_module)
                if refused is not None:
                    self._reply(200, refused, {
                        "x-amzn-RequestId": str(uuid.uuid4()),
                        "X-Amz-Function-Error": "Unhandled",
                        "X-Amz-Executed-Version": "$LATEST",
                        "Content-Type": "application/json",
                    })
                    return
                path = f"/2015-03-31/functions/{bare_function_name(match.group(1))}/invocations"
            target = path + (f"?{query}" if query else "")
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
            try:
                conn = http.client.HTTPConnection(upstream_host, upstream_port, timeout=timeout)
                conn.request(method, target, body=body, headers=headers)
                resp = conn.getresponse()
                status, payload = resp.status, resp.read()
                upstream_headers = dict(resp.getheaders())
                conn.close()
            except OSError as e:
                self._reply(502, json.dumps({"message": f"upstream unavailable: {e}"}).encode(), {})
                return
            extra = {"x-amzn-RequestId": str(uuid.uuid4())}
            kept = {k.lower(): v for k, v in upstream_headers.items()}
            for name in ("X-Amz-Function-Error", "X-Amz-Log-Result"):
                if name.lower() in kept:
                    extra[name] = kept[name.lower()]
            if match:
                extra["X-Amz-Executed-Version"] = "$LATEST"
                if status >= 500 and _is_function_error(payload):
                    extra["X-Amz-Function-Error"] = "Unhandled"
                    status = 200
                elif status >= 500:
                    # The emulator itself failed (not the function): Lambda's ServiceException.
                    message = payload.decode("utf-8", "replace")[:1000]
                    payload = json.dumps({"Type": "Service", "message": message}).encode()
                    extra["x-amzn-ErrorType"] = "ServiceException"
                    upstream_headers["content-type"] = "application/json"
            content_type = upstream_headers.get("content-type") or upstream_headers.get("Content-Type")
            if content_type:
                extra["Content-Type"] = content_type
            self._reply(status, payload, extra)

        def _reply(self, status: int, payload: bytes, headers: dict) -> None:
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_POST(self):
            self._forward("POST")

        def do_GET(self):
            self._forward("GET")

    return Handler


def _is_function_error(payload: bytes) -> bool:
    try:
        body = json.loads(payload)
    except ValueError:
        return False
    return isinstance(body, dict) and isinstance(body.get("errorType"), str)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen-host", default="127.0.0.1")
    parser.add_argument("--listen-port", type=int, default=9001)
    parser.add_argument("--upstream", default="http://127.0.0.1:9000")
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--refuse-module", type=int, default=None,
                        help=f"answer invocations about this module of projects containing {REFUSED_PROJECTS!r} with a ModelError")
    args = parser.parse_args(argv)
    upstream = urlsplit(args.upstream)
    server = ThreadingHTTPServer(
        (args.listen_host, args.listen_port),
        make_handler(upstream.hostname or "127.0.0.1", upstream.port or 80, args.timeout, args.refuse_module),
    )
    server.daemon_threads = True
    print(f"invoke adapter on http://{args.listen_host}:{args.listen_port} -> {args.upstream}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
