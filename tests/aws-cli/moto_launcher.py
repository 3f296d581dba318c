"""moto_server on 127.0.0.1 with its Step Functions engine executing state machines for real,
and Lambda tasks passed through to a Lambda Invoke API endpoint (the invoke adapter in front
of `cargo lambda watch`), as tests/fidelity/engines.py runs the engine in-process.

moto_server alone sends the engine's Lambda calls to its own Lambda backend (which needs
Docker). Here the server runs in-process under `mock_aws` with a passthrough for Lambda, so the
engine's calls reach the endpoint while S3, Step Functions and CloudFormation are served by the
same in-memory backends the HTTP server answers from. `/moto-api/config` gets the same setting
the in-process mock starts with, so the server's own view of its configuration agrees.

Usage: python moto_launcher.py --port 5055 --lambda-endpoint http://127.0.0.1:9011
Runs until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import threading
import urllib.request


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--lambda-endpoint", required=True)
    parser.add_argument("--region", default="us-east-1")
    args = parser.parse_args()

    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": args.region,
            "AWS_REGION": args.region,
            "AWS_ENDPOINT_URL_LAMBDA": args.lambda_endpoint,
            # The engine's boto clients of other services (none in the course definition) would
            # go to this server.
            "MOTO_PORT": str(args.port),
        }
    )
    from moto import mock_aws  # late: the environment above must be in place
    from moto.server import ThreadedMotoServer

    config = {
        "stepfunctions": {"execute_state_machine": True},
        "core": {
            "passthrough": {
                "services": ["lambda"],
                "urls": [re.escape(args.lambda_endpoint.rstrip("/")) + "/.*"],
            }
        },
    }
    mock = mock_aws(config=config)
    mock.start()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=args.port, verbose=False)
    server.start()
    request = urllib.request.Request(
        f"http://127.0.0.1:{args.port}/moto-api/config",
        data=json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(request, timeout=10).read()
    print(f"moto_server on 127.0.0.1:{args.port}, Lambda tasks through {args.lambda_endpoint}", flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.stop()
    mock.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
