"""Experiment Service: the single source of truth for Experiments, Runs and CaptureSessions."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("expsvc")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
