"""一村一警一连: every village has a police officer (and the post they work from) and a militia
company (with its commander and strength).

- :mod:`gis.coverage.table` — the per-village table, flags and status per township (pure);
- :mod:`gis.coverage.county` — the table for a county from the store;
- :mod:`gis.coverage.assignments` — import of assignments from a CSV, with clear errors.

Every public name is importable from :mod:`gis.coverage` itself.
"""

from gis.coverage.assignments import (
    COLUMNS,
    ImportSummary,
    import_assignments,
    infer_adcode,
    rejects_path_for,
)
from gis.coverage.county import CountyCoverage, coverage_for_county, read_assignments
from gis.coverage.table import (
    NAME_SEP,
    PROBLEMS,
    SEP,
    far_flag,
    force_coverage,
    officer_load,
    township_summary,
)

__all__ = ["COLUMNS", "NAME_SEP", "PROBLEMS", "SEP", "CountyCoverage", "ImportSummary",
           "coverage_for_county", "far_flag", "force_coverage", "import_assignments",
           "infer_adcode", "officer_load", "read_assignments", "rejects_path_for",
           "township_summary"]
