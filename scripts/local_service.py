"""What the local servers of the load scripts share (scripts/quota-table.py, scripts/lambda-pool.py):
telling the script that started them where they listen, and serving until they are told to stop."""

import os
import signal
import threading


def announce(addr_file: str, address: str) -> None:
    """Write `address` (HOST:PORT) to `addr_file` in one step, so a reader never sees half of it."""
    tmp = addr_file + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(f"{address}\n")
    os.replace(tmp, addr_file)


def wait_for_stop() -> None:
    """Block until the process gets SIGTERM or SIGINT."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
