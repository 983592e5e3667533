"""Data files shipped with the package (CLDR Windows zone names ...)."""
