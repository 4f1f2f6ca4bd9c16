"""The client: Python API (:mod:`.api`) and its configuration (:mod:`.config`)."""
