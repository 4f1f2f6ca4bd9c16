"""The HTTP gateway: an aggregator (reads) and a publisher (writes) speaking Walrus's HTTP API.

Built on the client API only (``walrus_node.client``); never imports the node's service or
store. See docs/gateway.md.
"""
