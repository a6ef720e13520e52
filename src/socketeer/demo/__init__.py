"""The chat demo served by ``socketeer demo``: rooms, members, typing, delivery ticks, images."""

from .app import create_app, find_client_bundle

__all__ = ["create_app", "find_client_bundle"]
