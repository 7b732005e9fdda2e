"""pyamqp copies every TCP option it can read back onto the socket; on a loaded machine some
read-back values (seen on loopback) are rejected with EINVAL and the connection attempt fails.
Importing this module applies the options one by one and skips the rejected ones."""
import sys

from azure.eventhub._pyamqp import _transport


def _tolerant_socket_options(self, socket_settings):
    """pyamqp copies every TCP option it can read back onto the socket; on a loaded machine some
    read-back values (seen on loopback) are rejected with EINVAL and the connection attempt
    fails. Apply the options one by one and skip the rejected ones."""
    tcp_opts = self._get_tcp_socket_defaults(self.sock)
    if socket_settings:
        tcp_opts.update(socket_settings)
    for opt, val in tcp_opts.items():
        try:
            self.sock.setsockopt(_transport.SOL_TCP, opt, val)
        except OSError as err:
            print(f"note: TCP option {opt}={val} rejected: {err}", file=sys.stderr)


_transport._AbstractTransport._set_socket_options = _tolerant_socket_options
