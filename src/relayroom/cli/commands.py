"""Registers every sub-command module on the root Typer app."""
