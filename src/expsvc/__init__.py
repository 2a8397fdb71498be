"""Experiment Service: the single source of truth for Experiments, Runs and CaptureSessions."""

# The package version, read by the build (pyproject.toml) and at run time: X.Y.Z once a release
# is cut, X.Y.Z.devN while the code heads for X.Y.Z (src/expsvc/release/releases.toml,
# docs/adr/0017).
__version__ = "0.3.0.dev0"
