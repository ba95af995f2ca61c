"""Runs moto's S3 server on 127.0.0.1:PORT until the process that started it
exits (so a test binary that dies never leaves a server behind).

    s3_server.py PORT
"""

import os
import sys
import time

from moto.server import ThreadedMotoServer


def main():
    port = int(sys.argv[1])
    parent = os.getppid()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    print("ready", flush=True)
    while os.getppid() == parent:
        time.sleep(0.5)
    server.stop()


if __name__ == "__main__":
    main()
