#!/usr/bin/env python3
"""Init time of the Lambda binaries: process start to the first Runtime API poll.

Serves a minimal Lambda Runtime API on 127.0.0.1 and starts each binary against it, timing
the moment its first `GET /2018-06-01/runtime/invocation/next` arrives. Usage:
    scripts/measure-init.py [BIN_DIR]   (default target/release; build with
                                          `cargo build --release -p coursegen-lambda`)
The binaries inherit the environment, so e.g. `COURSEGEN_PROVIDER=bedrock AWS_ACCESS_KEY_ID=x
AWS_SECRET_ACCESS_KEY=x AWS_EC2_METADATA_DISABLED=true` measures the init with AWS clients built.
"""
import http.server
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

FUNCTIONS = ["prepare-course", "content-gen", "visual-planner", "images-gen", "lab-planner", "lab-writer", "book-builder"]
RUNS = 5


class Runtime(http.server.BaseHTTPRequestHandler):
    polled = threading.Event()

    def do_GET(self):  # the first poll is all we need; hold it open until the process is killed
        if self.path.startswith("/2018-06-01/runtime/invocation/next"):
            Runtime.polled_at = time.perf_counter()
            Runtime.polled.set()
            time.sleep(2)
        self.send_response(500)
        self.end_headers()

    def log_message(self, *args):
        pass


def main():
    bin_dir = sys.argv[1] if len(sys.argv) > 1 else "target/release"
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Runtime)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    api = f"127.0.0.1:{server.server_address[1]}"
    store = tempfile.mkdtemp(prefix="coursegen-init-")
    env = dict(os.environ, AWS_LAMBDA_RUNTIME_API=api, COURSEGEN_STORE_DIR=store, AWS_LAMBDA_FUNCTION_NAME="init",
               AWS_LAMBDA_FUNCTION_MEMORY_SIZE="512", AWS_LAMBDA_FUNCTION_VERSION="$LATEST", AWS_REGION="us-east-1")
    print(f"{'function':<16} {'size (bytes)':>14} {'init median (ms)':>18} {'min':>8} {'max':>8}")
    failed = False
    for fn in FUNCTIONS:
        path = os.path.join(bin_dir, fn)
        if not os.path.exists(path):
            print(f"{fn:<16} missing: {path}")
            failed = True
            continue
        samples = []
        for _ in range(RUNS):
            Runtime.polled.clear()
            start = time.perf_counter()
            proc = subprocess.Popen([path], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            ok = Runtime.polled.wait(timeout=10)
            proc.kill()
            proc.wait()
            if not ok:
                failed = True
                break
            samples.append((Runtime.polled_at - start) * 1000)
        if samples:
            print(f"{fn:<16} {os.path.getsize(path):>14} {statistics.median(samples):>18.1f} "
                  f"{min(samples):>8.1f} {max(samples):>8.1f}")
        else:
            print(f"{fn:<16} never polled the Runtime API")
    server.shutdown()
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
