"""The listener's instance-wide service: a TCP port that answers "ticketfrei" to anyone."""
import socket

import process


def run(ctx):
    port = int(open(f"{ctx.settings.instance.data_dir}/listener.port").read())
    with socket.create_server(("127.0.0.1", port)) as server:
        server.settimeout(1.0)
        while True:
            process.beat(ctx)
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.sendall(b"ticketfrei\n")
