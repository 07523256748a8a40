"""The request that asks svc-wikipedia for one reading suggestion."""

from pydantic import BaseModel, ConfigDict


class WikipediaRequested(BaseModel):
    """Data of `wikipedia.requested.v1`: empty; the event id identifies the request."""

    model_config = ConfigDict(extra="ignore")
