"""The base of every scenario section (strict keys, frozen) and shared field types."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

NonNegative = Annotated[float, Field(ge=0)]


class Section(BaseModel):
    """Base of every scenario section: strict keys, validated assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=True)
