"""The version of merbench (read by provenance, pages and plugin scaffolds)."""

__version__ = "0.1.0"
