# SPDX-License-Identifier: MIT
"""servers.py: what the benchmark scripts (run.py, flood.py) share for starting
servers: free loopback ports, waiting until a server wrote its port file or
accepts connections, and nginx's configuration."""
import os
import socket
import time


def free_ports(n):
    """n distinct loopback ports that were free a moment ago."""
    ports = set()
    while len(ports) < n:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.add(s.getsockname()[1])
    return sorted(ports)


def wait_file(path, secs=5):
    """Waits (<= secs) until path exists and is not empty; True when it is."""
    end = time.time() + secs
    while time.time() < end:
        if os.path.exists(path) and os.path.getsize(path) > 0:
            return True
        time.sleep(0.01)
    return False


def nginx_conf(d, port, connections, http="", location="", addr="127.0.0.1"):
    """nginx.conf for one nginx worker in the foreground, its pid, error log and
    temporary files in d (temporary files in d/tmp; as root, the worker stays
    root), serving addr:port; http: more lines for http {}, location: the
    body of its `location /`."""
    return """%sworker_processes 1;
daemon off;
pid %s/nginx.pid;
error_log %s/error.log warn;
events { worker_connections %d; }
http {
  access_log off;
%s  client_body_temp_path %s/tmp;
  proxy_temp_path %s/tmp;
  fastcgi_temp_path %s/tmp;
  uwsgi_temp_path %s/tmp;
  scgi_temp_path %s/tmp;
  server {
    listen %s:%d;
    location / { %s }
  }
}
""" % ("user root;\n" if os.getuid() == 0 else "", d, d, connections, http, d, d, d, d, d, addr,
       port, location)


def wait_port(port, secs=6):
    """Waits (<= secs) until something accepts on 127.0.0.1:port; True when it does."""
    end = time.time() + secs
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            time.sleep(0.02)
    return False
