"""Region: villages, terrain and existing networks, in one metric CRS.

The data model of DESIGN.md. GeoDataFrames live here and in ``report/`` only;
the engineering stage turns a Region into plain arrays.
"""

from coverageplan.region.io import read_region, write_region
from coverageplan.region.model import TOWER_TECHS, Region, Terrain
from coverageplan.region.validate import validate_region

__all__ = ["TOWER_TECHS", "Region", "Terrain", "read_region", "validate_region", "write_region"]
