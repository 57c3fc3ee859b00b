"""Scenario files: the pydantic schema (single source of truth), loading and overrides.

A scenario is a YAML file. Every field has a unit-suffixed name, a default and a
description; unknown keys are rejected. Named ``overrides`` are partial
scenarios merged on top with ``--override NAME``. Money is in USD (2020-2023
prices, see ``PARAMETERS.md`` of the project notes for each default's source).

An invalid file raises :class:`~coverageplan.errors.InputError` naming the
file, the key path and what was expected.
"""

from __future__ import annotations

import copy
import itertools
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, model_validator

from coverageplan.errors import InputError
from coverageplan.section import Section
from coverageplan.sweep_spec import Sweep, value_at, with_values

OPTIONS: tuple[str, ...] = ("fibre", "cellular", "satellite")
"""Access options, in the column order of ``Problem.cost``."""

REGION_CLASSES: tuple[str, ...] = (
    "developed",
    "central",
    "western",
    "border",
    "remote",
    "pastoral",
    "island",
)
"""Area classes of the 2016 informatization strategy, task 9 (see DESIGN.md)."""

OptionName = Literal["fibre", "cellular", "satellite"]
RegionClass = Literal["developed", "central", "western", "border", "remote", "pastoral", "island"]


class SyntheticRegion(Section):
    """Generate a synthetic region instead of reading files."""

    villages: int = Field(2000, ge=1, le=2_000_000, description="Number of villages.")
    seed: int = Field(0, ge=0, description="Random seed; the region is deterministic for a seed.")


DEFAULT_POPULATION: dict[str, int] = {
    "town": 2_000,
    "village": 200,
    "hamlet": 30,
    "isolated_dwelling": 5,
}
"""People assumed per settlement of an OSM place type when no population is known
(orders of magnitude of the OSM wiki's place definitions; flagged as estimated)."""


class RawLayer(Section):
    """One raw input file of an imported region and how to read it."""

    path: Path = Field(description="The file; relative to the scenario file.")
    format: Literal["auto", "table", "vector", "osm", "geonames", "opencellid", "masts"] = Field(
        "auto",
        description="File format; 'auto' guesses from the suffix (.csv/.xlsx table, "
        ".txt GeoNames, .geojson/.gpkg vector, .osm.pbf OSM; towers: opencellid or masts).",
    )
    columns: dict[str, str] = Field(
        default_factory=dict,
        description="Our column name -> the file's (e.g. {x: x_l93, y: y_l93, population: pop}).",
    )
    crs: str = Field(
        "EPSG:4326", description="CRS of table coordinates or CRS-less files (EPSG code or WKT)."
    )
    gcj02: bool = Field(
        False, description="Coordinates are GCJ-02 (Chinese web maps); convert to WGS84."
    )
    layer: str | None = Field(None, description="Layer of a multi-layer file (GeoPackage).")


class RegionFiles(Section):
    """Raw files to import into a Region (``coverageplan import``)."""

    dem: list[Path] = Field(
        min_length=1, description="DEM tiles: SRTM .hgt / .hgt.zip or GeoTIFF, mosaicked."
    )
    villages: RawLayer = Field(description="Settlements: table, GeoNames, OSM or vector points.")
    towers: list[RawLayer] = Field(default_factory=list, description="Cell or mast tables.")
    fibre: RawLayer | None = Field(None, description="Existing fibre routes (lines).")
    fibre_nodes: RawLayer | None = Field(None, description="Fibre points of presence (points).")
    roads: RawLayer | None = Field(None, description="Roads as trench routes (OSM or lines).")
    population_raster: Path | None = Field(
        None, description="People-per-cell raster for villages without a population."
    )
    default_population: dict[str, int] = Field(
        default_factory=lambda: dict(DEFAULT_POPULATION),
        description="People per place type (town, village, hamlet, isolated_dwelling) when "
        "neither the data nor a raster gives a population.",
    )
    household_size: float = Field(
        2.2, gt=0, description="People per household when households are absent (France: 2.2)."
    )
    tower_height_m: float = Field(
        30.0, gt=0, le=150, description="Mast height when the tower data gives none."
    )
    site_merge_m: float = Field(
        50.0, gt=0, description="Tower records closer than this (in chains) are one site."
    )
    cache_dir: Path = Field(
        Path(".region-cache"),
        description="Where imported regions are cached; relative to the scenario file.",
    )

    @model_validator(mode="after")
    def _village_default(self) -> RegionFiles:
        if "village" not in self.default_population:
            raise ValueError("default_population needs a 'village' entry (used for unknown types)")
        return self

    def resolved(self, base_dir: Path) -> RegionFiles:
        """The same files with relative paths taken from ``base_dir``."""

        def path(value: Path) -> Path:
            return value if value.is_absolute() else (base_dir / value).resolve()

        def layer(value: RawLayer | None) -> RawLayer | None:
            return None if value is None else value.model_copy(update={"path": path(value.path)})

        raster = self.population_raster
        return self.model_copy(
            update={
                "dem": [path(p) for p in self.dem],
                "villages": layer(self.villages),
                "towers": [layer(t) for t in self.towers],
                "fibre": layer(self.fibre),
                "fibre_nodes": layer(self.fibre_nodes),
                "roads": layer(self.roads),
                "population_raster": None if raster is None else path(raster),
                "cache_dir": path(self.cache_dir),
            }
        )


