"""Defaults of the Slurm executor that the command line shows in ``--help`` (this module imports nothing heavy)."""

# Cells per job array at most. Slurm's own default MaxArraySize is 1001 (array indices 0..1000), and a site
# may set it lower: pending cells beyond this are split into several arrays (``--max-array-size``).
DEFAULT_MAX_ARRAY_SIZE = 1000
