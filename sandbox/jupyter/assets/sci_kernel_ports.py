# Fresh ports for a kernel whose cached ones were taken. jupyter_client 7.4's LocalProvisioner picks
# a kernel's ports once and reuses them on every restart, including its restarter's restarts with
# "new random ports" after a death during the start (those only renew ports the connection file
# chose itself, and the provisioner chose these). A port another process took meanwhile (an
# outgoing connection can get any free port) then fails each restart alike, five times, and the
# kernel is dead; a start waited out its timeout instead.
import errno
import socket

from jupyter_client.connect import LocalPortCache

PORT_NAMES = ("shell_port", "iopub_port", "stdin_port", "hb_port", "control_port")


def taken(ip, port):
    """Whether a kernel could not bind (ip, port) now; ZMQ binds with SO_REUSEADDR, as here."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((ip, port))
        except OSError as error:
            return error.errno == errno.EADDRINUSE
    return False


def release_taken_ports(provisioner):
    """
    Before a (re)start: if a cached port of the provisioner's kernel is taken, returns them all to
    the port cache and forgets them and the connection file, so that pre_launch picks new ones.
    Returns the taken ports.
    """
    km = provisioner.parent
    if km is None or not provisioner.ports_cached or km.transport != "tcp":
        return []
    ports = [getattr(km, name) for name in PORT_NAMES]
    busy = [port for port in ports if port and taken(km.ip, port)]
    if busy:
        cache = LocalPortCache.instance()
        for port in ports:
            cache.return_port(port)
        provisioner.ports_cached = False
        km.cleanup_connection_file()
    return busy
