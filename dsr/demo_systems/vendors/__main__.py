"""The vendor stand-ins for the demo, in one process (the run command starts it when a template is on):

    python -m dsr.demo_systems.vendors --ports hubspot=5101,mailchimp=5102,...

Credentials come from the variables the templates name (dsr.demo_systems.vendors.stand_ins.SECRETS, and
DSR_ZENDESK_USER); the Google service-account key is written to DSR_GA4_KEY_FILE.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

from dsr.demo_systems.vendors.stand_ins import NAMES, SECRETS, start_all


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--ports", required=True, help="name=port,... for " + ", ".join(NAMES))
    args = parser.parse_args(argv)
    ports = {name: int(port) for name, _, port in (item.partition("=") for item in args.ports.split(","))}
    missing = [name for name in (*SECRETS, "DSR_GA4_KEY_FILE") if not os.environ.get(name)]
    if missing or set(ports) != set(NAMES):
        print(f"missing: {', '.join(missing) or 'ports for ' + ', '.join(sorted(set(NAMES) - set(ports)))}",
              file=sys.stderr)
        return 2
    servers = start_all(os.environ, args.host, ports)
    servers["ga4"].write_key_file(Path(os.environ["DSR_GA4_KEY_FILE"]))
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    print("vendor stand-ins: " + ", ".join(f"{name} {server.url}" for name, server in servers.items()),
          file=sys.stderr, flush=True)
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    for server in servers.values():
        server.shutdown()
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
