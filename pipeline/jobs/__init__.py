"""Unattended jobs built from the library's steps: the nightly run (``nightly.py``)."""
