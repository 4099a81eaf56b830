"""Subcommands, one module each, imported by attnlock.cli after parsing."""