class RegionSource(Section):
    """Where the region comes from: a saved region folder, raw files to import, or synthetic."""

    path: Path | None = Field(
        None,
        description="Folder holding region.gpkg and dem.tif; relative to the scenario file.",
    )
    synthetic: SyntheticRegion | None = Field(None, description="Generate the region instead.")
    files: RegionFiles | None = Field(None, description="Import the region from raw files.")
    crs: str | None = Field(
        None,
        description="Metric CRS to plan in (EPSG code or WKT); default: the data's own "
        "if metric, else its UTM zone.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> RegionSource:
        if [self.path, self.synthetic, self.files].count(None) != 2:
            raise ValueError("give exactly one of 'path' or 'synthetic' or 'files' (raw files)")
        return self


class FibreEngineering(Section):
    """Fibre extension model: a terrain-costed tree from villages to the existing network."""

    topology: Literal["tree", "spur"] = Field(
        "tree",
        description="'tree': villages share trenches along a minimum spanning tree rooted at the "
        "network; 'spur': each village pays its own spur to the nearest access point.",
    )
    neighbours: int = Field(
        8, ge=1, le=32, description="Candidate trench edges from each node to its k nearest nodes."
    )
    access_spacing_m: float = Field(
        1_000.0, gt=0, description="Spacing of splice points sampled along existing fibre lines."
    )
    route_factor: float = Field(
        1.2, ge=1.0, le=3.0, description="Road-route length over straight-line length (Giga: 1.2)."
    )
    max_edge_m: float = Field(
        50_000, gt=0, description="Longest single trench edge, in metres (ITU CPP: 50 km)."
    )
    slope_breaks_deg: list[float] = Field(
        [5.0, 15.0, 25.0],
        description="Slope class boundaries in degrees (ascending).",
    )
    slope_factors: list[float] = Field(
        [1.0, 1.3, 1.6, 2.0],
        description="Trench cost multiplier per slope class; one more than slope_breaks_deg "
        "(assumption bounded by the x2 rock factor, PARAMETERS.md §A).",
    )
    road_factor: float = Field(
        0.7,
        gt=0,
        le=1,
        description="Cost multiplier of buried trench along a road (shared right of way, easy "
        "access; assumption, ≥ the aerial ratio).",
    )
    aerial_allowed: bool = Field(
        False, description="Allow aerial cable on poles along roads instead of burying it."
    )
    aerial_factor: float = Field(
        0.4,
        gt=0,
        le=1,
        description="Aerial over buried cost (Cartesian 2023 US medians: 6.49 vs 16.25 USD/ft).",
    )
    road_width_m: float = Field(
        100.0, gt=0, description="Corridor either side of a road counted as 'along the road'."
    )
    sample_spacing_m: float = Field(
        200.0, gt=0, description="Spacing of DEM samples along a trench edge, in metres."
    )

    @model_validator(mode="after")
    def _bands(self) -> FibreEngineering:
        breaks = self.slope_breaks_deg
        if any(high <= low for low, high in itertools.pairwise(breaks)):
            raise ValueError("slope_breaks_deg must be strictly ascending")
        if len(self.slope_factors) != len(breaks) + 1:
            raise ValueError("slope_factors needs exactly one more entry than slope_breaks_deg")
        if min(self.slope_factors) <= 0:
            raise ValueError("slope_factors must be positive")
        return self


ITM_CLIMATES: dict[str, int] = {
    "equatorial": 1,
    "continental_subtropical": 2,
    "maritime_subtropical": 3,
    "desert": 4,
    "continental_temperate": 5,
    "maritime_temperate_land": 6,
    "maritime_temperate_sea": 7,
}
"""ITM radio climates and their NTIA codes."""
ITM_MODES: dict[str, int] = {"single_message": 0, "accidental": 1, "mobile": 2, "broadcast": 3}
"""ITM modes of variability (NTIA's mdvar)."""


class ItmSettings(Section):
    """Longley-Rice (ITM) parameters of the cellular links (NTIA/ITS ITM 1.2.2 ranges)."""

    climate: Literal[
        "equatorial",
        "continental_subtropical",
        "maritime_subtropical",
        "desert",
        "continental_temperate",
        "maritime_temperate_land",
        "maritime_temperate_sea",
    ] = Field("continental_temperate", description="Radio climate.")
    n0_n_units: float = Field(
        301.0, ge=250, le=400, description="Sea-level surface refractivity N_0 (N-units)."
    )
    ground_permittivity: float = Field(
        15.0, gt=1, le=100, description="Relative permittivity of the ground (average ground 15)."
    )
    ground_conductivity_s_per_m: float = Field(
        0.005, gt=0, le=100, description="Ground conductivity in S/m (average ground 0.005)."
    )
    polarization: Literal["horizontal", "vertical"] = Field(
        "vertical", description="Antenna polarization."
    )
    variability_mode: Literal["single_message", "accidental", "mobile", "broadcast"] = Field(
        "accidental", description="ITM mode of variability (mdvar 0-3)."
    )
    time_pct: float = Field(
        50.0, gt=0, lt=100, description="Time reliability: loss not exceeded this % of time."
    )
    location_pct: float = Field(
        50.0,
        gt=0,
        lt=100,
        description="Location reliability (%); shadowing beyond it is in fade_margin_db.",
    )
    situation_pct: float = Field(50.0, gt=0, lt=100, description="Confidence (%).")


class RadioEngineering(Section):
    """Cellular link budget and path loss: ITM over the DEM (default) or Okumura-Hata.

    A village is covered when the loss at the ITM reliability (or Hata's
    median) is at most the link budget's maximum allowed loss, which includes
    ``fade_margin_db``. Hata is valid for 150-1500 MHz only; ITM for
    20-20,000 MHz with antenna heights 0.5-3000 m.
    """

    propagation: Literal["itm", "hata"] = Field(
        "itm",
        description="'itm': Longley-Rice point to point over DEM profiles; 'hata': "
        "terrain-blind Okumura-Hata.",
    )
    freq_mhz: float = Field(
        800.0, ge=20, le=20_000, description="Carrier frequency (ITM 20-20,000; Hata 150-1500 MHz)."
    )
    environment: Literal["open", "suburban", "urban"] = Field(
        "open", description="Hata environment correction; rural areas are 'open'."
    )
    itm: ItmSettings = ItmSettings()
    max_range_m: float = Field(
        15_000.0, gt=0, le=100_000, description="Site-village pairs farther apart are not covered."
    )
    profile_spacing_m: float | None = Field(
        None,
        gt=0,
        description="Spacing of DEM samples along a link; default the DEM cell size (≥ 30 m).",
    )
    tx_power_dbm: float = Field(40.0, description="Transmit power per sector (pysim5g: 40 dBm).")
    tx_antenna_gain_dbi: float = Field(16.0, description="Sector antenna gain (pysim5g: 16 dBi).")
    tx_losses_db: float = Field(1.0, ge=0, description="Feeder and connector losses.")
    rx_antenna_gain_dbi: float = Field(0.0, description="Handset antenna gain.")
    rx_losses_db: float = Field(8.0, ge=0, description="Body and misc. losses (pysim5g: 4 + 4 dB).")
    rx_height_m: float = Field(1.5, ge=0.5, le=10, description="Handset height (ITM: ≥ 0.5 m).")
    resource_blocks: int = Field(
        50, ge=6, le=273, description="LTE resource blocks of the carrier (50 = 10 MHz)."
    )
    min_rsrp_dbm: float = Field(
        -110.0, description="RSRP needed for service (Chinese drive tests: weak at -110 dBm)."
    )
    fade_margin_db: float = Field(
        5.0, ge=0, description="Shadowing margin for location reliability."
    )
    new_site_height_m: float = Field(30.0, ge=0.5, le=150, description="Mast height of a new site.")
    candidate_spacing_m: float = Field(
        5_000.0, gt=0, description="New candidate sites are at least this far apart."
    )
    peak_window_m: float = Field(
        1_000.0,
        gt=0,
        description="A candidate high point is the highest DEM cell in a square "
        "of this side around it.",
    )
    candidate_search_m: float = Field(
        3_000.0,
        gt=0,
        description="High points within this distance of an uncovered village "
        "are candidate spots for it.",
    )
    max_candidates: int = Field(5_000, ge=0, description="Cap on generated candidate sites.")
    coverage_raster_cell_m: float = Field(
        500.0,
        gt=0,
        description="Cell of the best-signal raster drawn for a plan (coarsened to "
        "at most 400 × 400 cells).",
    )
    workers: int = Field(
        0, ge=0, description="Processes evaluating link chunks (0: all cores; large runs only)."
    )
    microwave_max_hop_m: float = Field(
        15_000.0,
        gt=0,
        description="Longest microwave backhaul hop (e3nb: 15 km clear LOS in high rain zones).",
    )
    microwave_freq_ghz: float = Field(
        15.0, gt=0, le=100, description="Microwave backhaul band (e3nb: 15 GHz below 20 km)."
    )
    fresnel_clearance: float = Field(
        0.6, ge=0, le=2, description="Share of the first Fresnel zone a hop must keep clear."
    )
    k_factor: float = Field(
        4.0 / 3.0, gt=0, description="Effective earth-radius factor for hop clearance."
    )
    fibre_point_mast_m: float = Field(
        15.0, ge=0.5, le=150, description="Antenna height of a hop's far end at a fibre point."
    )
    existing_4g_fibre_fed: bool = Field(
        True, description="Existing 4G/5G sites have fibre-grade backhaul a hop may join."
    )
    fibre_backhaul_max_m: float = Field(
        50_000.0, gt=0, description="Longest fibre backhaul route to the network (ITU CPP: 50 km)."
    )
    satellite_backhaul_mbps: float = Field(
        150.0, gt=0, description="Capacity of a satellite-backhauled site (Giga 'actual': 150)."
    )

    @model_validator(mode="after")
    def _model_range(self) -> RadioEngineering:
        if self.propagation == "hata" and not 150 <= self.freq_mhz <= 1500:
            raise ValueError(
                f"freq_mhz = {self.freq_mhz} is outside Okumura-Hata's 150-1500 MHz; "
                "use propagation 'itm' (20-20,000 MHz)"
            )
        return self


class SatelliteEngineering(Section):
    """Satellite beams tiling the region."""

    beam_size_m: float = Field(
        20_000.0,
        gt=0,
        description="Side of a square beam cell (Starlink cell ~379 km², PARAMETERS.md §C).",
    )


class Engineering(Section):
    """Physics computed once per region."""

    fibre: FibreEngineering = FibreEngineering()
    radio: RadioEngineering = RadioEngineering()
    satellite: SatelliteEngineering = SatelliteEngineering()


class FibreCosts(Section):
    """Fibre-to-the-village costs (PARAMETERS.md §A)."""

    trench_usd_per_km: float = Field(
        12_000,
        ge=0,
        description="Buried trench and cable per route-km on gentle ground off road; x road_factor "
        "(0.7) gives ~8,400 along roads, near the 8,000 rural default of PARAMETERS.md §0.",
    )
    village_equipment_usd: float = Field(
        5_000, ge=0, description="Splice, cabinet and OLT share per village."
    )
    drop_usd_per_subscriber: float = Field(
        300, ge=0, description="Drop, ONT and install per subscriber."
    )
    opex_usd_per_km_per_year: float = Field(100, ge=0, description="Route maintenance (Giga: 100).")
    equipment_opex_share_per_year: float = Field(
        0.05,
        ge=0,
        le=1,
        description="Equipment maintenance as a share of its capex (ITU CPP: 5 %).",
    )
    equipment_life_years: int = Field(
        10, ge=1, description="Village equipment and drops are replaced after this (ITU CPP: 10)."
    )
    cable_life_years: int = Field(30, ge=1, description="Trench and cable life (glassfibre: 30).")


class CellularCosts(Section):
    """Cellular site costs (PARAMETERS.md §B)."""

    site_equipment_usd: float = Field(
        25_000,
        ge=0,
        description="RAN, router and installation: the whole cost of upgrading a 2G/3G site to 4G "
        "(pytal upgrade_to_4g ≈ 23,000).",
    )
    site_civil_usd: float = Field(
        45_000,
        ge=0,
        description="Tower, civil works and power a new site adds (greenfield 70,000 in all).",
    )
    backhaul_usd: float = Field(
        25_000, ge=0, description="Microwave backhaul hop, fixed part (pytal: 30,000 < 15 km)."
    )
    microwave_usd_per_km: float = Field(
        700, ge=0, description="Microwave hop cost per km of hop (pytal: 40,000 at 15-30 km)."
    )
    satellite_backhaul_usd: float = Field(
        5_000, ge=0, description="Satellite backhaul terminal and install (Giga 'actual': 4,200)."
    )
    satellite_backhaul_usd_per_year: float = Field(
        9_000,
        ge=0,
        description="Satellite backhaul service (assumption: three times Giga 'actual' 3,000 "
        "for a 150 Mbps school link, for a site's busy-hour load).",
    )
    site_opex_share_per_year: float = Field(
        0.10, ge=0, le=1, description="Site opex as share of capex (pytal, pobis: 10 %)."
    )
    site_rent_usd_per_year: float = Field(2_000, ge=0, description="Site rental.")
    equipment_life_years: int = Field(
        10, ge=1, description="RAN and backhaul equipment life before replacement."
    )
    civil_life_years: int = Field(20, ge=1, description="Tower and civil works life.")


class SatelliteCosts(Section):
    """Satellite terminal costs (PARAMETERS.md §C)."""

    terminal_usd: float = Field(500, ge=0, description="User terminal (Starlink kit 349-599 USD).")
    install_usd: float = Field(200, ge=0, description="Installation per terminal.")
    capacity_usd_per_mbps_per_year: float = Field(
        6.4, ge=0, description="Capacity fee per busy-hour Mbps (ITU CPP: 6.4)."
    )
    maintenance_share_per_year: float = Field(
        0.10, ge=0, le=1, description="Terminal upkeep share."
    )
    terminal_life_years: int = Field(
        5, ge=1, description="Terminal life (ITU CPP: 5-year reinvestment)."
    )


class ConsolidationCosts(Section):
    """Centralised placement: moving a dispersed settlement's households into a served host."""

    usd_per_household: float = Field(
        20_000,
        ge=0,
        description="Public cost per household consolidated (assumption: the access share of a "
        "relocation programme; no sourced figure, PARAMETERS.md §G).",
    )


class Costs(Section):
    """Unit costs and the appraisal horizon (USD, 2020-2023 prices)."""

    fibre: FibreCosts = FibreCosts()
    cellular: CellularCosts = CellularCosts()
    satellite: SatelliteCosts = SatelliteCosts()
    consolidation: ConsolidationCosts = ConsolidationCosts()
    discount_rate: float = Field(
        0.08, gt=-1, le=0.5, description="Real discount rate per year (China social rate 8 %)."
    )
    horizon_years: int = Field(
        10,
        ge=1,
        le=50,
        description="Years of opex and replacements counted in the net present cost.",
    )


class PerOption(Section):
    """One value per access option."""

    fibre: float = Field(description="Value for fibre.")
    cellular: float = Field(description="Value for cellular.")
    satellite: float = Field(description="Value for satellite.")

    def as_array(self) -> list[float]:
        """Values in option order (fibre, cellular, satellite)."""
        return [self.fibre, self.cellular, self.satellite]


class SpeedTier(Section):
    """A named service level: delivered busy-hour speed at or above ``min_mbps``."""

    name: str = Field(description="Tier name used by targets and reports.")
    min_mbps: float = Field(ge=0, description="Lowest delivered speed in the tier.")
    weight: float = Field(1.0, ge=0, description="Benefit per person served in this tier.")


class Demand(Section):
    """Who subscribes, what they pay and what speed each option delivers."""

    take_up: PerOption = Field(
        PerOption(fibre=0.5, cellular=0.7, satellite=0.5),
        description="Share of households subscribing where the price is affordable (0-1).",
    )
    arpu_usd_per_month: PerOption = Field(
        PerOption(fibre=6.0, cellular=7.0, satellite=100.0),
        description="Price paid per subscriber (China Mobile 2023: household ARPU 43.1 RMB, "
        "mobile 49.3 RMB; Starlink residential 90-120 USD).",
    )
    affordability_share_of_income: float = Field(
        0.02,
        gt=0,
        le=1,
        description="Price above this share of household income is unaffordable "
        "(Broadband Commission target: 2 %).",
    )
    unaffordable_take_up_factor: float = Field(
        0.2,
        ge=0,
        le=1,
        description="Take-up multiplier where the price is unaffordable (assumption).",
    )
    busy_hour_mbps_per_subscriber: float = Field(
        2.0, gt=0, description="Busy-hour demand per subscriber (ITU CPP: 2 Mbps per user)."
    )
    active_share: float = Field(
        0.05, gt=0, le=1, description="Subscribers active in the busy hour (overbooking 1:20)."
    )
    fibre_speed_mbps: float = Field(300.0, gt=0, description="Speed fibre delivers per subscriber.")
    site_capacity_mbps: float = Field(
        200.0,
        gt=0,
        description="Cellular site throughput: 3 sectors × 3 carriers × ~22 Mbps per 10 MHz 2×2 "
        "(PARAMETERS.md §B3; DICE baseline two or three carriers).",
    )
    enforce_site_capacity: bool = Field(
        False,
        description="Assign every village relying on a new or upgraded cellular site to one "
        "built site covering it, and keep each site's busy-hour demand (subscribers × "
        "active_share × busy_hour_mbps_per_subscriber) within site_capacity_mbps. Villages "
        "under existing 4G need no assignment.",
    )
    cellular_peak_mbps: float = Field(50.0, gt=0, description="Cap on cellular speed per user.")
    satellite_speed_mbps: float = Field(
        25.0,
        gt=0,
        description="LEO busy-hour speed per user at low density (Osoro & Oughton 2021).",
    )
    beam_capacity_mbps: float = Field(
        1_200.0, gt=0, description="Capacity of one satellite beam (~1.2 Gbps, PARAMETERS.md §C)."
    )
    tiers: list[SpeedTier] = Field(
        [
            SpeedTier(name="basic", min_mbps=4.0),
            SpeedTier(name="standard", min_mbps=12.0),
            SpeedTier(name="fast", min_mbps=100.0),
        ],
        min_length=1,
        description="Speed tiers (Broadband China: 4 Mbps rural access by 2015, 12 by 2020); a "
        "village whose speed is below the lowest tier does not count as served.",
    )

    @model_validator(mode="after")
    def _ranges(self) -> Demand:
        if not all(0 <= v <= 1 for v in self.take_up.as_array()):
            raise ValueError("take_up must be within [0, 1] for every option")
        if min(self.arpu_usd_per_month.as_array()) < 0:
            raise ValueError("arpu_usd_per_month must be ≥ 0")
        thresholds = [tier.min_mbps for tier in self.tiers]
        if thresholds != sorted(thresholds) or len({t.name for t in self.tiers}) != len(self.tiers):
            raise ValueError("tiers must have unique names and ascending min_mbps")
        return self


class Subsidy(Section):
    """How public money pays: the universal-service mechanism and its parameters."""

    mechanism: Literal[
        "public_build", "gap_funding", "capex_share", "benchmark_cap", "satellite_voucher"
    ] = Field(
        "public_build",
        description="public_build: the budget pays all; gap_funding: the viability gap "
        "max(0, cost − revenue); capex_share: a share of capex plus some years of opex by area "
        "class; benchmark_cap: FCC A-CAM support per location; satellite_voucher: a terminal "
        "voucher per satellite subscriber (other options publicly built).",
    )
    capex_share: dict[RegionClass, float] = Field(
        default_factory=lambda: {"remote": 0.3, "border": 0.3, "pastoral": 0.3, "island": 0.3},  # type: ignore[arg-type]
        description="capex_share: public share per area class (China 4G pilots: 30 %); others 0.",
    )
    opex_years: dict[RegionClass, int] = Field(
        default_factory=lambda: {"remote": 6, "pastoral": 6, "border": 10, "island": 10},  # type: ignore[arg-type]
        description="capex_share: years of opex the share also covers (6 remote, 10 border).",
    )
    benchmark_usd_per_month: float = Field(
        52.5, ge=0, description="benchmark_cap: cost per location the operator bears (A-CAM 52.50)."
    )
    cap_usd_per_month: float = Field(
        200.0, ge=0, description="benchmark_cap: most support per location per month (A-CAM 200)."
    )
    voucher_usd: float = Field(
        500.0, ge=0, description="satellite_voucher: public voucher per satellite terminal."
    )

    @model_validator(mode="after")
    def _shares(self) -> Subsidy:
        if not all(0 <= v <= 1 for v in self.capex_share.values()):
            raise ValueError("capex_share values must be within [0, 1]")
        if any(v < 0 for v in self.opex_years.values()):
            raise ValueError("opex_years must be ≥ 0")
        return self


class Target(Section):
    """A coverage target: a share of the population served at a speed tier or better."""

    name: str = Field(description="Shown when the target fails.")
    tier: str = Field(description="Lowest speed tier that counts (a name from demand.tiers).")
    share: float = Field(ge=0, le=1, description="Share of the population to reach.")
    region_class: RegionClass | None = Field(
        None, description="Only this area class (default: all)."
    )


class Consolidation(Section):
    """Centralised placement of dispersed settlements in harsh terrain."""

    enabled: bool = Field(False, description="Offer consolidation as a fourth option.")
    min_dispersion: float = Field(
        0.6, ge=0, le=1, description="Villages at least this dispersed may be consolidated."
    )
    max_distance_m: float = Field(
        10_000.0, gt=0, description="Host village (larger, nearest) must be within this distance."
    )
    classes: list[RegionClass] = Field(
        ["remote", "pastoral", "border"], description="Area classes where consolidation may apply."
    )


class ClassRules(Section):
    """Area class from remoteness and terrain, for villages whose data gives none."""

    enabled: bool = Field(
        False, description="Classify by these rules instead of using default_region_class."
    )
    developed_within_m: float = Field(
        6_000.0, ge=0, description="'developed': this close to the fibre network, on gentle ground."
    )
    gentle_slope_deg: float = Field(10.0, ge=0, description="Steepest ground counted as gentle.")
    remote_beyond_m: float = Field(
        18_000.0, ge=0, description="'remote': farther than this from the fibre network ..."
    )
    harsh_slope_deg: float = Field(15.0, ge=0, description="... or on ground at least this steep.")


class Policy(Section):
    """Which option each area class may use, who pays, and the goal."""

    mode: Literal["max_coverage", "min_cost"] = Field(
        "max_coverage",
        description="max_coverage: most benefit within the budget; min_cost: least public cost "
        "meeting the targets.",
    )
    budget_usd: float = Field(5_000_000, ge=0, description="Public money available (max_coverage).")
    targets: list[Target] = Field(
        default_factory=list, description="Coverage targets (min_cost mode needs at least one)."
    )
    subsidy: Subsidy = Subsidy()
    default_region_class: RegionClass = Field(
        "central", description="Class of villages whose data gives none (and the rules leave)."
    )
    class_rules: ClassRules = ClassRules()
    eligible: dict[RegionClass, list[OptionName]] = Field(
        default_factory=dict,
        description="Eligible options per area class, overriding the task-9 defaults of DESIGN.md.",
    )
    consolidation: Consolidation = Consolidation()
    affordability_constraint: bool = Field(
        False, description="Forbid options whose price is unaffordable to the village."
    )

    @model_validator(mode="after")
    def _goal(self) -> Policy:
        if self.mode == "min_cost" and not self.targets:
            raise ValueError("mode 'min_cost' needs at least one target")
        return self


class Optimizer(Section):
    """How the plan is optimized."""

    method: Literal["milp", "frontier", "decompose"] = Field(
        "milp",
        description="'milp': LP-guided exact MILP; 'frontier': the budget-frontier machinery "
        "(LP anchors and greedy fills, proven bounds); 'decompose': Lagrangian decomposition "
        "over independent blocks in local processes (large regions). The last two need "
        "max_coverage.",
    )
    solver: Literal["highs", "cbc"] = Field(
        "highs", description="'highs' through highspy, 'cbc' through PuLP."
    )
    time_limit_s: float = Field(120.0, gt=0, description="Wall-clock limit for the solver.")
    mip_gap: float = Field(1e-4, ge=0, le=1, description="Relative gap at which to stop.")


class Outputs(Section):
    """What is written, and where."""

    directory: Path = Field(
        Path("out"), description="Output folder; relative to the scenario file."
    )
    map: bool = Field(True, description="Draw map.png.")


class Scenario(Section):
    """A whole planning scenario."""

    name: str = Field("scenario", min_length=1, description="Short name shown in outputs.")
    description: str = Field("", description="Free text.")
    region: RegionSource
    engineering: Engineering = Engineering()
    costs: Costs = Costs()
    demand: Demand = Demand()
    policy: Policy = Policy()
    optimizer: Optimizer = Optimizer()
    outputs: Outputs = Outputs()
    sweep: Sweep | None = Field(None, description="Parameter sweep (coverageplan sweep).")
    overrides: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Named partial scenarios, applied in order with --override NAME.",
    )

    @model_validator(mode="after")
    def _targets_name_tiers(self) -> Scenario:
        tiers = [tier.name for tier in self.demand.tiers]
        for target in self.policy.targets:
            if target.tier not in tiers:
                raise ValueError(
                    f"policy.targets: target {target.name!r} names unknown tier {target.tier!r} "
                    f"(demand.tiers: {', '.join(tiers)})"
                )
        if self.optimizer.method != "milp" and self.policy.mode != "max_coverage":
            raise ValueError(
                f"optimizer.method: {self.optimizer.method!r} prices the budget and needs "
                f"policy.mode 'max_coverage' (got {self.policy.mode!r}); use 'milp'"
            )
        return self

    @model_validator(mode="after")
    def _sweep_fits(self) -> Scenario:
        sweep = self.sweep
        if sweep is None:
            return self
        if self.policy.mode == "min_cost" and (sweep.method != "milp" or sweep.budgets):
            raise ValueError(
                "sweep: policy.mode 'min_cost' has no budget: use method 'milp' and no budgets"
            )
        base = self.model_dump(exclude={"sweep"})
        for where, key, values in sweep.spot_values():
            for index, value in enumerate(values):
                try:
                    point = Scenario.model_validate(with_values(base, {key: value}))
                except ValidationError as error:
                    detail = "; ".join(
                        f"{'.'.join(map(str, item['loc'])) or key}: {item['msg']}"
                        for item in error.errors()
                    )
                    raise ValueError(f"{where}[{index}] = {value!r} is invalid: {detail}") from None
                read = value_at(point.model_dump(), key)
                if read != value:  # e.g. YAML reads 5e6 as text; the field took it as 5000000.0
                    raise ValueError(
                        f"{where}[{index}] = {value!r} is read as {read!r}: give the value in the "
                        "field's own type (numbers as 5.0e+6 or 5_000_000)"
                    )
        return self


def deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Return ``base`` with ``update`` merged in, recursing into nested mappings."""
    merged = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _format_errors(source: str, error: ValidationError) -> str:
    lines = [f"{source}: invalid scenario ({error.error_count()} problem(s))"]
    for item in error.errors():
        path = ".".join(str(part) for part in item["loc"]) or "<top level>"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown key (check its spelling against the schema)"
        given = item.get("input")
        shown = "" if item["type"] == "missing" or isinstance(given, dict) else f" (got {given!r})"
        lines.append(f"  {path}: {message}{shown}")
    return "\n".join(lines)


def scenario_from_dict(
    data: dict[str, Any], *, source: str = "<scenario>", overrides: list[str] | tuple[str, ...] = ()
) -> Scenario:
    """Validate a scenario mapping, applying the named overrides in order."""
    if not isinstance(data, dict):
        raise InputError(f"{source}: expected a mapping of scenario keys at the top level")
    named = data.get("overrides") or {}
    for name in overrides:
        if not isinstance(named, dict) or name not in named:
            known = ", ".join(sorted(named)) if isinstance(named, dict) and named else "none"
            raise InputError(f"{source}: no override named {name!r} (known: {known})")
        data = deep_merge(data, named[name])
    try:
        return Scenario.model_validate(data)
    except ValidationError as error:
        raise InputError(_format_errors(source, error)) from None


def resolve_paths(scenario: Scenario, base_dir: Path) -> Scenario:
    """Make the scenario's relative paths relative to ``base_dir`` (the file's folder)."""
    region = scenario.region
    if region.path is not None and not region.path.is_absolute():
        region = region.model_copy(update={"path": (base_dir / region.path).resolve()})
    if region.files is not None:
        region = region.model_copy(update={"files": region.files.resolved(base_dir)})
    outputs = scenario.outputs
    if not outputs.directory.is_absolute():
        outputs = outputs.model_copy(update={"directory": (base_dir / outputs.directory).resolve()})
    sweep = scenario.sweep
    if sweep is not None:

        def path(value: Path) -> Path:
            return value if value.is_absolute() else (base_dir / value).resolve()

        directory = None if sweep.directory is None else path(sweep.directory)
        sweep = sweep.model_copy(
            update={"directory": directory, "cache_dir": path(sweep.cache_dir)}
        )
    return scenario.model_copy(update={"region": region, "outputs": outputs, "sweep": sweep})


def load_scenario(path: Path | str, *, overrides: list[str] | tuple[str, ...] = ()) -> Scenario:
    """Read and validate a YAML scenario file; relative paths are taken from its folder."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise InputError(f"{path}: cannot read scenario file ({error.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise InputError(f"{path}: not valid YAML{where}: {error}") from None
    scenario = scenario_from_dict(data, source=str(path), overrides=overrides)
    return resolve_paths(scenario, path.parent.resolve())
