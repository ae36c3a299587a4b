"""Typed configuration: pydantic models per stage and the preset/override loader."""
