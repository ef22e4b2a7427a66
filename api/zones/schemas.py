"""Zones: a name, a parent (any depth), and where it is: a centre point, a GeoJSON polygon
outline, or both. An outline is checked to be a real Polygon a map can draw and a database can
keep: closed linear rings of sane longitude/latitude pairs, bounded in size."""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

MAX_RINGS = 20  # the outline and its holes
MAX_POSITIONS = 5000  # every ring's points together
MAX_BYTES = 256 * 1024


def _position(value: Any, where: str) -> tuple[float, float]:
    if not isinstance(value, list) or len(value) not in (2, 3):
        raise ValueError(f"{where}: a position is [longitude, latitude] (and an optional altitude)")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        raise ValueError(f"{where}: coordinates must be numbers")
    lon, lat = float(value[0]), float(value[1])
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise ValueError(f"{where}: coordinates must be finite numbers")
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise ValueError(
            f"{where}: longitude must be within -180..180 and latitude within -90..90 "
            "(GeoJSON puts longitude first)"
        )
    return lon, lat


def check_polygon(value: dict[str, Any]) -> dict[str, Any]:
    """A GeoJSON Polygon (RFC 7946 3.1.6): its type, then one or more linear rings of four or
    more positions whose first and last are the same, the first ring the outline."""
    if len(json.dumps(value)) > MAX_BYTES:
        raise ValueError(f"an outline may take at most {MAX_BYTES // 1024} KB")
    if value.get("type") != "Polygon":
        raise ValueError('must be a GeoJSON geometry with "type": "Polygon"')
    if set(value) - {"type", "coordinates", "bbox"}:
        raise ValueError("a Polygon has only type, coordinates and bbox")
    rings = value.get("coordinates")
    if not isinstance(rings, list) or not rings:
        raise ValueError("coordinates must be a list of linear rings (the outline first)")
    if len(rings) > MAX_RINGS:
        raise ValueError(f"at most {MAX_RINGS} rings (an outline and its holes)")
    total = 0
    for r, ring in enumerate(rings):
        if not isinstance(ring, list) or len(ring) < 4:
            raise ValueError(f"ring {r}: a linear ring has at least 4 positions")
        total += len(ring)
        if total > MAX_POSITIONS:
            raise ValueError(f"at most {MAX_POSITIONS} positions in all")
        points = [_position(p, f"ring {r}, position {i}") for i, p in enumerate(ring)]
        if points[0] != points[-1]:
            raise ValueError(f"ring {r} is not closed: its last position must equal its first")
        if len(set(points)) < 3:
            raise ValueError(f"ring {r} encloses nothing: it needs 3 distinct positions")
    return value


Outline = Annotated[dict[str, Any], AfterValidator(check_polygon)]
Name = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")]
Latitude = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
Longitude = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]


def _both_or_neither(latitude: float | None, longitude: float | None) -> None:
    if (latitude is None) != (longitude is None):
        raise ValueError("give both latitude and longitude, or neither")


class ZoneCreate(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    name: Name
    parent_id: int | None = Field(None, ge=1, description="The zone this one lies in; none: top")
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    outline: Outline | None = Field(None, description="A GeoJSON Polygon (longitude first)")

    @model_validator(mode="after")
    def _centre(self) -> ZoneCreate:
        _both_or_neither(self.latitude, self.longitude)
        return self


class ZoneUpdate(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    name: Name | None = None
    parent_id: int | None = Field(None, ge=1, description="Move under this zone; null: to the top")
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    outline: Outline | None = None

    @model_validator(mode="after")
    def _centre(self) -> ZoneUpdate:
        if "name" in self.model_fields_set and self.name is None:
            raise ValueError("name cannot be null")
        if {"latitude", "longitude"} & self.model_fields_set:
            _both_or_neither(self.latitude, self.longitude)
        return self


class ZoneOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    parent_id: int | None
    latitude: float | None
    longitude: float | None
    outline: dict[str, Any] | None
    path: list[int] = Field(description="Zone ids from the top down to this one")
    created_at: datetime


class ZonesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    zone_ids: list[Annotated[int, Field(ge=1)]] = Field(
        max_length=1000, description="The tech's zones from now on (replaces the current ones)"
    )
