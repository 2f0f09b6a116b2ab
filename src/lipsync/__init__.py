"""Lipsync: make a face in a video or photo speak a given speech track."""

__version__ = "0.1.0"
