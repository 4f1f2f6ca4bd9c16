"""The storage node's behaviour, independent of gRPC: requests, blob sync, catch-up."""
