"""The invoke adapter gives an emulator's Invoke API the response contract of AWS Lambda: these
tests put it in front of a stub upstream on loopback that answers the way `cargo lambda watch`
and `sam local start-lambda` do, and check what a Lambda client (moto's engine, our invoker)
then sees."""

from __future__ import annotations

import http.client
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from invoke_adapter import make_handler

# What the stub upstream answers for each function name: (status, headers, body).
ANSWERS = {
    # sam local: a function error is 200 with X-Amz-Function-Error.
    "sam-function-error": (200, {"X-Amz-Function-Error": "Unhandled"}, {"errorType": "InvalidRequest", "errorMessage": "bad"}),
    # cargo lambda watch: a function error is a bare 500 with the error object.
    "watch-function-error": (500, {}, {"errorType": "ThrottlingException", "errorMessage": "slow down"}),
    # sam local: its own failure (a container that did not start), no request id.
    "sam-service-failure": (500, {"x-amzn-errortype": "Service"}, {"Type": "Service", "Message": "ServiceException"}),
    "ok": (200, {}, {"lesson_keys": ["a"]}),
}


class Upstream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[str] = []

    def log_message(self, fmt, *args):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        name = self.path.split("/functions/", 1)[1].split("/", 1)[0]
        Upstream.seen.append(name)
        status, headers, body = ANSWERS[name]
        payload = json.dumps(body).encode()
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture(scope="module")
def adapter():
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    host, port = upstream.server_address[:2]
    front = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(host, port, 10.0, refuse_module=3))
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in (upstream, front)]
    for t in threads:
        t.start()
    yield front.server_address[1]
    for s in (front, upstream):
        s.shutdown()
        s.server_close()


def invoke(port: int, function: str, payload: dict | None = None) -> tuple[int, dict[str, str], dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("POST", f"/2015-03-31/functions/{function}/invocations", body=json.dumps(payload or {}).encode())
    resp = conn.getresponse()
    headers = {k.lower(): v for k, v in resp.getheaders()}
    body = json.loads(resp.read())
    conn.close()
    return resp.status, headers, body


def test_a_function_error_from_sam_local_keeps_its_function_error_header(adapter):
    status, headers, body = invoke(adapter, "sam-function-error")
    assert status == 200
    assert headers["x-amz-function-error"] == "Unhandled"
    assert body["errorType"] == "InvalidRequest"
    assert headers["x-amzn-requestid"]


def test_a_bare_500_with_an_error_object_becomes_an_unhandled_function_error(adapter):
    status, headers, body = invoke(adapter, "watch-function-error")
    assert (status, headers["x-amz-function-error"], body["errorType"]) == (200, "Unhandled", "ThrottlingException")


def test_a_failure_of_the_emulator_itself_is_lambdas_service_exception(adapter):
    status, headers, body = invoke(adapter, "sam-service-failure")
    assert status == 500
    assert headers["x-amzn-errortype"] == "ServiceException"
    assert "x-amz-function-error" not in headers
    assert headers["x-amzn-requestid"]
    assert body["Type"] == "Service"


def test_a_function_arn_reaches_the_upstream_by_its_bare_name(adapter):
    status, headers, body = invoke(adapter, "arn:aws:lambda:us-east-1:123456789012:function:ok")
    assert (status, body) == (200, {"lesson_keys": ["a"]})
    assert "x-amz-function-error" not in headers
    assert Upstream.seen[-1] == "ok"


def test_the_refused_module_of_a_refuse_project_gets_a_model_error_without_reaching_the_function(adapter):
    Upstream.seen.clear()
    for payload in ({"project_folder": "p-refuse-1", "module_number": 3}, {"project_folder": "p-refuse-1", "lab_id": "03-01-01"}):
        status, headers, body = invoke(adapter, "ok", payload)
        assert status == 200
        assert headers["x-amz-function-error"] == "Unhandled"
        assert body["errorType"] == "ModelError"
        assert "module 3" in body["errorMessage"] and "content_filtered" in body["errorMessage"]
    assert Upstream.seen == []
    # Another module, or the same module of an ordinary project, reaches the function.
    for payload in ({"project_folder": "p-refuse-1", "module_number": 2}, {"project_folder": "plain", "module_number": 3},
                    {"project_folder": "p-refuse-1", "lab_id": "02-03-01"}):
        status, headers, body = invoke(adapter, "ok", payload)
        assert (status, body) == (200, {"lesson_keys": ["a"]})
        assert "x-amz-function-error" not in headers
    assert Upstream.seen == ["ok", "ok", "ok"]
