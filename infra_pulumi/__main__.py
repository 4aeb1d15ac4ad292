"""Pulumi entry point: provision the baseline fleet for this stack."""

from baseline import deploy, read_settings

deploy(read_settings())
