#!/usr/bin/env python3
"""A local quota table for runs whose processes share one budget (QUOTA_TABLE).

Serves a DynamoDB on a free port of --host (loopback by default; the Docker bridge address
for `sam local` containers), one request at a time, creates the quota table
(string key `pk`, on-demand, as template.yaml does), writes `HOST:PORT` to --addr-file once
it is ready, and serves until it gets SIGTERM or SIGINT. Run it with the fidelity venv's Python:

    .venv-fidelity/bin/python scripts/quota-table.py --table coursegen-quota --addr-file /tmp/q.addr &

then give every process that calls a model:

    QUOTA_TABLE=coursegen-quota AWS_ENDPOINT_URL_DYNAMODB=http://$(cat /tmp/q.addr)
    AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test

One request at a time, because moto's threaded server checks a conditional write's condition and
applies it without a lock: two concurrent takes could both succeed, which DynamoDB never allows.

--engine moto (the default) serves moto's DynamoDB, the reference the limiter's tests run
against; --engine lean serves scripts/lean_dynamo.py, the same answers to the requests the
quota's buckets make in a fraction of a millisecond where moto spends about 10 ms of CPU, close
to the service's own few milliseconds: a load run on two cores sends a thousand requests and
would otherwise measure moto's queue.

With --stats-file it writes, when it stops, how many requests it served and how long it was busy
serving them (`{"requests": N, "busy_s": S}`), so a load script can tell a saturated table from
a quiet one; `kinds` counts them by what they did and their status (`take 200` admitted,
`take 400` refused or written again, `refund 200`), and `spans` lists each one's start (Unix
seconds) and duration, to lay the table's load against a run's timeline.
"""

import argparse
import io
import logging
import json
import os
import sys
import threading
import time

import boto3
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from local_service import announce, wait_for_stop


def request_kind(target: str, body: bytes) -> str:
    """What a request does to the quota table: a take, a refund, a read or other."""
    operation = target.rsplit(".", 1)[-1]
    if operation != "UpdateItem":
        return operation or "unknown"
    try:
        expression = json.loads(body).get("UpdateExpression", "")
    except ValueError:
        return "UpdateItem"
    return "refund" if expression.startswith("ADD") else "take"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--table", default="coursegen-quota", help="table name (QUOTA_TABLE)")
    parser.add_argument("--addr-file", required=True, help="where to write HOST:PORT once ready")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default: a free one)")
    parser.add_argument("--stats-file", help="where to write the requests served and busy time on exit")
    parser.add_argument("--engine", choices=["moto", "lean"], default="moto",
                        help="moto's DynamoDB (default) or the lean one (scripts/lean_dynamo.py)")
    args = parser.parse_args()

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    if args.engine == "moto":
        from moto.moto_server.werkzeug_app import (DomainDispatcherApplication, MotoRequestHandler,
                                                   create_backend_app)
        engine, handler = DomainDispatcherApplication(create_backend_app), MotoRequestHandler
    else:
        from lean_dynamo import LeanDynamo
        engine, handler = LeanDynamo(), WSGIRequestHandler
    # Tens of processes may connect at once; a short listen queue would drop their connections
    # (a second's wait for each retransmitted SYN).
    BaseWSGIServer.request_queue_size = 1024
    served = {"requests": 0, "busy_s": 0.0, "kinds": {}, "spans": []}

    def app(environ, start_response):
        # One request at a time (threaded=False), so the busy times add up without a lock.
        began = time.perf_counter()
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        status = []

        def recording_start_response(s, headers, *rest):
            status.append(s.split(" ", 1)[0])
            return start_response(s, headers, *rest)

        try:
            return list(engine(environ, recording_start_response))
        finally:
            ended = time.perf_counter()
            served["requests"] += 1
            served["busy_s"] += ended - began
            kind = request_kind(environ.get("HTTP_X_AMZ_TARGET", ""), body)
            key = f"{kind} {status[0] if status else '?'}"
            served["kinds"][key] = served["kinds"].get(key, 0) + 1
            served["spans"].append((time.time() - (ended - began), ended - began))

    server = make_server(args.host, args.port, app, threaded=False, request_handler=handler)
    port = server.socket.getsockname()[1]
    os.environ.setdefault("MOTO_PORT", str(port))
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()

    endpoint = f"http://{args.host}:{port}"
    client = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    client.create_table(
        TableName=args.table,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    announce(args.addr_file, f"{args.host}:{port}")
    wait_for_stop()
    server.shutdown()
    if args.stats_file:
        with open(args.stats_file, "w", encoding="utf-8") as f:
            json.dump({"requests": served["requests"], "busy_s": round(served["busy_s"], 3),
                       "kinds": served["kinds"],
                       "spans": [(round(a, 4), round(d, 5)) for a, d in served["spans"]]}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
