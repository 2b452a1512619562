# One connection of the service to the container's Jupyter Server, relayed over `docker exec` stdio
# (see sandbox/runtimes/docker/relay.ts): used where the Jupyter socket, made inside the container,
# cannot be reached from the host (gVisor). Run as `python3 -I -S -c <this file> <socket path>`.
# It waits for the socket to appear (the server may still be starting), then copies bytes both
# ways until each side has closed: stdin's end becomes a half-close towards Jupyter.
import os
import socket
import sys
import threading
import time

path = sys.argv[1]
conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
deadline = time.monotonic() + 60
while True:
    try:
        conn.connect(path)
        break
    except (FileNotFoundError, ConnectionRefusedError):
        if time.monotonic() > deadline:
            sys.exit(f"relay: {path} did not appear")
        time.sleep(0.01)


def upstream():
    try:
        while True:
            data = os.read(0, 65536)
            if not data:
                break
            conn.sendall(data)
        conn.shutdown(socket.SHUT_WR)
    except OSError:
        os._exit(0)


threading.Thread(target=upstream, daemon=True).start()
try:
    while True:
        data = conn.recv(65536)
        if not data:
            break
        view = memoryview(data)
        while view:
            view = view[os.write(1, view) :]
except OSError:
    pass
