"""The benchmark's servers: one application (echo, ack, broadcast, binary echo) on each stack.

Each module is run as its own process by ``bench.sio``: ``python -m bench.servers.NAME --port P``
(and ``node bench/servers/node_server.js --port P``). They print nothing useful; the harness
waits for the port to accept connections.
"""
