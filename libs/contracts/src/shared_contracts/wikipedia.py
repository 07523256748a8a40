"""The request that asks svc-wikipedia for one reading suggestion."""

import msgspec


class WikipediaRequested(msgspec.Struct, frozen=True):
    """Data of `wikipedia.requested.v1`: empty; the event id identifies the request."""
