"""Sample-data generator: real text from Debian/PyPI packages plus labelled dirt (see README.md)."""
