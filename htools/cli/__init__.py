"""Command-line layer of htools-py (option parsing and program entry points)."""
