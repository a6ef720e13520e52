"""The server APIs over the engine."""
