"""Regions as separate clusters: which region holds an SDKAppID, told without asking any database.

Each region of a multi-region deployment is its own cluster with its own database; an application's
data lives only there. Every node has the same static table (``region_map`` setting): region -> public
URL and SDKAppID range. An SDKAppID's region is the range it falls in, so a node answers an entry or a
cloud-API call for another region's application from its settings alone: nothing about the application
or its users crosses regions, and nothing is read from or written to this region's database for it
(decision 0030).

- :class:`RegionMap` looks an SDKAppID up.
- :class:`RegionalDirectory` wraps the room entry's application directory: an entry for another
  region's SDKAppID is refused (REGION_MISMATCH, with the region's URL) before the database is read.
- :func:`cloud_api_region_error` does the same for the cloud API, before the request is authenticated
  (the caller's credentials live in the other region's database).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs

from relayroom import jsonlimits
from relayroom.config import RegionSettings, Settings
from relayroom.control.cloudapi import errors as E
from relayroom.control.cloudapi.errors import CloudApiError
from relayroom.control.rooms.entry import AppDirectory, AppEntryInfo
from relayroom.control.rooms.errors import ErrorCode, RoomError


@dataclass(frozen=True)
class Region:
    name: str
    url: str
    first: int
    last: int

    def holds(self, sdkappid: int) -> bool:
        return self.first <= sdkappid <= self.last


class RegionMap:
    """The deployment's regions with their SDKAppID ranges, seen from the node of region ``own``."""

    def __init__(self, own: str, table: Mapping[str, RegionSettings]) -> None:
        self.own = own
        self._regions = [Region(name, r.url, *r.sdkappids) for name, r in sorted(table.items())]

    @classmethod
    def from_settings(cls, settings: Settings) -> RegionMap:
        return cls(settings.region, settings.region_map)

    @property
    def enabled(self) -> bool:
        return bool(self._regions)

    def region_of(self, sdkappid: int) -> Region | None:
        return next((r for r in self._regions if r.holds(sdkappid)), None)

    def elsewhere(self, sdkappid: int) -> Region | None:
        """The other region that holds ``sdkappid``; None if it is this region's or in no range."""
        region = self.region_of(sdkappid)
        return region if region is not None and region.name != self.own else None


def wrong_region_message(sdkappid: int, region: Region) -> str:
    return f"application {sdkappid} belongs to region {region.name!r}: use {region.url}"


class RegionalDirectory:
    """The entry check's application directory, refusing another region's SDKAppID before ``inner``
    (the database) is asked."""

    def __init__(self, inner: AppDirectory, regions: RegionMap) -> None:
        self._inner = inner
        self._regions = regions

    async def get_app(self, sdkappid: int) -> AppEntryInfo | None:
        region = self._regions.elsewhere(sdkappid)
        if region is not None:
            raise RoomError(
                ErrorCode.REGION_MISMATCH,
                wrong_region_message(sdkappid, region),
                details={"regionUrl": region.url, "region": region.name},
            )
        return await self._inner.get_app(sdkappid)


def _sdkappid_of(body: bytes, query: Mapping[str, str]) -> int | None:
    """``SdkAppId`` of a cloud-API request as sent (JSON body, form body or query), unauthenticated."""
    value: object = query.get("SdkAppId")
    if value is None and body:
        try:
            data = jsonlimits.loads(body)
        except ValueError:  # JsonTooDeep included
            form = parse_qs(body[:65536].decode("utf-8", "replace"))
            data = {k: v[0] for k, v in form.items()}
        if isinstance(data, dict):
            value = data.get("SdkAppId")
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit() and len(value) <= 10:
        return int(value)
    return None


def cloud_api_region_error(regions: RegionMap, body: bytes, query: Mapping[str, str]) -> CloudApiError | None:
    """``UnsupportedRegion`` (Tencent Cloud's common code) naming the region's URL, for a request whose
    SdkAppId another region holds; None otherwise (the request goes on to authentication)."""
    if not regions.enabled:
        return None
    sdkappid = _sdkappid_of(body, query)
    region = regions.elsewhere(sdkappid) if sdkappid is not None else None
    if region is None:
        return None
    return CloudApiError(
        E.UNSUPPORTED_REGION,
        f"The SdkAppId {sdkappid} belongs to region `{region.name}`: send the request to {region.url}.",
        details={"RegionUrl": region.url, "Region": region.name},
    )
