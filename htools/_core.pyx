# cython: language_level=3
"""Compiled scoring core of htools-py."""


def core_version():
    return 1
