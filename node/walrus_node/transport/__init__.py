"""gRPC transport: servicers and server for the node, client stubs for everyone else.

The only package (with the operator's node client) that imports generated protobuf code.
"""
